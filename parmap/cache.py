"""The on-disk result cache behind ``cache=DIR``: keys, authenticated entries, reuse across runs.

A :class:`Cache` is a directory holding one SQLite database (see :mod:`parmap._cache.store` for
why, and for atomicity and concurrency). A run binds its function once (:meth:`Cache.bind`),
which fingerprints the function (:mod:`parmap._cache.fingerprint`); the returned :class:`BoundCache`
turns each item's argument tuple into a key and looks up and stores results.

**Keys.** ``sha256(FORMAT_VERSION, fingerprint(func), canonical(const), version, canonical(args))``
where ``canonical`` is :func:`parmap._cache.fingerprint.encode`. The item's index is not part of
the key, so appending items to the input computes only the new ones, and keys are the same under any
``PYTHONHASHSEED``, start method, worker count or chunk size. Entries are content-addressed:
reverting an edit to the function finds the old entries again.

**Integrity.** Each entry is a record (:mod:`parmap._cache.record`) with a magic, the format
version and an HMAC-SHA256 tag over key, header and payload, made with a secret that lives
outside the directory (:mod:`parmap._cache.secret`). The tag is checked before anything is
decompressed or unpickled; an entry that fails is left out of :meth:`BoundCache.lookup` with a
:class:`~parmap.errors.CacheWarning` naming the database file and the entry, and the fresh result
overwrites it. A cache copied from another user or machine fails the same way unless its secret
is handed over with ``Cache(secret=...)``.

**Costs**, measured with ``python benchmarks/cache_costs.py --end-to-end`` (2-core Linux VM,
Python 3.11, SQLite 3.40, ext4; the first figure on a quiet machine, the second under load):

* ``key()``: a small int or string 1.4-1.8 µs (5 µs), a 3-tuple of scalars 2.2 µs (6 µs), a
  nested tuple 5-6 µs, a dict of 5 items 7-10 µs, a small dataclass 13-25 µs.
* ``store()``: 110-160 µs for a call with one entry, 17-33 µs per entry in calls of 100 (one
  transaction each). ``lookup()``: 10-16 µs per hit in batches of 1,000 (HMAC check and
  unpickling included).
* ``durable=True`` fsyncs the log at every commit: 0.3-3 ms per ``store()`` call on this disk
  (the spread is the disk's, not ours), 30-90 µs per entry in calls of 100. Worth it only when a
  result costs far more than that and a power cut (not a crash) is the risk.
* Compression of a 6.2 KB pickled result (200 small dicts): zlib level 6 makes it 1.4 KB (4.5x)
  for about 200-400 µs more per ``store()``; zstd level 3 (``compress=True`` when zstandard is
  installed) 1.3 KB (4.9x) for 0-100 µs more; reading back costs about the same as raw.
* Through ``parallel_map`` (2 workers, fork): a fully cached rerun of 64 x 20 ms items takes
  0.005-0.009 s against 0.78-0.90 s cold (under 1/80); on a cold run of 200 x 10 ms items the
  cache adds -1 to +4.5 % (median of 5, noise included). Per run the fixed cost is opening the
  database (1 ms; a new one about 5 ms) and its checkpoint when the run closes it (two fsyncs).

**Failures never fail the run.** A directory that cannot be written, a full disk, a result that
cannot be pickled, a secret that cannot be read: each gives a ``CacheWarning`` and the run goes
on computing. Only misuse raises (a wrong option type, an item with no stable key).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from parmap._cache.admin import (
    CacheInfo,
    PruneResult,
    VerifyResult,
    clear,
    clear_aside,
    info,
    prune,
    verify,
)
from parmap._cache.bound import BoundCache
from parmap._cache.canonical import global_name
from parmap._cache.db import Mode
from parmap._cache.files import CacheRefusedError
from parmap._cache.fingerprint import encode, fingerprint
from parmap._cache.record import (
    FORMAT_VERSION,
    Signer,
    choose_codec,
)
from parmap._cache.secret import load_secret
from parmap._cache.store import Store
from parmap.errors import CacheWarning

__all__ = [
    "BoundCache",
    "Cache",
    "CacheInfo",
    "CacheRefusedError",
    "PruneResult",
    "VerifyResult",
    "as_cache",
]

_KEY_DOMAIN = b"parmap-key\0"


def _is_path(value: object) -> bool:
    return isinstance(value, str | os.PathLike)


class Cache:
    """A cache directory and its settings; cheap to build, opened on first use.

    Args:
        directory: where the cache lives; created on first store.
        durable: fsync every ``store()`` (survives power loss, not only crashes); costs 0.3-3
            ms per call, see the module docstring.
        secret: the authentication secret (>= 16 bytes), to share a cache on purpose; by default
            ``PARMAP_CACHE_SECRET`` or the per-user secret file.
        version: a string mixed into every key, for what the fingerprint cannot see (data files,
            external services, code in other modules): change it to recompute.
        compress: ``True`` (zstd if installed, else zlib), ``"zstd"``, ``"zlib"`` or ``False``.
        max_bytes: after each store, drop least-recently-used entries beyond this size.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        /,
        *,
        durable: bool = False,
        secret: bytes | None = None,
        version: str | None = None,
        compress: bool | str = False,
        max_bytes: int | None = None,
    ) -> None:
        if not _is_path(directory):
            msg = f"`cache` must be a directory path or a Cache, got {type(directory).__name__}"
            raise TypeError(msg)
        given: object = version
        if not isinstance(given, str | None):
            msg = f"`version` must be a string or None, got {type(given).__name__}"
            raise TypeError(msg)
        if max_bytes is not None and (
            not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0
        ):
            msg = f"`max_bytes` must be a positive integer or None, got {max_bytes!r}"
            raise ValueError(msg)
        if secret is not None:
            load_secret(secret)  # validates it now rather than at the first store
        self._directory = pathlib.Path(os.fspath(directory)).expanduser().absolute()
        self._durable = bool(durable)
        self._secret_given = secret
        self._version = version
        self._codec = choose_codec(compress)
        self._max_bytes = max_bytes
        self._store: Store | None = None
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Cache({str(self._directory)!r})"

    @property
    def directory(self) -> pathlib.Path:
        """The cache directory (absolute)."""
        return self._directory

    def _open(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self._directory, durable=self._durable, mode="run")
            return self._store

    @contextlib.contextmanager
    def _admin(self, mode: Mode) -> Iterator[Store]:
        """A store of its own for one admin call: never the run's, never left open."""
        store = Store(self._directory, durable=self._durable, mode=mode)
        try:
            yield store
        finally:
            store.close()

    def bind(self, func: Callable[..., Any], /, *, const: tuple[Any, ...] = ()) -> BoundCache:
        """Fingerprint ``func`` once and return the view one run uses.

        A function or constant arguments that cannot be fingerprinted give a
        :class:`~parmap.errors.CacheWarning` and a view that caches nothing: the run goes on.
        """
        name = global_name(func)
        try:
            material = [
                _KEY_DOMAIN,
                b"%d;" % FORMAT_VERSION,
                fingerprint(func),
                encode(tuple(const)),
                encode(self._version),
            ]
        except Exception as exc:  # noqa: BLE001 - any failure here only turns caching off
            warnings.warn(
                f"results of {name} are not cached: its fingerprint cannot be computed "
                f"({type(exc).__name__}: {exc}); the run goes on without the cache",
                CacheWarning,
                stacklevel=2,
            )
            return BoundCache(self, hashlib.sha256(), name=name, disabled=True)
        return BoundCache(self, hashlib.sha256(b"".join(material)), name=name)

    @property
    def codec(self) -> str:
        """How records are compressed (``"zlib"``, ``"zstd"`` or none)."""
        return self._codec

    @property
    def max_bytes(self) -> int | None:
        """The size past which stores prune the oldest entries, if set."""
        return self._max_bytes

    def session(self) -> tuple[Store, Signer]:
        """Open the store and load the secret (raises OSError / sqlite3.Error / ValueError)."""
        store = self._open()
        with self._lock:
            if self._signer is None:
                self._signer = Signer(load_secret(self._secret_given))
            return store, self._signer

    def info(self) -> CacheInfo:
        """Return entries, bytes, functions and last use (FileNotFoundError if no cache).

        Raises:
            CacheRefusedError: the directory holds a database parmap must not use (not a
                parmap cache, damaged, a link); nothing is changed.
        """
        with self._admin("read") as store:
            return info(store)

    def verify(self, *, remove_bad: bool = False) -> VerifyResult:
        """Check every entry's tag (and that it loads); with ``remove_bad``, delete bad ones."""
        signer = Signer(load_secret(self._secret_given))
        with self._admin("write" if remove_bad else "read") as store:
            return verify(store, signer, remove_bad)

    def prune(
        self,
        *,
        older_than: float | None = None,
        max_bytes: int | None = None,
        function: str | None = None,
    ) -> PruneResult:
        """Remove entries unused for ``older_than`` seconds, of ``function`` (its name as in
        :meth:`info`), and then least-recently-used ones until at most ``max_bytes`` remain."""
        with self._admin("write") as store:
            return prune(store, older_than=older_than, max_bytes=max_bytes, function=function)

    def clear(self) -> PruneResult:
        """Remove every entry; return what was removed.

        A damaged or emptied database is moved aside (its new name is in the result), so that
        the cache starts empty; one that is not a parmap cache is refused and left alone.
        """
        try:
            with self._admin("write") as store:
                return clear(store)
        except CacheRefusedError as exc:
            if exc.kind not in ("damaged", "emptied"):
                raise
            return clear_aside(exc)

    def close(self) -> None:
        """Close the database connection; the cache reopens on next use."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def as_cache(spec: str | os.PathLike[str] | Cache | None, /) -> Cache | None:
    """Normalise the ``cache`` option: None, a directory path, or a :class:`Cache`.

    Raises:
        TypeError: ``spec`` is none of those.
    """
    if spec is None or isinstance(spec, Cache):
        return spec
    if _is_path(spec):
        return Cache(spec)
    msg = (
        f"`cache` must be a directory path, a parmap.cache.Cache or None, "
        f"got {type(spec).__name__}: {spec!r:.60}"
    )
    raise TypeError(msg)
