"""One run's view of a cache: item keys, verified lookups, stores that never fail the run."""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parmap._cache_record import (
    PROTOCOL,
    BadRecordError,
    Signer,
    dump_result,
    make_record,
    open_record,
)
from parmap._cache_store import TOUCH_GRANULARITY, Store
from parmap._canonical import encode
from parmap._version import __version__
from parmap.errors import CacheWarning

if TYPE_CHECKING:
    from parmap.cache import Cache

__all__ = ["BoundCache"]

_SHOWN_BAD = 10  # bad entries listed by name in one warning
_UNCACHEABLE = b"uncacheable:"  # prefix of one-off keys; real keys are 32-byte digests


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


class BoundCache:
    """One run's view of a cache: keys for its function and constant arguments.

    Built by :meth:`Cache.bind`. Not for use across ``fork``: only the process that bound it
    calls it (the engine does all cache work in the parent process).
    """

    def __init__(self, cache: Cache, prefix: Any, /, *, name: str, disabled: bool = False) -> None:
        self._cache = cache
        self._prefix = prefix
        self._scope = prefix.copy().digest()
        self._name = name
        self._registered = False
        self._disabled = disabled
        self._warned_key = False

    @property
    def name(self) -> str:
        """The bound function's ``module:qualname``."""
        return self._name

    def key(self, args: tuple[Any, ...], /) -> bytes:
        """Return the 32-byte key of one item's argument tuple.

        An item with no stable encoding (see :mod:`parmap._canonical`) gets a one-off key that
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
            return self._cache._session()
        except (OSError, sqlite3.Error, ValueError) as exc:
            self._disabled = True
            _warn(
                f"the cache in {self._cache.directory} cannot be used for {self._name}: "
                f"{type(exc).__name__}: {exc}\n  while {doing}\n"
                "  the run goes on without the cache; check the directory and the secret "
                "(PARMAP_CACHE_SECRET or ~/.config/parmap/secret)"
            )
            return None

    def lookup(self, keys: Sequence[bytes], /) -> dict[bytes, Any]:
        """Return the verified results stored under ``keys``; bad entries are left out."""
        session = self._session("looking up results")
        if session is None or not keys:
            return {}
        store, signer = session
        try:
            records = store.get(keys)
        except sqlite3.Error as exc:
            _warn(f"reading the cache {store.path} failed: {exc}; those items are recomputed")
            return {}
        hits: dict[bytes, Any] = {}
        bad: list[str] = []
        now = time.time()
        stale: list[bytes] = []  # hits whose last-use time is worth rewriting
        for key, (record, used) in records.items():
            try:
                hits[key] = open_record(signer, key, record)
            except BadRecordError as exc:
                bad.append(f"entry {key.hex()[:16]}: {exc.reason}")
                continue
            if used < now - TOUCH_GRANULARITY:
                stale.append(key)
        if bad:
            shown = "\n".join(f"  {line}" for line in bad[:_SHOWN_BAD])
            more = f"\n  ... and {len(bad) - _SHOWN_BAD} more" if len(bad) > _SHOWN_BAD else ""
            _warn(
                f"{len(bad)} cache entr{'y' if len(bad) == 1 else 'ies'} of {self._name} in "
                f"{store.path} did not verify and will be recomputed and overwritten:\n"
                f"{shown}{more}\n  run `parmap cache verify {self._cache.directory}` to check "
                "the whole cache"
            )
        if stale:
            # Last-use times only steer pruning: a busy or read-only cache may skip them.
            with contextlib.suppress(sqlite3.Error):
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
        rows = []
        for key, value in entries:
            try:
                pickled = dump_result(value)
            except pickle.PicklingError as exc:
                _warn(f"a result of {self._name} was not cached (entry {key.hex()[:16]}): {exc}")
                continue
            record = make_record(signer, key, pickled, codec=self._cache._codec)
            rows.append((key, self._scope, record))
        now = time.time()
        try:
            function = None
            if not self._registered:
                library = f"parmap {__version__}, pickle protocol {PROTOCOL}"
                function = (self._scope, self._name, library)
            store.put(rows, now=now, function=function)
            self._registered = True
            limit = self._cache._max_bytes
            total = store.totals()[1] if limit is not None else 0
            if limit is not None and total > limit:
                store.delete(store.oldest(total - limit * 9 // 10))
        except (sqlite3.Error, OSError) as exc:
            _warn(
                f"storing {len(rows)} result(s) of {self._name} in {store.path} failed: "
                f"{type(exc).__name__}: {exc}\n  the run goes on; those items will be "
                "recomputed next time (is the disk full or the directory read-only?)"
            )

    def close(self) -> None:
        """End this run's use of the cache (closes the connection; reopened on next use)."""
        self._cache.close()
