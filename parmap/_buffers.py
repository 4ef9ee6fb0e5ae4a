"""Large buffers out of band: pickle protocol 5 buffers travel through shared-memory files.

A numpy array or a large ``bytes``-like buffer inside a chunk of items (or of
results) would otherwise be copied into the pickle, through the pipe, out of
the pipe and into a new array. With protocol 5, the pickler hands such
buffers to a callback instead: buffers of :data:`THRESHOLD` bytes or more are
written to a file in ``/dev/shm`` (memory, not disk), and the receiver reads
each straight into a ``bytearray`` that the unpickled array then uses without
another copy, and removes the file at once.

Files are named ``parmap-<caller pid>-<token>`` so that whatever an
interrupted run leaves behind is swept by the caller (or by a worker whose
caller died). Where ``/dev/shm`` does not exist, everything goes in band.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pickle
import struct
from typing import Final

#: Buffers smaller than this stay inside the pickle (a pipe is fine for them).
THRESHOLD: Final = 1 << 20
_SHM: Final = "/dev/shm"
_ENTRY = struct.Struct("<Hq")  # name length, size


def shared_directory() -> str | None:
    """The directory for out-of-band buffers, or None where there is none."""
    if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK | os.X_OK):
        return _SHM
    return None


class Spill:
    """The buffer callback of one pickling: writes large buffers to shared-memory files.

    Args:
        directory: where the files go (see :func:`shared_directory`).
        owner: the caller's pid, which names the files for sweeping.
    """

    def __init__(self, directory: str, owner: int) -> None:
        self._directory = directory
        self._owner = owner
        self.files: list[tuple[str, int]] = []

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        """Keep a small buffer in band (True); write a large one out (False)."""
        try:
            view = buffer.raw()
        except BufferError:  # not contiguous: let the pickler copy it in band
            return True
        if view.nbytes < THRESHOLD:
            return True
        name = f"parmap-{self._owner}-{os.urandom(8).hex()}"
        path = os.path.join(self._directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            self.files.append((name, view.nbytes))
            written = 0
            while written < view.nbytes:
                written += os.write(fd, view[written:])
        finally:
            os.close(fd)
        return False

    def header(self) -> bytes:
        """Describe the files written, for :func:`read` on the other side."""
        parts = [struct.pack("<H", len(self.files))]
        for name, size in self.files:
            encoded = name.encode()
            parts.append(_ENTRY.pack(len(encoded), size) + encoded)
        return b"".join(parts)

    def discard(self) -> None:
        """Remove the files written (the pickling failed or was not sent)."""
        for name, _ in self.files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self._directory, name))
        self.files.clear()


def read(data: memoryview, /) -> tuple[list[bytearray], memoryview]:
    """Read the buffers a :meth:`Spill.header` describes; returns them and the rest of ``data``.

    Each file is removed as soon as it is read.
    """
    directory = shared_directory() or _SHM
    (count,) = struct.unpack_from("<H", data)
    offset = 2
    buffers: list[bytearray] = []
    for _ in range(count):
        length, size = _ENTRY.unpack_from(data, offset)
        offset += _ENTRY.size
        name = bytes(data[offset : offset + length]).decode()
        offset += length
        path = os.path.join(directory, name)
        buffer = bytearray(size)
        fd = os.open(path, os.O_RDONLY)
        try:
            view = memoryview(buffer)
            done = 0
            while done < size:
                got = os.readv(fd, [view[done:]])
                if got == 0:
                    raise EOFError(f"shared buffer {path} is shorter than {size} bytes")
                done += got
        finally:
            os.close(fd)
            os.unlink(path)
        buffers.append(buffer)
    return buffers, data[offset:]


def sweep(owner: int, /) -> None:
    """Remove the buffer files of the run of caller ``owner`` that nobody read."""
    directory = shared_directory()
    if directory is None:
        return
    for path in glob.glob(os.path.join(directory, f"parmap-{owner}-*")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
