"""SQLite storage of cache records: one WAL-mode database file per cache directory.

Why SQLite in WAL mode rather than one file per entry or our own segment files:

* **Scale.** A million entries are a million rows in one file (plus its ``-wal`` and ``-shm``
  companions), not a million inodes in one directory, and no file is ever rewritten whole.
* **Atomicity without our own temp files.** Each ``put`` is one transaction. SQLite appends the
  new pages to the write-ahead log and a transaction exists only once its commit frame (with its
  checksum) is in the log; a process killed mid-write leaves a torn tail that the next opener
  discards. This is the "write under a temp name, then rename" guarantee, provided per
  transaction, and it holds for SIGKILL at any instant whatever the ``durable`` setting. There
  are no temp files of ours to read by mistake or to sweep; SQLite's own journal is the only
  leftover and it is recovered, never served.
* **Concurrency.** Runs on one directory (threads or processes) take the write lock in turn
  (``BEGIN IMMEDIATE`` with a busy timeout); readers never block writers in WAL mode.
* **Durability is a setting.** ``synchronous=NORMAL`` (default) fsyncs at checkpoints only: an
  application crash loses nothing committed, a power cut may lose the last transactions but
  never corrupts. ``durable=True`` uses ``synchronous=FULL``: the log is fsynced at every commit.

A connection belongs to the process that opened it: after a fork the child opens its own
and never touches (nor closes) the inherited one, whose locks belong to the parent.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from parmap._cache_db import DB_NAME, open_database, write_transaction

__all__ = ["DB_NAME", "TOUCH_GRANULARITY", "Store"]

_BATCH = 500  # keys per SELECT: well under SQLite's limit on bound parameters
TOUCH_GRANULARITY = 60.0  # seconds: a hit rewrites its last-use time at most this often

_UPSERT = (
    "INSERT INTO entries (key, scope, size, created, used, record) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET scope = excluded.scope, size = excluded.size, "
    "created = excluded.created, used = excluded.used, record = excluded.record"
)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Serialise a method on the store's lock: threads of one run share its connection."""

    @functools.wraps(method)
    def locked(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_Method, locked)


def _marks(count: int) -> str:
    return ",".join("?" * count)


