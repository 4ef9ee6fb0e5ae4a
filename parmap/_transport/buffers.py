"""Large buffers out of band: pickle protocol 5 buffers travel through shared-memory files.

A numpy array or a large ``bytes``-like buffer inside a chunk of items (or of
results) would otherwise be copied into the pickle, through the pipe, out of
the pipe and into a new array. With protocol 5, the pickler hands such
buffers to a callback instead: buffers of :data:`THRESHOLD` bytes or more are
written to a file in ``/dev/shm`` (memory, not disk), and the receiver reads
each straight into a ``bytearray`` that the unpickled array then uses without
another copy, and removes the file at once.

Files are named ``parmap-<caller pid>-<run token>-<random>``: whatever an
interrupted run leaves behind is swept by that run alone (never another run
of the same process, which may still be reading its own), by a worker whose
caller died, or by the first pool any later caller starts, once the caller
pid they name is gone. Where ``/dev/shm`` does not exist, everything goes in
band.
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
#: Characters of a run token (bytes of the task header that carries it).
TOKEN_SIZE: Final = 8


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
        token: the run's token (see :func:`new_token`), which names them too.
    """

    def __init__(self, directory: str, owner: int, token: str) -> None:
        self._directory = directory
        self._prefix = f"parmap-{owner}-{token}-"
        self.files: list[tuple[str, int]] = []

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        """Keep a small buffer in band (True); write a large one out (False)."""
        try:
            view = buffer.raw()
        except BufferError:  # not contiguous: let the pickler copy it in band
            return True
        if view.nbytes < THRESHOLD:
            return True
        name = f"{self._prefix}{os.urandom(8).hex()}"
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


def new_token() -> str:
    """A token naming one run's buffer files (eight hex digits)."""
    return os.urandom(TOKEN_SIZE // 2).hex()


def sweep(owner: int, /, token: str | None = None) -> None:
    """Remove the unread buffer files of caller ``owner``: one run's, or all its runs'."""
    directory = shared_directory()
    if directory is None:
        return
    pattern = f"parmap-{owner}-{token or '*'}-*"
    for path in glob.glob(os.path.join(directory, pattern)):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def sweep_orphans() -> None:
    """Remove the buffer files of callers that no longer run (killed with their workers)."""
    directory = shared_directory()
    if directory is None:
        return
    owners: set[int] = set()
    for path in glob.glob(os.path.join(directory, "parmap-*-*")):
        named = os.path.basename(path).split("-")[1]
        if named.isdigit():
            owners.add(int(named))
    for owner in owners:
        if owner != os.getpid() and _gone(owner):
            sweep(owner)
