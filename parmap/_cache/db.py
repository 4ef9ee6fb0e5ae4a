"""Opening a cache database as untrusted input: checks before any query, guarded connections.

Before a query touches the database, the file and its companions are checked (regular files,
no links: :mod:`parmap._cache.files`) and ``sqlite_master`` is compared with parmap's own DDL
(:mod:`parmap._cache.schema`). Every connection runs with ``trusted_schema=OFF`` and a
:class:`Deadline` (a progress handler that stops any statement running past it), and waits at
most :data:`BUSY_TIMEOUT` for another process's lock.

What a run does with a database it cannot use: one that is damaged (``SQLITE_CORRUPT``, not a
database), altered (parmap's schema with objects added, removed or redefined) or emptied (0
bytes, which parmap never leaves: see :mod:`parmap._cache.schema`) is moved aside with a
:class:`~parmap.errors.CacheWarning` and a new one takes its place. Another program's database
(nothing in it is parmap's), a link or special file, or a parmap cache of another schema
version, is left alone and the run goes on without the cache. In a directory this process
cannot write, the database is opened read-only (``immutable`` when SQLite cannot even share its
lock index there): hits are served, nothing is stored.

The admin commands (``info``, ``verify``, ``prune``, ``clear``) never move, create or convert
anything except on ``clear``: they raise :class:`~parmap._cache.files.CacheRefusedError`, and
check the schema through a read-only connection before any read-write one exists.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sqlite3
import time
import urllib.parse
import warnings
from typing import Literal

from parmap._cache.files import (
    CacheRefusedError,
    check_files,
    directory_lock,
    make_private_directory,
    move_aside,
    same_file,
    writable,
)
from parmap._cache.schema import create_database, schema_problem
from parmap.errors import CacheWarning, caller_stacklevel

__all__ = [
    "BUSY_TIMEOUT",
    "DB_NAME",
    "Deadline",
    "Mode",
    "Opened",
    "error_code",
    "is_corrupt",
    "open_database",
    "refusal",
    "set_aside",
    "warn_aside",
]

DB_NAME = "entries.sqlite"
BUSY_TIMEOUT = 5.0  # seconds a run waits for another process's lock, once (see _cache_store)
RUN_SECONDS = 60.0  # deadline of one cache operation in a run
ADMIN_SECONDS = 600.0  # deadline of one operation of info / verify / prune / clear
_PROGRESS_STEPS = 5000  # virtual machine steps between two looks at the clock
_ATTEMPTS = 4  # a database replaced under us is looked at again, a few times

SQLITE_BUSY, SQLITE_READONLY, SQLITE_INTERRUPT, SQLITE_CORRUPT = 5, 8, 9, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26
_CORRUPT_CODES = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})

Mode = Literal["run", "read", "write"]


def error_code(exc: BaseException, /) -> int:
    """The primary SQLite result code of an exception (0 when it carries none)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_corrupt(exc: BaseException, /) -> bool:
    """True for "database disk image is malformed" and "file is not a database"."""
    return error_code(exc) in _CORRUPT_CODES


class Deadline:
    """A progress handler that makes SQLite stop a statement once ``arm()`` + ``seconds`` pass."""

    __slots__ = ("seconds", "until")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def arm(self) -> None:
        """Start the clock for the next operation."""
        self.until = time.monotonic() + self.seconds

    def __call__(self) -> int:
        return 1 if time.monotonic() > self.until else 0


@dataclasses.dataclass
class Opened:
    """A checked connection and what was checked."""

    db: sqlite3.Connection
    deadline: Deadline
    read_only: bool
    identity: os.stat_result  # the database file found before opening it
    cookie: int  # the schema version counter when the schema was checked


def open_database(path: pathlib.Path, /, *, durable: bool, mode: Mode) -> Opened:
    """Open the cache database at ``path`` for a run (``"run"``) or an admin command.

    A run creates the directory and the database when missing and replaces one it cannot use
    (see the module docstring); the admin modes need an existing parmap cache.

    Raises:
        FileNotFoundError: an admin mode and no database at ``path``.
        CacheRefusedError: a file parmap must not use; the message says what to do.
        OSError, sqlite3.Error: the directory or database cannot be read or written.
    """
    if mode == "run":
        make_private_directory(path.parent)
    for _attempt in range(_ATTEMPTS):
        found = check_files(path)
        if found is None:
            if mode != "run":
                msg = f"no parmap cache in {path.parent} (no {DB_NAME} there)"
                raise FileNotFoundError(msg)
            create_database(path, timeout=BUSY_TIMEOUT)
            continue
        try:
            if found.st_size == 0:
                raise refusal(
                    path, "emptied", "it is empty (0 bytes): it was emptied outside parmap"
                )
            opened = _connect(path, found, mode, durable)
        except CacheRefusedError as exc:
            if mode != "run" or exc.kind not in ("damaged", "altered", "emptied"):
                raise
            if not writable(path.parent, path):
                raise
            warn_aside(path, set_aside(path, found, label=exc.kind), exc.reason)
            continue
        if opened is not None:
            return opened
    msg = f"{path} was replaced {_ATTEMPTS} times while parmap opened it; try again"
    raise OSError(msg)


