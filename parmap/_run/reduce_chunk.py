"""What map_reduce runs in a worker: map and reduce one chunk of items into a partial result.

Imported by every worker that runs a map_reduce, so it imports nothing heavy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from parmap._names import short_repr
from parmap._transport.remote import mark_inner_item

#: A chunk travels as ``(index of its first item, its items)``.
Chunk = tuple[int, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Skipped:
    """An item left out of the reduction (``on_error="skip"``).

    Attributes:
        index: the item's index in the input.
        item: a short repr of the item.
        error: ``"TypeName: message"`` of what it raised.
    """

    index: int
    item: str
    error: str


@dataclass(frozen=True, slots=True)
class Partial:
    """The reduction of one chunk, on its way back to the caller.

    Attributes:
        count: how many items were reduced (0 when every item was skipped).
        value: the reduced value; meaningless when ``count`` is 0 and the chunk
            did not start from ``initial``.
        seeded: ``value`` started from a copy of ``initial``.
        skipped: the items left out, in input order.
    """

    count: int
    value: Any
    seeded: bool
    skipped: tuple[Skipped, ...] = ()


class ChunkReducer:
    """A picklable callable: ``reduce(reducer, map(mapper, chunk))`` for one chunk.

    Without ``combine`` a chunk starts from its first mapped value (``initial``
    is folded in once, by the caller). With ``combine`` the per-item reducer may
    take an accumulator of another type than the mapped values, so each chunk
    starts from a deep copy of ``initial``, which must then be an identity of
    ``combine`` (an empty dict, 0, []).

    Args:
        mapper: called on each item.
        reducer: folds a mapped value into the accumulator.
        initial: the seed of every chunk when ``seeded``; else unused.
        seeded: start each chunk from a copy of ``initial``.
        skip: leave failing items out (recording them) instead of raising.
        retries: extra attempts of the mapper on an item raising one of ``retry_on``.
        retry_on: exception types worth another attempt.
    """

    __slots__ = (
        "__name__",
        "initial",
        "mapper",
        "reducer",
        "retries",
        "retry_on",
        "seeded",
        "skip",
    )

    def __init__(
        self,
        mapper: Callable[[Any], Any],
        reducer: Callable[[Any, Any], Any],
        /,
        *,
        initial: Any,
        seeded: bool,
        skip: bool,
        retries: int,
        retry_on: tuple[type[BaseException], ...],
    ) -> None:
        self.mapper = mapper
        self.reducer = reducer
        self.initial = initial
        self.seeded = seeded
        self.skip = skip
        self.retries = retries
        self.retry_on = retry_on
        self.__name__ = getattr(mapper, "__name__", "mapper")

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __call__(self, chunk: Chunk, /) -> Partial:
        start, items = chunk
        skipped: list[Skipped] = []
        count = 0
        value: Any = copy.deepcopy(self.initial) if self.seeded else None
        for index, item in enumerate(items, start):
            role = "mapper"
            try:
                mapped = self._map(item)
                role = "reducer"
                value = self.reducer(value, mapped) if count or self.seeded else mapped
            except Exception as exc:
                if not self.skip:
                    mark_inner_item(exc, index=index, item=item, role=role)
                    raise
                skipped.append(Skipped(index, short_repr(item), _describe(exc)))
                continue
            count += 1
        return Partial(count, value, self.seeded, tuple(skipped))

    def _map(self, item: Any) -> Any:
        # Only the mapper is tried again: a reducer may have changed the
        # accumulator in place before it raised.
        for _ in range(self.retries):
            try:
                return self.mapper(item)
            except self.retry_on:
                continue
        return self.mapper(item)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
        text = "<unprintable>"
    return f"{type(exc).__qualname__}: {text}"[:200]