class Store:
    """The database of one cache directory; every method is one short transaction."""

    def __init__(self, directory: pathlib.Path, /, *, durable: bool, create: bool) -> None:
        """Open (and with ``create``, make) the database in ``directory``.

        Raises:
            FileNotFoundError: ``create`` is false and there is no cache in ``directory``.
            sqlite3.Error: the database cannot be opened or is not a parmap cache.
        """
        self.path = directory / DB_NAME
        self._durable = durable
        if not create and not self.path.exists():
            msg = f"no parmap cache in {directory} (no {DB_NAME} there)"
            raise FileNotFoundError(msg)
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        self._repair = create
        self._lock = threading.RLock()
        self._pid = -1
        self._db: sqlite3.Connection | None = None
        self._inherited: list[sqlite3.Connection] = []
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        if self._db is not None:
            # Forked: the parent's connection and its locks are not ours. Keep the object alive
            # so that garbage collection never runs sqlite3_close on it in this process.
            self._inherited.append(self._db)
        db = open_database(self.path, durable=self._durable, repair=self._repair)
        self._db, self._pid = db, os.getpid()
        return db

    @_locked
    def put(
        self,
        rows: Sequence[tuple[bytes, bytes, bytes]],
        /,
        *,
        now: float,
        function: tuple[bytes, str, str] | None = None,
    ) -> None:
        """Store ``(key, scope, record)`` rows in one transaction, replacing older ones.

        ``function`` (scope, name, library versions) also records the function behind the
        scope, for ``info`` and ``prune``, in the same transaction.
        """
        db = self._connect()
        with write_transaction(db):
            if function is not None:
                scope, name, library = function
                db.execute(
                    "INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope) DO UPDATE "
                    "SET name = excluded.name, python = excluded.python, "
                    "library = excluded.library, last_used = excluded.last_used",
                    (scope, name, sys.version.split()[0], library, now, now),
                )
            db.executemany(
                _UPSERT, [(key, scope, len(rec), now, now, rec) for key, scope, rec in rows]
            )

    @_locked
    def get(self, keys: Sequence[bytes], /) -> dict[bytes, tuple[bytes, float]]:
        """Return ``key -> (record, last use)`` for those ``keys`` that exist (unverified)."""
        db = self._connect()
        found: dict[bytes, tuple[bytes, float]] = {}
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            query = f"SELECT key, record, used FROM entries WHERE key IN ({_marks(len(batch))})"
            for key, record, used in db.execute(query, batch):
                found[key] = (record, used)
        return found

    @_locked
    def touch(self, keys: Sequence[bytes], /, *, now: float) -> None:
        """Mark entries as used now (for least-recently-used pruning)."""
        db = self._connect()
        with write_transaction(db):
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                db.execute(
                    f"UPDATE entries SET used = ? WHERE key IN ({_marks(len(batch))})",
                    (now, *batch),
                )

    @_locked
    def totals(self) -> tuple[int, int]:
        """Return ``(entries, bytes of records)``."""
        row = self._connect().execute("SELECT entries, bytes FROM totals").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    @_locked
    def meta(self) -> dict[str, str]:
        """Return the directory's metadata (schema, creation time, creating versions)."""
        return dict(self._connect().execute("SELECT name, value FROM meta").fetchall())

    @_locked
    def functions(self) -> list[tuple[Any, ...]]:
        """Return ``(scope, name, python, library, entries, bytes, last use)`` per function."""
        return (
            self._connect()
            .execute(
                "SELECT e.scope, coalesce(f.name, '?'), coalesce(f.python, '?'), "
                "coalesce(f.library, '?'), COUNT(*), SUM(e.size), MAX(e.used) "
                "FROM entries e LEFT JOIN functions f ON f.scope = e.scope "
                "GROUP BY e.scope ORDER BY MAX(e.used) DESC"
            )
            .fetchall()
        )

    def scan(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        """Yield every ``(key, scope, record)``, in batches so memory stays flat."""
        last = b""
        while True:
            with self._lock:
                rows = (
                    self._connect()
                    .execute(
                        "SELECT key, scope, record FROM entries WHERE key > ? ORDER BY key LIMIT ?",
                        (last, _BATCH),
                    )
                    .fetchall()
                )
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    @_locked
    def delete(self, keys: Sequence[bytes], /) -> int:
        """Delete entries by key; return how many were deleted."""
        db = self._connect()
        removed = 0
        with write_transaction(db):
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                query = f"DELETE FROM entries WHERE key IN ({_marks(len(batch))})"
                removed += db.execute(query, batch).rowcount
        return removed

    @_locked
    def remove(self, *, before: float | None = None, names: Sequence[str] = ()) -> int:
        """Delete entries last used before ``before`` and/or of functions named ``names``.

        With neither, delete every entry. Returns how many were deleted.
        """
        clauses: list[str] = []
        params: list[float | str] = []
        if before is not None:
            clauses.append("used < ?")
            params.append(before)
        if names:
            clauses.append(
                f"scope IN (SELECT scope FROM functions WHERE name IN ({_marks(len(names))}))"
            )
            params.extend(names)
        where = " AND ".join(clauses) or "1"
        db = self._connect()
        with write_transaction(db):
            return int(db.execute(f"DELETE FROM entries WHERE {where}", params).rowcount)

    @_locked
    def oldest(self, excess: int, /) -> list[bytes]:
        """Return the least recently used keys whose sizes add up to at least ``excess``."""
        chosen: list[bytes] = []
        total = 0
        cursor = self._connect().execute("SELECT key, size FROM entries ORDER BY used")
        while total < excess:
            rows = cursor.fetchmany(_BATCH)
            if not rows:
                break
            for key, size in rows:
                if total >= excess:
                    break
                chosen.append(key)
                total += size
        cursor.close()
        return chosen

    @_locked
    def forget_unused_functions(self) -> None:
        """Drop function rows that no entry refers to any more."""
        db = self._connect()
        with write_transaction(db):
            db.execute("DELETE FROM functions WHERE scope NOT IN (SELECT scope FROM entries)")

    @_locked
    def compact(self) -> None:
        """Give freed pages back to the file system (skipped while another run is writing)."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._connect().execute("VACUUM")

    @_locked
    def close(self) -> None:
        """Close this process's connection (never one inherited through fork)."""
        if self._db is not None and self._pid == os.getpid():
            self._db.close()
        self._db = None