def set_aside(path: pathlib.Path, found: os.stat_result, /, *, label: str) -> pathlib.Path | None:
    """Move the database described by ``found`` aside; ``None`` if it was already replaced.

    Under the directory lock, and only if ``path`` is still that file: two runs that find it
    bad at once must not move aside the fresh database the first one already made.
    """
    with directory_lock(path.parent, timeout=BUSY_TIMEOUT):
        if not same_file(path, found):
            return None
        return move_aside(path, label=label)


def warn_aside(path: pathlib.Path, aside: pathlib.Path | None, reason: str, /) -> None:
    """Tell the user a database was moved aside (nothing when another run had done it)."""
    if aside is None:
        return
    warnings.warn(
        f"the cache database {path} cannot be used: {reason}\n  it was moved to "
        f"{aside.name} and a new one started: its results will be recomputed",
        CacheWarning,
        stacklevel=caller_stacklevel(),
    )


def refusal(path: pathlib.Path, kind: str, reason: str, /) -> CacheRefusedError:
    """The error for a database that cannot be used: what is wrong, and what to do."""
    advice = {
        "foreign": "parmap changed nothing in it; point DIR at a directory that `cache=` wrote",
        "altered": "parmap changed nothing in it; a run with `cache=` moves it aside",
        "version": "use the parmap version that wrote it, or another directory",
        "damaged": f"parmap changed nothing; `parmap cache clear {path.parent}` moves it aside",
        "emptied": f"parmap changed nothing; `parmap cache clear {path.parent}` moves it aside",
    }[kind]
    label = "is not a parmap cache" if kind in ("foreign", "version") else "cannot be used"
    return CacheRefusedError(
        f"{path} {label}: {reason}; {advice}", kind=kind, path=path, reason=reason
    )


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _uri(path: pathlib.Path, access: str) -> str:
    return f"file:{urllib.parse.quote(str(path))}?{access}"


def _connect(path: pathlib.Path, found: os.stat_result, mode: Mode, durable: bool) -> Opened | None:
    """Connect and check the schema; ``None`` if ``path`` was swapped meanwhile."""
    read_only = mode == "read" or (mode == "run" and not writable(path.parent, path))
    seconds = RUN_SECONDS if mode == "run" else ADMIN_SECONDS
    # An admin command that writes still looks through a read-only connection first, so a
    # database that is not parmap's is never opened for writing at all.
    opened = _checked(path, found, read_only or mode == "write", seconds)
    if opened is None or read_only:
        return opened
    if mode == "write":
        opened.db.close()
        opened = _checked(path, found, False, seconds)
        if opened is None:
            return None
    synchronous = "FULL" if durable else "NORMAL"
    opened.db.execute(f"PRAGMA synchronous={synchronous}")
    return opened


def _checked(
    path: pathlib.Path, found: os.stat_result, read_only: bool, seconds: float
) -> Opened | None:
    for access in ("mode=ro", "mode=ro&immutable=1") if read_only else ("mode=rw",):
        db = sqlite3.connect(
            _uri(path, access),
            uri=True,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
        )
        # Text columns may hold any bytes: decode what is not UTF-8 rather than fail on it.
        db.text_factory = _decode
        deadline = Deadline(seconds)
        db.set_progress_handler(deadline, _PROGRESS_STEPS)
        try:
            db.execute("PRAGMA trusted_schema=OFF")
            problem = schema_problem(db)
            cookie = int(db.execute("PRAGMA schema_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            db.close()
            if is_corrupt(exc):
                raise refusal(path, "damaged", f"it is damaged ({exc})") from exc
            if read_only and error_code(exc) in (SQLITE_READONLY, SQLITE_CANTOPEN):
                continue  # a read-only directory: SQLite cannot share its lock index there
            raise
        if not same_file(path, found):
            db.close()
            return None
        if problem is not None:
            db.close()
            raise refusal(path, *problem)
        return Opened(db, deadline, read_only, found, cookie)
    msg = f"{path} cannot be opened read-only"
    raise OSError(msg)
