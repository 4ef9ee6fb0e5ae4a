"""Inspection and upkeep of a cache directory: info, verify, prune and clear, with their reports.

Everything shown comes from an untrusted file: text read from the database is printed with
its non-printable characters escaped (``\\x1b``), so it can never drive the terminal.
"""

from __future__ import annotations

import dataclasses
import datetime
import time

from parmap._cache.db import set_aside
from parmap._cache.files import CacheRefusedError, check_file
from parmap._cache.record import Signer
from parmap._cache.store import Store

__all__ = [
    "CacheInfo",
    "FunctionInfo",
    "PruneResult",
    "VerifyResult",
    "clear",
    "clear_aside",
    "info",
    "printable",
    "prune",
]


def printable(text: str, /) -> str:
    """``text`` with every non-printable character written as its escape (``\\x1b``)."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


@dataclasses.dataclass(frozen=True)
class FunctionInfo:
    """The entries of one function (one fingerprint, constant arguments and version)."""

    name: str
    entries: int
    bytes: int
    last_used: float | None
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
            f"cache: {printable(self.path)}",
            f"entries: {self.entries:,}  ({_size(self.bytes)} of results, "
            f"{_size(self.file_bytes)} on disk)",
            f"last use: {_when(self.last_used)}",
            f"created: {_when(_number(self.meta.get('created')))}"
            f"  by {printable(self.meta.get('created_by', '?'))}",
            f"functions: {len(self.functions)}",
        ]
        lines += [
            f"  {printable(fn.name)}: {fn.entries:,} entries, {_size(fn.bytes)}, "
            f"last use {_when(fn.last_used)} (python {printable(fn.python)})"
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
        head = f"checked {self.checked:,} entries in {printable(self.path)}: "
        if self.ok:
            return head + "all verified"
        lines = [head + f"{len(self.bad)} bad"]
        lines += [
            f"  entry {printable(key)} ({printable(name)}): {printable(reason)}"
            for key, name, reason in self.bad
        ]
        if self.removed:
            lines.append(f"removed {self.removed} bad entries")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """What ``prune`` or ``clear`` removed; ``moved_to`` names a database moved aside."""

    path: str
    entries: int
    bytes: int
    moved_to: str | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.moved_to is not None:
            return (
                f"{printable(self.path)} could not be read: {printable(self.reason)}\n"
                f"moved it to {printable(self.moved_to)}; the cache is now empty (delete that "
                "file once you no longer need it)"
            )
        return f"removed {self.entries:,} entries ({_size(self.bytes)}) from {printable(self.path)}"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "?"
    try:
        moment = datetime.datetime.fromtimestamp(stamp).astimezone()
    except (OverflowError, OSError, ValueError):
        return "?"
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
        FunctionInfo(row.name, row.entries, row.bytes, row.last_used, row.python, row.library)
        for row in store.functions()
    )
    entries, size = store.totals()
    last = max((fn.last_used for fn in functions if fn.last_used is not None), default=None)
    return CacheInfo(
        str(store.path), entries, size, _file_bytes(store), last, functions, store.meta()
    )


def verify(store: Store, signer: Signer, remove_bad: bool, /) -> VerifyResult:
    """Check every entry's columns, tag and that it loads; optionally delete the bad ones."""
    names = {row.scope: row.name for row in store.functions()}
    checked = 0
    bad: list[tuple[str, str, str]] = []
    bad_rows: list[int] = []
    for row in store.scan(signer):
        checked += 1
        if row.reason is not None:
            name = names.get(row.scope, "?") if isinstance(row.scope, bytes) else "?"
            bad.append((row.key, name, row.reason))
            bad_rows.append(row.rowid)
    removed = store.delete_rows(bad_rows) if remove_bad and bad_rows else 0
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
        known = sorted({row.name for row in store.functions()})
        if function is not None and function not in known:
            shown = ", ".join(printable(name) for name in known)
            msg = f"no function named {function!r} in the cache; it holds: {shown}"
            raise LookupError(msg)
        store.remove(before=before, names=names)
    if max_bytes is not None:
        excess = store.totals()[1] - max_bytes
        if excess > 0:
            store.delete_rows(store.oldest(excess))
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


def clear_aside(refused: CacheRefusedError, /) -> PruneResult:
    """Clear a database that cannot be read (damaged, emptied) by moving it aside."""
    found = check_file(refused.path)
    aside = None if found is None else set_aside(refused.path, found, label=refused.kind)
    moved_to = "(already moved by another process)" if aside is None else aside.name
    return PruneResult(str(refused.path), 0, 0, moved_to=moved_to, reason=refused.reason)
