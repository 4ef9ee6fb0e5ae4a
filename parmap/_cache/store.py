"""SQLite storage of cache records: one WAL-mode database file per cache directory.

Why SQLite in WAL mode rather than one file per entry or our own segment files:

* **Scale.** A million entries are a million rows in one file (plus its ``-wal`` and ``-shm``
  companions), not a million inodes in one directory, and no file is ever rewritten whole.
* **Atomicity without our own temp files.** Each ``put`` is one transaction. SQLite appends the
  new pages to the write-ahead log and a transaction exists only once its commit frame (with its
  checksum) is in the log; a process killed mid-write leaves a torn tail that the next opener
  discards. This is the "write under a temp name, then rename" guarantee, provided per
  transaction, and it holds for SIGKILL at any instant whatever the ``durable`` setting.
* **Concurrency.** Runs on one directory (threads or processes) take the write lock in turn
  (``BEGIN IMMEDIATE``); readers never block writers in WAL mode. A lock held by someone else
  costs one wait of :data:`~parmap._cache.db.BUSY_TIMEOUT` per store: after it times out,
  the store stops waiting (``busy_timeout=0``) and :attr:`Store.contended` turns on, so that
  later writes try once and give up at once while the lock is still taken.
* **Durability is a setting.** ``synchronous=NORMAL`` (default) fsyncs at checkpoints only: an
  application crash loses nothing committed, a power cut may lose the last transactions but
  never corrupts. ``durable=True`` uses ``synchronous=FULL``: the log is fsynced at every commit.

The database is untrusted (:mod:`parmap._cache.db`): each operation runs under a deadline,
re-checks the schema if its version counter moved, and reads through
:mod:`parmap._cache.rows`, which type-checks every column. A run that meets ``SQLITE_CORRUPT``
moves the database aside and goes on with a new one (:mod:`parmap._cache.link`).

The connection itself, per process and recovered on damage, is :mod:`parmap._cache.link`'s.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from parmap._cache import rows
from parmap._cache.db import DB_NAME, Mode
from parmap._cache.files import CacheRefusedError
from parmap._cache.link import Link
from parmap._cache.record import Signer

__all__ = ["DB_NAME", "TOUCH_GRANULARITY", "Store"]

_BATCH = rows.BATCH
TOUCH_GRANULARITY = 60.0  # seconds: a hit rewrites its last-use time at most this often

_UPSERT = (
    "INSERT INTO entries (key, scope, size, created, used, record) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET scope = excluded.scope, size = excluded.size, "
    "created = excluded.created, used = excluded.used, record = excluded.record"
)

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _guarded(method: _Method) -> _Method:
    """Run a method under the store's lock and deadline, recovering from a damaged database.

    Threads of one run share the connection, hence the lock. On ``SQLITE_CORRUPT`` (or a
    schema changed under us into one that is not parmap's), a run moves the database aside
    and tries the operation once more on a new one; an admin command reports it.
    """

    @functools.wraps(method)
    def guarded(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            for attempt in (1, 2):
                try:
                    return method(self, *args, **kwargs)
                except (sqlite3.DatabaseError, CacheRefusedError) as exc:
                    self._link.failed(exc, retry=attempt == 1)
        raise AssertionError("unreachable")  # pragma: no cover

    return cast(_Method, guarded)


def _marks(count: int) -> str:
    return ",".join("?" * count)


class Store:
    """The database of one cache directory; every method is one short transaction."""

    def __init__(self, directory: pathlib.Path, /, *, durable: bool, mode: Mode) -> None:
        """Open the database in ``directory`` (a run also makes it: see ``open_database``).

        Raises:
            FileNotFoundError: an admin ``mode`` and there is no cache in ``directory``.
            CacheRefusedError: the database is not one parmap may use.
            OSError, sqlite3.Error: the database cannot be opened.
        """
        self.path = directory / DB_NAME
        self._lock = threading.RLock()
        self._link = Link(self.path, durable=durable, mode=mode)
        self._link.opened()

    @property
    def read_only(self) -> bool:
        """True when the database was opened read-only (a directory this process cannot write)."""
        return self._link.opened().read_only

    @property
    def contended(self) -> bool:
        """True once a wait for another process's lock timed out (later ones do not wait)."""
        return self._link.contended

    @_guarded
    def put(
        self,
        entries: Sequence[tuple[bytes, bytes, bytes]],
        /,
        *,
        now: float,
        function: tuple[bytes, str, str] | None = None,
    ) -> None:
        """Store ``(key, scope, record)`` rows in one transaction, replacing older ones.

        ``function`` (scope, name, library versions) also records the function behind the
        scope, for ``info`` and ``prune``, in the same transaction.
        """
        with self._link.transaction(write=True) as db:
            if function is not None:
                scope, name, library = function
                db.execute(
                    "INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope) DO UPDATE "
                    "SET name = excluded.name, python = excluded.python, "
                    "library = excluded.library, last_used = excluded.last_used",
                    (scope, name, sys.version.split()[0], library, now, now),
                )
            db.executemany(
                _UPSERT, [(key, scope, len(rec), now, now, rec) for key, scope, rec in entries]
            )

    @_guarded
    def get(self, keys: Sequence[bytes], signer: Signer, /) -> rows.Found:
        """Return the verified, unpickled results stored under ``keys``, and the bad rows."""
        found = rows.Found()
        with self._link.transaction(write=False) as db:
            for start in range(0, len(keys), _BATCH):
                rows.read_entries(
                    db, keys[start : start + _BATCH], signer, found, self._link.opened().deadline
                )
        return found

    @_guarded
    def touch(self, keys: Sequence[bytes], /, *, now: float) -> None:
        """Mark entries as used now (for least-recently-used pruning)."""
        with self._link.transaction(write=True) as db:
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                db.execute(
                    f"UPDATE entries SET used = ? WHERE key IN ({_marks(len(batch))})",
                    (now, *batch),
                )

    @_guarded
    def totals(self) -> tuple[int, int]:
        """Return ``(entries, bytes of records)``."""
        with self._link.transaction(write=False) as db:
            return rows.totals(db)

    @_guarded
    def meta(self) -> dict[str, str]:
        """Return the directory's metadata (schema, creation time, creating versions)."""
        with self._link.transaction(write=False) as db:
            return rows.meta(db)

    @_guarded
    def functions(self) -> list[rows.FunctionRow]:
        """Return one row per function (scope): name, versions, entries, bytes, last use."""
        with self._link.transaction(write=False) as db:
            return rows.functions(db)

    def scan(self, signer: Signer, /) -> Iterator[rows.Checked]:
        """Verify every row in turn, in batches so memory stays flat (``parmap cache verify``)."""
        after = 0
        while True:
            batch = self._scan_batch(signer, after)
            if not batch:
                return
            yield from batch
            after = batch[-1].rowid

    @_guarded
    def _scan_batch(self, signer: Signer, after: int) -> list[rows.Checked]:
        with self._link.transaction(write=False) as db:
            return rows.check_batch(db, signer, after, self._link.opened().deadline)

    @_guarded
    def delete_rows(self, rowids: Sequence[int], /) -> int:
        """Delete entries by row id; return how many were deleted."""
        removed = 0
        with self._link.transaction(write=True) as db:
            for start in range(0, len(rowids), _BATCH):
                batch = rowids[start : start + _BATCH]
                query = f"DELETE FROM entries WHERE rowid IN ({_marks(len(batch))})"
                removed += db.execute(query, batch).rowcount
        return removed

    @_guarded
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
        with self._link.transaction(write=True) as db:
            return int(db.execute(f"DELETE FROM entries WHERE {where}", params).rowcount)

    @_guarded
    def oldest(self, excess: int, /) -> list[int]:
        """Return the row ids of the least recently used entries adding up to ``excess`` bytes."""
        with self._link.transaction(write=False) as db:
            return rows.oldest(db, excess)

    @_guarded
    def forget_unused_functions(self) -> None:
        """Drop function rows that no entry refers to any more."""
        with self._link.transaction(write=True) as db:
            db.execute("DELETE FROM functions WHERE scope NOT IN (SELECT scope FROM entries)")

    @_guarded
    def compact(self) -> None:
        """Give freed pages back to the file system (skipped while another run is writing)."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._link.db().execute("VACUUM")

    def close(self) -> None:
        """Close this process's connection (never one inherited through fork)."""
        with self._lock:
            self._link.close()
