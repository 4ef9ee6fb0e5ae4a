"""Opening a cache database: connection settings, schema, and moving a damaged file aside."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import sqlite3
import sys
import time
import warnings
from collections.abc import Iterator

from parmap.errors import CacheWarning

__all__ = ["DB_NAME", "SCHEMA_VERSION", "open_database", "write_transaction"]

DB_NAME = "entries.sqlite"
SCHEMA_VERSION = "1"
_BUSY_TIMEOUT = 60.0
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_SQLITE_BUSY = 5  # also the low byte of its extended codes (BUSY_RECOVERY, …)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS functions (scope BLOB PRIMARY KEY, name TEXT NOT NULL, "
    "python TEXT NOT NULL, library TEXT NOT NULL, first_used REAL NOT NULL, "
    "last_used REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries (key BLOB PRIMARY KEY, scope BLOB NOT NULL, "
    "size INTEGER NOT NULL, created REAL NOT NULL, used REAL NOT NULL, record BLOB NOT NULL)",
    # No index on `used` or `scope`: each index costs a page write per store() call, while the
    # queries that would use them (pruning, info) are rare and scan the table instead.
    "CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 0), "
    "entries INTEGER NOT NULL, bytes INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO totals VALUES (0, 0, 0)",
    # Triggers keep the totals exact under concurrent runs, so a size check costs one row read.
    "CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries BEGIN "
    "UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0; END",
    "CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries BEGIN "
    "UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0; END",
    "CREATE TRIGGER IF NOT EXISTS entries_resized AFTER UPDATE OF size ON entries BEGIN "
    "UPDATE totals SET bytes = bytes + NEW.size - OLD.size WHERE id = 0; END",
)


def open_database(path: pathlib.Path, /, *, durable: bool, repair: bool) -> sqlite3.Connection:
    """Connect to the cache database at ``path``, creating its schema if it is new.

    With ``repair``, a file that is not a readable SQLite database is moved aside (with a
    :class:`~parmap.errors.CacheWarning`) and a new database takes its place.

    Raises:
        sqlite3.Error: the database cannot be opened, or has another schema version.
    """
    try:
        return _open(path, durable)
    except sqlite3.DatabaseError as exc:
        if not repair or getattr(exc, "sqlite_errorcode", None) not in _CORRUPT_CODES:
            raise
    _quarantine(path, durable)
    return _open(path, durable)


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection, /) -> Iterator[None]:
    """Run the block as one write transaction, taking the write lock at once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _open(path: pathlib.Path, durable: bool) -> sqlite3.Connection:
    # Two runs creating one new database race for it: SQLite answers "database is
    # locked" at once (without its busy handler) to the one that switches the new
    # file to WAL while the other writes the schema. Wait as a busy handler would.
    deadline = time.monotonic() + _BUSY_TIMEOUT
    while True:
        try:
            return _open_once(path, durable)
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == _SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _open_once(path: pathlib.Path, durable: bool) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        # Creating the file, switching it to WAL and writing the schema cost seven fsyncs at
        # the usual settings (30 ms on a busy disk) and hold nothing worth protecting from a
        # power cut: a file left damaged by one is moved aside and made again. So no syncs
        # until the schema exists; a kill at any point still leaves a consistent file.
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA journal_mode=WAL")
        if _schema(db) is None:
            with write_transaction(db):
                for statement in _SCHEMA:
                    db.execute(statement)
                if _schema(db) is None:
                    _write_meta(db)
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        found = _schema(db)
        if found != SCHEMA_VERSION:
            msg = f"{path} has cache schema {found}; this parmap reads {SCHEMA_VERSION}"
            raise sqlite3.DatabaseError(msg)
    except BaseException:
        db.close()
        raise
    return db


def _schema(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    except sqlite3.OperationalError:  # no meta table yet: a new database
        return None
    return None if row is None else str(row[0])


def _quarantine(path: pathlib.Path, durable: bool) -> None:
    """Move a damaged database aside (with its log) so that a fresh one takes its place.

    Under an exclusive lock on a lock file, and only if the file is still damaged when the
    lock is held: two runs that find it damaged at once must not move aside the fresh
    database the first one already made.
    """
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _open(path, durable).close()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _CORRUPT_CODES:
                raise
        else:
            return  # another run already replaced it
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{os.getpid()}")
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(
                    path.with_name(path.name + suffix),
                    aside.with_name(aside.name + suffix),
                )
    warnings.warn(
        f"the cache database {path} is damaged (not a readable SQLite file); it was "
        f"moved to {aside.name} and a new one started: its results will be recomputed",
        CacheWarning,
        stacklevel=5,
    )


def _write_meta(db: sqlite3.Connection) -> None:
    from parmap._version import __version__

    rows = {
        "schema": SCHEMA_VERSION,
        "created": repr(time.time()),
        "created_by": f"parmap {__version__}, python {sys.version.split()[0]}, "
        f"sqlite {sqlite3.sqlite_version}",
    }
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows.items())
