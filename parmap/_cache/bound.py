"""One run's view of a cache: item keys, verified lookups, stores that never fail the run."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import pickle
import sqlite3
import time
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

from parmap._cache import db as _cache_db
from parmap._cache.db import (
    SQLITE_BUSY,
    SQLITE_FULL,
    SQLITE_INTERRUPT,
    SQLITE_READONLY,
    error_code,
)
from parmap._cache.files import CacheRefusedError
from parmap._cache.fingerprint import encode
from parmap._cache.record import PROTOCOL, Signer, dump_result, make_record
from parmap._cache.store import TOUCH_GRANULARITY, Store
from parmap._version import __version__
from parmap.errors import CacheWarning, caller_stacklevel

__all__ = ["BoundCache", "CacheOwner"]


class CacheOwner(Protocol):
    """What a :class:`BoundCache` needs of the :class:`~parmap.cache.Cache` that made it."""

    @property
    def directory(self) -> pathlib.Path:
        """The cache directory."""

    @property
    def codec(self) -> str:
        """How records are compressed."""

    @property
    def max_bytes(self) -> int | None:
        """The size past which stores prune old entries, if any."""

    def session(self) -> tuple[Store, Signer]:
        """The open store and the signer of this process."""

    def close(self) -> None:
        """Release the store."""


_SHOWN_BAD = 10  # bad entries listed by name in one warning
_UNCACHEABLE = b"uncacheable:"  # prefix of one-off keys; real keys are 32-byte digests


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=caller_stacklevel())


def _cause(exc: BaseException, directory: object) -> str:
    """What a failed read or write most likely means, and what to do, from its error code."""
    code = error_code(exc)
    number = getattr(exc, "errno", None)
    if code == SQLITE_FULL or number == errno.ENOSPC:
        return "the disk is full: free some space"
    if code == SQLITE_READONLY or number in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the directory or the database is read-only for this process"
    if code == SQLITE_BUSY:
        return "another process holds a lock on it: try again once it is done"
    if code == SQLITE_INTERRUPT:
        return f"a statement ran past its deadline of {_cache_db.RUN_SECONDS:g} s and was stopped"
    return f"run `parmap cache verify {directory}` to check the cache"


def _described(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CacheRefusedError) else f"{type(exc).__name__}: {exc}"


class BoundCache:
    """One run's view of a cache: keys for its function and constant arguments.

    Built by :meth:`Cache.bind`. Not for use across ``fork``: only the process that bound it
    calls it (the engine does all cache work in the parent process).
    """

    def __init__(
        self, cache: CacheOwner, prefix: Any, /, *, name: str, disabled: bool = False
    ) -> None:
        self._cache = cache
        self._prefix = prefix
        self._scope = prefix.copy().digest()
        self._name = name
        self._registered = False
        self._disabled = disabled
        self._warned_key = False
        self._warned_busy = False
        self._warned_read_only = False

    @property
    def name(self) -> str:
        """The bound function's ``module:qualname``."""
        return self._name

    def key(self, args: tuple[Any, ...], /) -> bytes:
        """Return the 32-byte key of one item's argument tuple.

        An item with no stable encoding (see :mod:`parmap._cache.canonical`) gets a one-off key that
        is never looked up nor stored, and one :class:`~parmap.errors.CacheWarning` per run:
        such items are simply computed every time.
        """
        if self._disabled:
            return _UNCACHEABLE + os.urandom(16)
        hasher = self._prefix.copy()
        try:
            hasher.update(encode(args))
        except TypeError as exc:
            if not self._warned_key:
                self._warned_key = True
                _warn(f"some items of {self._name} are not cached: {exc}")
            return _UNCACHEABLE + os.urandom(16)
        return hasher.digest()  # type: ignore[no-any-return]

    def _session(self, doing: str) -> tuple[Store, Signer] | None:
        if self._disabled:
            return None
        try:
            return self._cache.session()
        except (OSError, sqlite3.Error, ValueError) as exc:
            self._disabled = True
            if isinstance(exc, CacheRefusedError):
                hint = ""  # its message says what to do
            elif error_code(exc):
                hint = f"; {_cause(exc, self._cache.directory)}"
            else:
                hint = (
                    "; check the directory and the secret "
                    "(PARMAP_CACHE_SECRET or ~/.config/parmap/secret)"
                )
            _warn(
                f"the cache in {self._cache.directory} cannot be used for {self._name}: "
                f"{_described(exc)}\n  while {doing}\n"
                f"  the run goes on without the cache{hint}"
            )
            return None

    def lookup(self, keys: Sequence[bytes], /) -> dict[bytes, Any]:
        """Return the verified results stored under ``keys``; bad entries are left out."""
        session = self._session("looking up results")
        if session is None or not keys:
            return {}
        store, signer = session
        try:
            found = store.get(keys, signer)
        except (sqlite3.Error, OSError) as exc:
            _warn(
                f"reading the cache {store.path} failed: {_described(exc)}\n  those items are "
                f"recomputed; {_cause(exc, self._cache.directory)}"
            )
            return {}
        now = time.time()
        hits = {key: value for key, (value, _used) in found.hits.items()}
        # Hits whose last-use time is worth rewriting.
        stale = [
            key for key, (_value, used) in found.hits.items() if used < now - TOUCH_GRANULARITY
        ]
        bad = [f"entry {key.hex()[:16]}: {reason}" for key, reason in found.bad.items()]
        if bad:
            shown = "\n".join(f"  {line}" for line in bad[:_SHOWN_BAD])
            more = f"\n  ... and {len(bad) - _SHOWN_BAD} more" if len(bad) > _SHOWN_BAD else ""
            _warn(
                f"{len(bad)} cache entr{'y' if len(bad) == 1 else 'ies'} of {self._name} in "
                f"{store.path} did not verify and will be recomputed and overwritten:\n"
                f"{shown}{more}\n  run `parmap cache verify {self._cache.directory}` to check "
                "the whole cache"
            )
        if stale and not store.read_only and not store.contended:
            # Last-use times only steer pruning: a busy or read-only cache may skip them.
            with contextlib.suppress(sqlite3.Error, OSError):
                store.touch(stale, now=now)
        return hits

    def store(self, entries: Sequence[tuple[bytes, Any]], /) -> None:
        """Store results atomically (all of ``entries`` or none); failures only warn."""
        entries = [entry for entry in entries if not entry[0].startswith(_UNCACHEABLE)]
        if not entries:
            return
        session = self._session("storing results")
        if session is None:
            return
        store, signer = session
        if store.read_only:
            if not self._warned_read_only:
                self._warned_read_only = True
                _warn(
                    f"the cache {store.path} is read-only for this process: hits are served, "
                    f"but no result of {self._name} is stored in this run; make "
                    f"{self._cache.directory} writable to store them"
                )
            return
        rows = []
        for key, value in entries:
            try:
                pickled = dump_result(value)
            except pickle.PicklingError as exc:
                _warn(f"a result of {self._name} was not cached (entry {key.hex()[:16]}): {exc}")
                continue
            record = make_record(signer, key, pickled, codec=self._cache.codec)
            rows.append((key, self._scope, record))
        now = time.time()
        try:
            function = None
            if not self._registered:
                library = f"parmap {__version__}, pickle protocol {PROTOCOL}"
                function = (self._scope, self._name, library)
            store.put(rows, now=now, function=function)
            self._registered = True
            limit = self._cache.max_bytes
            total = store.totals()[1] if limit is not None else 0
            if limit is not None and total > limit:
                store.delete_rows(store.oldest(total - limit * 9 // 10))
        except (sqlite3.Error, OSError) as exc:
            if error_code(exc) == SQLITE_BUSY:
                self._locked_out(store)
                return
            _warn(
                f"storing {len(rows)} result(s) of {self._name} in {store.path} failed: "
                f"{_described(exc)}\n  the run goes on; those items will be recomputed next "
                f"time; {_cause(exc, self._cache.directory)}"
            )

    def _locked_out(self, store: Store) -> None:
        """Another process holds the write lock: say so once; the store no longer waits."""
        if self._warned_busy:
            return
        self._warned_busy = True
        _warn(
            f"the cache {store.path} is locked by another process: {self._name} waited "
            f"{_cache_db.BUSY_TIMEOUT:g} s for it once and gave up\n  for the rest of this "
            "run a result is stored only when the lock is free at once; the others are "
            "recomputed next time"
        )

    def close(self) -> None:
        """End this run's use of the cache (closes the connection; reopened on next use)."""
        self._cache.close()
