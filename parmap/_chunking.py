"""Adaptive chunk sizes: measure how long items take, aim each task at a useful duration."""

from __future__ import annotations

import math
from typing import Final

#: A task should take about this long: long enough that the per-task cost
#: (a fraction of a millisecond through a pipe) is a percent or two of it,
#: short enough that workers stay balanced and results flow back steadily.
TARGET_SECONDS: Final = 0.04
#: Never more items than this in one task (bounds memory and latency).
MAX_CHUNK: Final = 50_000


class ChunkSizer:
    """Picks the next chunk's size from a running estimate of seconds per item.

    Args:
        workers: number of workers sharing the work.
        fixed: the caller's ``chunksize`` option; when given it is always used.
    """

    def __init__(self, workers: int, fixed: int | None = None) -> None:
        self.workers = workers
        self.fixed = fixed
        self.per_item: float | None = None
        self._weight = 0

    def observe(self, seconds: float, items: int, /) -> None:
        """Fold in a measurement: ``items`` items took ``seconds`` of work."""
        if items <= 0:
            return
        sample = max(seconds, 0.0) / items
        # A mean weighted by item count: early chunks of one item must not
        # outweigh a later chunk of a thousand.
        weight = min(items, 10_000)
        if self.per_item is None:
            self.per_item, self._weight = sample, weight
        else:
            total = self._weight + weight
            self.per_item = (self.per_item * self._weight + sample * weight) / total
            self._weight = min(total, 100_000)

    def next_size(self, remaining: int | None, /) -> int:
        """How many items the next task should hold.

        Args:
            remaining: items not yet submitted, when the input's length is known.
        """
        if self.fixed is not None:
            return self.fixed
        if self.per_item is None:
            size = 1
        elif self.per_item <= 0:
            size = MAX_CHUNK
        else:
            size = max(1, min(MAX_CHUNK, int(TARGET_SECONDS / self.per_item)))
        if remaining is not None:
            # Towards the end, smaller chunks: split what is left so that every
            # worker gets several pieces and none idles behind a straggler.
            size = min(size, max(1, math.ceil(remaining / (4 * self.workers))))
        return size
