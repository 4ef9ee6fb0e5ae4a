"""Adaptive chunk sizes and look-ahead: aim each task at a useful duration, bound both in bytes.

Items are timed to size chunks, and measured in bytes so that neither a
chunk nor the items read ahead of the results grow past a memory budget:
mapping a generator of 100 kB items must keep memory flat, as ``map`` does.
"""

from __future__ import annotations

import math
from typing import Final

#: A task should take about this long: long enough that the per-task cost
#: (a fraction of a millisecond through a pipe) is a percent or two of it,
#: short enough that workers stay balanced and results flow back steadily.
TARGET_SECONDS: Final = 0.04
#: Never more items than this in one task (bounds memory and latency).
MAX_CHUNK: Final = 50_000
#: At most about this many bytes of items in one task.
CHUNK_BYTES: Final = 8 << 20
#: At most about this many bytes of items read ahead of the results yielded.
LOOKAHEAD_BYTES: Final = 64 << 20
#: Items read ahead when their size is of no concern.
LOOKAHEAD_ITEMS: Final = 1024


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
        #: Bytes per item, the largest recent estimate (0: not measured yet).
        self.item_bytes = 0.0

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

    def observe_bytes(self, nbytes: float, items: int, /) -> None:
        """Fold in a size: ``items`` items take about ``nbytes`` bytes (pickled, or in memory)."""
        if items > 0:
            sample = nbytes / items
            # Quick to rise, slow to fall: one large item is enough to be careful.
            self.item_bytes = max(sample, 0.9 * self.item_bytes + 0.1 * sample)

    def by_bytes(self, items: int, budget: int, /) -> int:
        """``items``, or fewer so that they fit in ``budget`` bytes (at least one)."""
        if self.item_bytes <= 0:
            return items
        return max(1, min(items, int(budget / self.item_bytes)))

    def lookahead(self, slots: int, /) -> int:
        """How many items may be read ahead of the results yielded."""
        items = max(LOOKAHEAD_ITEMS, 4 * slots * self.next_size(None))
        return max(2 * slots, self.by_bytes(items, LOOKAHEAD_BYTES))

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
        return self.by_bytes(size, CHUNK_BYTES)
