"""The files of a cache directory, treated as untrusted: no links, regular files only, private.

Whoever can write to a cache directory (a shared ``/tmp/cache``, a copied archive) can plant
anything in it. parmap therefore never follows a symbolic link there, uses only regular files
with a single name, creates what it writes with mode 0600 (the directory 0700) whatever the
umask, and moves a database it cannot trust aside instead of writing into it.

SQLite opens the database by name, after the checks here: a writer to the directory racing
those few microseconds could still swap a file in between. :func:`same_file` compares the
file found before opening with the one found after, to notice that too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pathlib
import stat
import time
from collections.abc import Iterator

__all__ = [
    "COMPANIONS",
    "CacheRefusedError",
    "check_file",
    "check_files",
    "create_private_file",
    "directory_lock",
    "kind_of",
    "make_private_directory",
    "move_aside",
    "same_file",
    "writable",
]

COMPANIONS = ("-wal", "-shm")  # SQLite's write-ahead log and its index, beside the database
_LOCK_POLL = 0.01


class CacheRefusedError(OSError):
    """A file in a cache directory that parmap must not use; the message says what to do.

    Attributes:
        kind: ``"link"``, ``"special"`` (not a regular file), ``"linked"`` (more than one
            name), ``"foreign"`` (another program's database), ``"altered"`` (a parmap cache
            whose schema was changed), ``"version"`` (another schema
            version), ``"damaged"`` or ``"emptied"``.
        path: the file concerned.
        reason: what is wrong with it, in a few words.
    """

    def __init__(self, message: str, /, *, kind: str, path: pathlib.Path, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path
        self.reason = reason or message

    def __str__(self) -> str:
        return str(self.args[0])


def kind_of(mode: int, /) -> str:
    """Name the kind of a file that is not regular (from its ``st_mode``)."""
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def check_file(path: pathlib.Path, /) -> os.stat_result | None:
    """Return the status of ``path`` (``None`` if absent) after refusing links and special files.

    Raises:
        CacheRefusedError: ``path`` is a symbolic link, not a regular file, or has other names.
    """
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(found.st_mode):
        target = os.readlink(path)
        msg = (
            f"{path} is a symbolic link (to {target}); parmap never follows links inside a cache "
            "directory, so that nothing outside it is read or overwritten: remove the link"
        )
        raise CacheRefusedError(msg, kind="link", path=path)
    if not stat.S_ISREG(found.st_mode):
        msg = (
            f"{path} is a {kind_of(found.st_mode)}, not a regular file; parmap uses only "
            "regular files in a cache directory: remove it"
        )
        raise CacheRefusedError(msg, kind="special", path=path)
    if found.st_nlink > 1:
        msg = (
            f"{path} has {found.st_nlink} names (hard links): writing to it would change a file "
            "elsewhere too, so parmap leaves it alone: remove this name"
        )
        raise CacheRefusedError(msg, kind="linked", path=path)
    return found


def check_files(database: pathlib.Path, /) -> os.stat_result | None:
    """Check the database and its companions (see :func:`check_file`); return the database's."""
    for suffix in COMPANIONS:
        check_file(database.with_name(database.name + suffix))
    return check_file(database)


def same_file(path: pathlib.Path, found: os.stat_result, /) -> bool:
    """True when ``path`` is still the regular file ``found`` describes (not swapped)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (found.st_dev, found.st_ino)


def make_private_directory(directory: pathlib.Path, /) -> None:
    """Create ``directory`` (and missing parents) if needed; the cache directory itself 0700.

    An existing directory keeps its mode: sharing it is the owner's choice.
    """
    if directory.is_dir():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        return  # another run made it first, or it is not a directory (opening will say)
    # mkdir's mode is filtered by the umask, which may also remove the owner's bits.
    os.chmod(directory, 0o700)


def writable(directory: pathlib.Path, database: pathlib.Path, /) -> bool:
    """True when this process may write both the directory and (if it exists) the database."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    return not database.exists() or os.access(database, os.W_OK)


@contextlib.contextmanager
def directory_lock(directory: pathlib.Path, /, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` itself (no lock file is left behind).

    Serialises creating and moving aside the database between runs. Waits at most
    ``timeout`` seconds: a process holding the lock for longer is not waited for.

    Raises:
        OSError: the lock was not obtained in time.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = f"another process has held a lock on {directory} for over {timeout:g} s"
                    raise OSError(errno.EWOULDBLOCK, msg) from None
                time.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(fd)


def move_aside(database: pathlib.Path, /, *, label: str) -> pathlib.Path:
    """Rename the database and its companions to ``<name>.<label>-<time>-<pid>``; return it.

    ``rename`` moves the directory entry itself, so a planted link is moved, never followed.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = database.with_name(f"{database.name}.{label}-{stamp}-{os.getpid()}")
    os.replace(database, aside)
    for suffix in COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.replace(
                database.with_name(database.name + suffix), aside.with_name(aside.name + suffix)
            )
    return aside


def create_private_file(path: pathlib.Path, /) -> int:
    """Create ``path`` exclusively with mode 0600 whatever the umask; return its descriptor."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd
