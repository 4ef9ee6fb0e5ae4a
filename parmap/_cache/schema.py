"""parmap's cache schema: its DDL, checking a database against it, and writing a new database.

A database is used only when ``sqlite_master`` holds exactly the objects this DDL creates, with
the same SQL text: no extra table, index, view or trigger, none missing, none redefined. The
check reads ``sqlite_master`` only (a real table), so a view or trigger planted under one of
parmap's names is never run: it is found before any query touches it.

A new database is built in memory, serialised, marked as WAL (bytes 18 and 19 of the file
header, "file format version" 2) and written through a file parmap created itself, then renamed
into place: SQLite creates no file in the directory while the database is made, and a database
file never exists half made. So an empty ``entries.sqlite`` is never parmap's doing: it was
emptied from outside, and is reported.
"""

from __future__ import annotations

import functools
import os
import pathlib
import secrets
import sqlite3
import sys
import time

from parmap._cache.files import create_private_file, directory_lock

__all__ = ["SCHEMA_VERSION", "create_database", "schema_problem"]

SCHEMA_VERSION = "1"
_MASTER = "SELECT type, name, tbl_name, sql FROM sqlite_master"
_WAL_FORMAT = 2  # file format read and write versions of a WAL-mode database

DDL = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE functions (scope BLOB PRIMARY KEY, name TEXT NOT NULL, "
    "python TEXT NOT NULL, library TEXT NOT NULL, first_used REAL NOT NULL, "
    "last_used REAL NOT NULL)",
    "CREATE TABLE entries (key BLOB PRIMARY KEY, scope BLOB NOT NULL, "
    "size INTEGER NOT NULL, created REAL NOT NULL, used REAL NOT NULL, record BLOB NOT NULL)",
    # No index on `used` or `scope`: each index costs a page write per store() call, while the
    # queries that would use them (pruning, info) are rare and scan the table instead.
    "CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 0), "
    "entries INTEGER NOT NULL, bytes INTEGER NOT NULL)",
    # Triggers keep the totals exact under concurrent runs, so a size check costs one row read.
    "CREATE TRIGGER entries_added AFTER INSERT ON entries BEGIN "
    "UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0; END",
    "CREATE TRIGGER entries_removed AFTER DELETE ON entries BEGIN "
    "UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0; END",
    "CREATE TRIGGER entries_resized AFTER UPDATE OF size ON entries BEGIN "
    "UPDATE totals SET bytes = bytes + NEW.size - OLD.size WHERE id = 0; END",
)

_Object = tuple[str, str, str, str | None]  # type, name, table, sql


@functools.cache
def _expected() -> frozenset[_Object]:
    """The ``sqlite_master`` rows of parmap's schema, as this SQLite writes them."""
    db = sqlite3.connect(":memory:")
    try:
        for statement in DDL:
            db.execute(statement)
        return frozenset(db.execute(_MASTER).fetchall())
    finally:
        db.close()


def _objects(db: sqlite3.Connection) -> set[_Object] | None:
    rows = db.execute(_MASTER).fetchall()
    if not all(
        isinstance(t, str)
        and isinstance(n, str)
        and isinstance(b, str)
        and isinstance(s, str | None)
        for t, n, b, s in rows
    ):
        return None
    return set(rows)


def _listed(objects: set[_Object] | frozenset[_Object]) -> str:
    shown = sorted(f"{kind} {name!r}" for kind, name, _table, _sql in objects)
    return ", ".join(shown[:6]) + (f" and {len(shown) - 6} more" if len(shown) > 6 else "")


def schema_problem(db: sqlite3.Connection, /) -> tuple[str, str] | None:
    """Compare the database's schema with parmap's; ``None`` when it is exactly parmap's.

    Returns:
        ``(kind, what)``: kind ``"foreign"`` (nothing in it is parmap's: another program's
        database), ``"altered"`` (a parmap cache with objects added, removed or redefined) or
        ``"version"`` (a parmap cache of another schema version), and a few words saying what
        differs.
    """
    found = _objects(db)
    if found is None:
        return "altered", "its sqlite_master table holds values of the wrong types"
    expected = _expected()
    if found != expected:
        version = _version(db) if any(row[1] == "meta" for row in found & expected) else None
        if version is not None and version != SCHEMA_VERSION:
            return "version", f"it is a parmap cache of schema {version}"
        # Evidence that parmap made it: one of its own definitions, word for word (indexes
        # SQLite makes for a primary key have no SQL and prove nothing).
        if not any(sql is not None for _kind, _name, _table, sql in found & expected):
            return "foreign", f"it holds {_listed(found) or 'nothing'}, none of them parmap's"
        ours = {(kind, name) for kind, name, _table, _sql in expected}
        present = {(kind, name) for kind, name, _table, _sql in found}
        extra = {row for row in found - expected if (row[0], row[1]) not in ours}
        changed = {row for row in found - expected if (row[0], row[1]) in ours}
        missing = {row for row in expected - found if (row[0], row[1]) not in present}
        parts = [
            f"{label} {_listed(rows)}"
            for label, rows in (("an unexpected", extra), ("a redefined", changed), ("no", missing))
            if rows
        ]
        return "altered", "it has " + "; ".join(parts)
    version = _version(db)
    if version != SCHEMA_VERSION:
        if version is None:
            return "altered", "its meta table does not name a schema version"
        return "version", f"it is a parmap cache of schema {version}"
    return None


def _version(db: sqlite3.Connection) -> str | None:
    # Only called when `meta` is a table defined exactly as parmap defines it.
    row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    return row[0] if row is not None and isinstance(row[0], str) else None


def _image() -> bytes:
    """The bytes of a new, empty cache database in WAL mode."""
    from parmap._version import __version__

    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in DDL:
            db.execute(statement)
        db.execute("INSERT INTO totals VALUES (0, 0, 0)")
        meta = {
            "schema": SCHEMA_VERSION,
            "created": repr(time.time()),
            "created_by": f"parmap {__version__}, python {sys.version.split()[0]}, "
            f"sqlite {sqlite3.sqlite_version}",
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        image = bytearray(db.serialize())
    finally:
        db.close()
    image[18] = image[19] = _WAL_FORMAT
    return bytes(image)


def create_database(path: pathlib.Path, /, *, timeout: float) -> bool:
    """Write a new cache database at ``path`` unless a file is already there.

    Returns:
        True when this call made it; False when another run (or anything else) was first.

    Raises:
        OSError: the directory cannot be written or locked in ``timeout`` seconds.
    """
    with directory_lock(path.parent, timeout=timeout):
        if os.path.lexists(path):
            return False
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = create_private_file(temp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_image())
                handle.flush()
                os.fsync(handle.fileno())
            # Under the directory lock and with no file at `path`: nothing is replaced.
            os.rename(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    return True
