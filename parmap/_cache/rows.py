"""Reading cache rows as untrusted data: every column type-checked, large records checked first.

SQLite columns hold whatever was written into them: an edited ``record`` may be an integer or
text, ``used`` text, ``size`` a lie. Each read here checks the storage class of every column it
uses (``typeof``) and treats a row that fails like a damaged entry, with a reason.

Sizes are read before payloads: ``length()`` and ``typeof()`` of a column do not load it. A
record of at most :data:`INLINE_BYTES` comes with its row; a larger one is authenticated in
chunks through an incremental blob handle, and loaded whole only once its tag verified. So a
forged 400 MiB row costs a chunk of memory, not 400 MiB.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

from parmap._cache.db import Deadline
from parmap._cache.record import HEAD_SIZE, BadRecordError, Signer, check_chunks, open_record

__all__ = [
    "BATCH",
    "INLINE_BYTES",
    "Checked",
    "Found",
    "FunctionRow",
    "check_batch",
    "functions",
    "meta",
    "oldest",
    "read_entries",
    "totals",
]

BATCH = 500  # rows per SELECT: well under SQLite's limit on bound parameters
INLINE_BYTES = 1 << 20  # records up to this size are fetched with their row
_CHUNK = 1 << 20  # bytes read at a time from a larger record
_KEY_SIZE = 32
_STORAGE = {"integer": "an integer", "real": "a float", "text": "text", "null": "NULL"}


@dataclasses.dataclass
class Found:
    """What a lookup found: verified results (with last use) and bad rows (with a reason)."""

    hits: dict[bytes, tuple[Any, float]] = dataclasses.field(default_factory=dict)
    bad: dict[bytes, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FunctionRow:
    """The entries of one scope (function, constant arguments, version), columns checked."""

    scope: object
    name: str
    python: str
    library: str
    entries: int
    bytes: int
    last_used: float | None


@dataclasses.dataclass(frozen=True)
class Checked:
    """One row as ``verify`` saw it: ``reason`` is None when it verified and loads."""

    rowid: int
    key: str  # hex, or a short repr when the key is not 32 bytes
    scope: object
    reason: str | None


def _storage(kind: object) -> str:
    return _STORAGE.get(str(kind), str(kind))


def _problem(record: object, length: int, size_type: object, size: int, used: object) -> str | None:
    """Why a row's columns are not what parmap writes (``length`` from ``length(record)``)."""
    if record != "blob":
        return f"its record is {_storage(record)}, not bytes"
    if size_type != "integer":
        return f"its size column is {_storage(size_type)}, not an integer"
    if length > INLINE_BYTES and length > size:
        # parmap writes the record's length there: a large row that outgrew it was planted,
        # and is refused unread (smaller ones are cheap to read: their tag tells what is wrong).
        return f"its record has {length} bytes, more than the {size} its size column says"
    if used not in ("integer", "real"):
        return f"its last-use time is {_storage(used)}, not a number"
    return None


def _read_large(db: sqlite3.Connection, rowid: int, key: bytes, signer: Signer) -> bytes:
    with db.blobopen("entries", "record", rowid, readonly=True) as blob:
        head = blob.read(HEAD_SIZE)
        check_chunks(signer, key, head, iter(functools.partial(blob.read, _CHUNK), b""))
        blob.seek(0)
        return blob.read()


# A sound row (nearly all of them) is checked in Python from its values; only a row that is not
# (a record too large to come with its row, or a column of the wrong type) is read again, by
# its storage classes, to tell which.
_ENTRIES = (
    "SELECT key, CASE WHEN length(record) <= ? THEN record END, used "
    "FROM entries WHERE key IN ({marks})"
)
_COLUMNS = (
    "SELECT rowid, typeof(record), length(record), typeof(size), size, typeof(used) "
    "FROM entries WHERE key = ?"
)


def _read_odd(db: sqlite3.Connection, key: bytes, signer: Signer) -> Any:
    """Verify and load a row that did not come whole: large, or with a column of a wrong type.

    Raises:
        BadRecordError: the row is bad; the reason says why.
    """
    found = db.execute(_COLUMNS, (key,)).fetchone()
    if found is None:
        raise BadRecordError("it was removed while being read")
    rowid, *columns = found
    problem = _problem(*columns)
    if problem is not None:
        raise BadRecordError(problem)
    return open_record(signer, key, _read_large(db, rowid, key, signer))


