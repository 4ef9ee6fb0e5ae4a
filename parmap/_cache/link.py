"""One store's connection to its database: one per process, under a deadline, recovered.

A connection belongs to the process that opened it: after a fork the child opens its own
and never touches (nor closes) the inherited one, whose locks belong to the parent.

Each transaction first checks that the file is still the one opened (a database removed or
replaced while in use is reported, and the next one used) and, when the schema's version
counter moved, that the schema is still parmap's. A run that meets ``SQLITE_CORRUPT``, or a
schema changed into one that is not parmap's, moves the database aside with a
:class:`~parmap.errors.CacheWarning` and goes on with a new one; an admin command reports it.
After one wait for another process's lock timed out, :attr:`Link.contended` turns on and
later statements no longer wait (``busy_timeout=0``).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
import warnings
from collections.abc import Iterator

from parmap._cache.db import (
    SQLITE_BUSY,
    Mode,
    Opened,
    error_code,
    is_corrupt,
    open_database,
    refusal,
    set_aside,
    warn_aside,
)
from parmap._cache.files import CacheRefusedError, same_file
from parmap._cache.schema import schema_problem
from parmap.errors import CacheWarning, caller_stacklevel

__all__ = ["Link"]


class Link:
    """The connection of one store (not thread-safe: the store serialises its callers)."""

    def __init__(self, path: pathlib.Path, /, *, durable: bool, mode: Mode) -> None:
        self.path = path
        self._durable = durable
        self._mode: Mode = mode
        self._pid = -1
        self._opened: Opened | None = None
        self._inherited: list[sqlite3.Connection] = []
        self.contended = False

    def opened(self) -> Opened:
        """This process's checked connection, opened (again, after a fork) when needed."""
        if self._opened is not None and self._pid == os.getpid():
            return self._opened
        if self._opened is not None:
            # Forked: the parent's connection and its locks are not ours. Keep the object alive
            # so that garbage collection never runs sqlite3_close on it in this process.
            self._inherited.append(self._opened.db)
        self._opened = open_database(self.path, durable=self._durable, mode=self._mode)
        self._pid = os.getpid()
        if self.contended:
            self._opened.db.execute("PRAGMA busy_timeout=0")
        return self._opened

    def db(self) -> sqlite3.Connection:
        """The connection, its deadline started for one operation."""
        opened = self.opened()
        opened.deadline.arm()
        return opened.db

    def failed(self, exc: BaseException, *, retry: bool) -> None:
        """Handle a failed operation: re-raise it, or move a damaged database aside and return."""
        if error_code(exc) == SQLITE_BUSY and not self.contended:
            self.contended = True
            with contextlib.suppress(sqlite3.Error):
                self.opened().db.execute("PRAGMA busy_timeout=0")
        opened = self._opened
        if isinstance(exc, CacheRefusedError) and exc.kind == "vanished" and retry:
            if opened is not None:
                opened.db.close()
            self._opened = None
            warnings.warn(
                f"the cache database {self.path} was removed or replaced while this run used "
                "it: what the run stored before is no longer there and will be recomputed "
                "next time\n  the run goes on with the database now in its place",
                CacheWarning,
                stacklevel=caller_stacklevel(),
            )
            return
        damaged = is_corrupt(exc) or (
            isinstance(exc, CacheRefusedError) and exc.kind in ("altered", "damaged")
        )
        if not damaged or opened is None or self._pid != os.getpid():
            raise exc
        if self._mode != "run" or opened.read_only or not retry:
            if isinstance(exc, CacheRefusedError):
                raise exc
            raise refusal(self.path, "damaged", f"it is damaged ({exc})") from exc
        with contextlib.suppress(sqlite3.Error):
            opened.db.close()
        self._opened = None
        reason = exc.reason if isinstance(exc, CacheRefusedError) else f"it is damaged ({exc})"
        warn_aside(self.path, set_aside(self.path, opened.identity, label="damaged"), reason)

    def _check_schema(self, db: sqlite3.Connection) -> None:
        """Inside a transaction: make sure the schema is still parmap's if its counter moved."""
        opened = self.opened()
        cookie = int(db.execute("PRAGMA schema_version").fetchone()[0])
        if cookie == opened.cookie:
            return
        problem = schema_problem(db)
        if problem is not None:
            reason = f"its schema was changed while in use: {problem[1]}"
            raise CacheRefusedError(reason, kind="altered", path=self.path, reason=reason)
        opened.cookie = cookie

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction with a checked schema; a write one takes the write lock at once."""
        db = self.db()
        opened = self.opened()
        if self._mode == "run" and not same_file(self.path, opened.identity):
            reason = "it was removed or replaced while this run used it"
            raise CacheRefusedError(reason, kind="vanished", path=self.path, reason=reason)
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            self._check_schema(db)
            yield db
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this process's connection (never one inherited through fork)."""
        if self._opened is not None and self._pid == os.getpid():
            self._opened.db.close()
        self._opened = None
