"""Reading a run's input lazily: consecutive items in segments, cache hits set aside."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Segment:
    """Items with consecutive indices, read but not yet submitted."""

    start: int
    args: list[Any]
    single: bool = False  # submit alone: a retry, or a suspect after a worker death


class Input:
    """The input of one run, read a batch at a time, never further than asked.

    Args:
        arguments: the items, or argument tuples when ``star``.
        total: the number of items, when known.
        star: items are argument tuples (several iterables were zipped).
        cache: the run's bound cache, or None.

    Attributes:
        pending: segments read (or sent back) and waiting to be submitted.
        keys: cache keys of the items not yet stored, by index.
        read: how many items have been read.
        exhausted: the input has no more items (or it raised, or the run needs no more).
        error: what the input raised after its first ``read`` items, if it did;
            like ``map``, the run raises it after yielding their results.
    """

    def __init__(self, arguments: Iterator[Any], total: int | None, star: bool, cache: Any) -> None:
        self._arguments = arguments
        self._total = total
        self._star = star
        self._cache = cache
        self.pending: deque[Segment] = deque()
        self.keys: dict[int, bytes] = {}
        self.read = 0
        self.exhausted = False
        self.error: Exception | None = None

    def read_more(self, count: int, /) -> list[tuple[int, Any]]:
        """Read up to ``count`` items; returns the cache hits, the rest goes to ``pending``."""
        batch: list[Any] = []
        if self.exhausted:
            return []
        try:
            # extend() keeps the items read before the input raised.
            batch.extend(itertools.islice(self._arguments, count))
        except Exception as exc:  # noqa: BLE001 - raised in its turn, after earlier results
            self.error = exc
            self.exhausted = True
        if len(batch) < count:
            self.exhausted = True
        start = self.read
        self.read += len(batch)
        if not batch:
            return []
        if self._cache is None:
            self.pending.append(Segment(start, batch))
            return []
        star = self._star
        keys = [self._cache.key(args if star else (args,)) for args in batch]
        found = self._cache.lookup(keys)
        hits: list[tuple[int, Any]] = []
        run_start = start
        for index, key in enumerate(keys, start):
            if key in found:
                if run_start < index:
                    misses = batch[run_start - start : index - start]
                    self.pending.append(Segment(run_start, misses))
                hits.append((index, found[key]))
                run_start = index + 1
            else:
                self.keys[index] = key
        if run_start < start + len(batch):
            self.pending.append(Segment(run_start, batch[run_start - start :]))
        return hits

    def remaining(self) -> int | None:
        """Items not yet submitted, when the input's length is known."""
        if self._total is None:
            return None
        return self._total - self.read + sum(len(s.args) for s in self.pending)

    def stop_at(self, index: int, /) -> None:
        """Read nothing more; drop what is pending from ``index`` on (no result is needed)."""
        self.exhausted = True
        kept: deque[Segment] = deque()
        for segment in self.pending:
            if segment.start < index:
                segment.args = segment.args[: index - segment.start]
                kept.append(segment)
        self.pending = kept
        for stale in [i for i in self.keys if i >= index]:
            del self.keys[stale]

    def send_back(self, segments: list[Segment], /) -> None:
        """Put segments at the front of ``pending``, in their order (they run next)."""
        self.pending.extendleft(reversed(segments))