def read_entries(
    db: sqlite3.Connection,
    keys: Sequence[bytes],
    signer: Signer,
    found: Found,
    deadline: Deadline,
    /,
) -> None:
    """Add to ``found`` the rows stored under ``keys``: verified and unpickled, or bad.

    The ``deadline`` restarts after each large row: unpickling one is not a slow query.
    """
    query = _ENTRIES.format(marks=",".join("?" * len(keys)))
    for key, inline, used in db.execute(query, (INLINE_BYTES, *keys)):
        if not isinstance(key, bytes):
            continue  # only a blob equals a blob parameter; never reached
        try:
            if isinstance(inline, bytes) and isinstance(used, int | float):
                found.hits[key] = (open_record(signer, key, inline), float(used))
            else:
                found.hits[key] = (_read_odd(db, key, signer), float(used))
                deadline.arm()  # reading and unpickling it took time outside any query
        except BadRecordError as exc:
            found.bad[key] = exc.reason


def check_batch(
    db: sqlite3.Connection, signer: Signer, after: int, deadline: Deadline, /
) -> list[Checked]:
    """Verify the next :data:`BATCH` rows after row id ``after`` (``parmap cache verify``)."""
    checked: list[Checked] = []
    for rowid, key, scope, kind, length, size_type, size, used_type in db.execute(
        "SELECT rowid, key, scope, typeof(record), length(record), typeof(size), size, "
        "typeof(used) FROM entries WHERE rowid > ? ORDER BY rowid LIMIT ?",
        (after, BATCH),
    ).fetchall():
        if isinstance(key, bytes) and len(key) == _KEY_SIZE:
            shown, problem = key.hex(), _problem(kind, length, size_type, size, used_type)
        else:
            shown, problem = repr(key)[:40], f"its key is not {_KEY_SIZE} bytes"
        if problem is None:
            try:
                if length <= INLINE_BYTES:
                    (record,) = db.execute(
                        "SELECT record FROM entries WHERE rowid = ?", (rowid,)
                    ).fetchone()
                else:
                    record = _read_large(db, rowid, key, signer)
                open_record(signer, key, record)
            except BadRecordError as exc:
                problem = exc.reason
        checked.append(Checked(rowid, shown, scope, problem))
        deadline.arm()
    return checked


def totals(db: sqlite3.Connection, /) -> tuple[int, int]:
    """``(entries, bytes)`` from the totals row, or counted when that row is not two integers."""
    row = db.execute("SELECT entries, bytes FROM totals WHERE id = 0").fetchone()
    if row is not None and all(isinstance(v, int) and v >= 0 for v in row):
        return int(row[0]), int(row[1])
    count, size = db.execute("SELECT count(*), total(length(record)) FROM entries").fetchone()
    return int(count), int(size)


def meta(db: sqlite3.Connection, /) -> dict[str, str]:
    """The metadata rows whose name and value are both text."""
    return {
        name: value
        for name, value in db.execute("SELECT name, value FROM meta")
        if isinstance(name, str) and isinstance(value, str)
    }


def _text(value: object) -> str:
    return value if isinstance(value, str) else "?"


def functions(db: sqlite3.Connection, /) -> list[FunctionRow]:
    """One row per scope: its function's name and versions (``?`` when not text), sizes, use."""
    found = db.execute(
        "SELECT e.scope, f.name, f.python, f.library, count(*), "
        "total(CASE WHEN typeof(e.size) = 'integer' THEN e.size ELSE 0 END), "
        "max(CASE WHEN typeof(e.used) IN ('integer', 'real') THEN e.used END) "
        "FROM entries e LEFT JOIN functions f ON f.scope = e.scope "
        "GROUP BY e.scope ORDER BY 7 DESC"
    ).fetchall()
    return [
        FunctionRow(
            scope,
            _text(name),
            _text(python),
            _text(library),
            int(count),
            int(size),
            None if used is None else float(used),
        )
        for scope, name, python, library, count, size, used in found
    ]


def oldest(db: sqlite3.Connection, excess: int, /) -> list[int]:
    """Row ids of the least recently used entries whose sizes add up to at least ``excess``."""
    chosen: list[int] = []
    total = 0
    cursor = db.execute(
        "SELECT rowid, CASE WHEN typeof(size) = 'integer' AND size >= 0 THEN size "
        "ELSE coalesce(length(record), 0) END FROM entries ORDER BY used"
    )
    try:
        while total < excess:
            batch = cursor.fetchmany(BATCH)
            if not batch:
                break
            for rowid, size in batch:
                if total >= excess:
                    break
                chosen.append(rowid)
                total += size
    finally:
        cursor.close()
    return chosen
