"""Inspection and upkeep of a cache directory: info, verify, prune and clear, with their reports."""

from __future__ import annotations

import dataclasses
import datetime
import time

from parmap._cache_record import BadRecordError, Signer, open_record
from parmap._cache_store import Store

__all__ = ["CacheInfo", "FunctionInfo", "PruneResult", "VerifyResult", "clear", "info", "prune"]


@dataclasses.dataclass(frozen=True)
class FunctionInfo:
    """The entries of one function (one fingerprint, constant arguments and version)."""

    name: str
    entries: int
    bytes: int
    last_used: float
    python: str
    library: str


@dataclasses.dataclass(frozen=True)
class CacheInfo:
    """What ``parmap cache info`` shows."""

    path: str
    entries: int
    bytes: int
    file_bytes: int
    last_used: float | None
    functions: tuple[FunctionInfo, ...]
    meta: dict[str, str]

    def __str__(self) -> str:
        lines = [
            f"cache: {self.path}",
            f"entries: {self.entries:,}  ({_size(self.bytes)} of results, "
            f"{_size(self.file_bytes)} on disk)",
            f"last use: {_when(self.last_used)}",
            f"created: {_when(float(self.meta['created'])) if 'created' in self.meta else '?'}"
            f"  by {self.meta.get('created_by', '?')}",
            f"functions: {len(self.functions)}",
        ]
        lines += [
            f"  {fn.name}: {fn.entries:,} entries, {_size(fn.bytes)}, "
            f"last use {_when(fn.last_used)} (python {fn.python})"
            for fn in self.functions
        ]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What ``parmap cache verify`` found: entries checked and the bad ones, with reasons."""

    path: str
    checked: int
    bad: tuple[tuple[str, str, str], ...]  # (entry key hex, function name, reason)
    removed: int = 0

    @property
    def ok(self) -> bool:
        """True when every entry verified."""
        return not self.bad

    def __str__(self) -> str:
        head = f"checked {self.checked:,} entries in {self.path}: "
        if self.ok:
            return head + "all verified"
        lines = [head + f"{len(self.bad)} bad"]
        lines += [f"  entry {key} ({name}): {reason}" for key, name, reason in self.bad]
        if self.removed:
            lines.append(f"removed {self.removed} bad entries")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """What ``prune`` or ``clear`` removed."""

    path: str
    entries: int
    bytes: int

    def __str__(self) -> str:
        return f"removed {self.entries:,} entries ({_size(self.bytes)}) from {self.path}"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    moment = datetime.datetime.fromtimestamp(stamp).astimezone()
    return moment.isoformat(sep=" ", timespec="seconds")


def _file_bytes(store: Store) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        path = store.path.with_name(store.path.name + suffix)
        if path.exists():
            total += path.stat().st_size
    return total


def info(store: Store, /) -> CacheInfo:
    """Summarise the cache: totals, per-function counts, last use."""
    functions = tuple(
        FunctionInfo(name, count, size, used, python, library)
        for _scope, name, python, library, count, size, used in store.functions()
    )
    entries, size = store.totals()
    last = max((fn.last_used for fn in functions), default=None)
    return CacheInfo(
        str(store.path), entries, size, _file_bytes(store), last, functions, store.meta()
    )


def verify(store: Store, signer: Signer, remove_bad: bool, /) -> VerifyResult:
    """Check every entry's tag and that it loads; optionally delete the bad ones."""
    names = {row[0]: row[1] for row in store.functions()}
    checked = 0
    bad: list[tuple[str, str, str]] = []
    bad_keys: list[bytes] = []
    for key, scope, record in store.scan():
        checked += 1
        try:
            open_record(signer, key, record)
        except BadRecordError as exc:
            bad.append((key.hex(), names.get(scope, "?"), exc.reason))
            bad_keys.append(key)
    removed = store.delete(bad_keys) if remove_bad and bad_keys else 0
    return VerifyResult(str(store.path), checked, tuple(bad), removed)


def prune(
    store: Store,
    /,
    *,
    older_than: float | datetime.timedelta | None,
    max_bytes: int | None,
    function: str | None,
) -> PruneResult:
    """Remove entries by age (seconds or timedelta), by function name, then by total size."""
    if isinstance(older_than, datetime.timedelta):
        older_than = older_than.total_seconds()
    if older_than is not None and older_than < 0:
        msg = f"`older_than` must be >= 0 seconds, got {older_than!r}"
        raise ValueError(msg)
    if max_bytes is not None and max_bytes < 0:
        msg = f"`max_bytes` must be >= 0, got {max_bytes!r}"
        raise ValueError(msg)
    entries_before, bytes_before = store.totals()
    if older_than is not None or function is not None:
        before = time.time() - older_than if older_than is not None else None
        names = [function] if function is not None else []
        if function is not None and function not in {row[1] for row in store.functions()}:
            known = sorted({row[1] for row in store.functions()})
            msg = f"no function named {function!r} in the cache; it holds: {', '.join(known)}"
            raise LookupError(msg)
        store.remove(before=before, names=names)
    if max_bytes is not None:
        excess = store.totals()[1] - max_bytes
        if excess > 0:
            store.delete(store.oldest(excess))
    store.forget_unused_functions()
    entries_after, bytes_after = store.totals()
    if entries_after < entries_before:
        store.compact()
    return PruneResult(str(store.path), entries_before - entries_after, bytes_before - bytes_after)


def clear(store: Store, /) -> PruneResult:
    """Remove every entry and give the space back."""
    entries, size = store.totals()
    store.remove()
    store.forget_unused_functions()
    store.compact()
    return PruneResult(str(store.path), entries, size)
