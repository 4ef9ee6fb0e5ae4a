"""Find the culprits that stop an object from round-tripping, from the outside in.

The search only descends into parts that fail on their own, so an object that
pickles costs nothing here. Among many parts (a list of 10,000 items, a large
``__dict__``), the first failing one is found by bisection: pickling halves,
then quarters, … costs about two passes over the data instead of one test per
part. Objects already on the search are replaced by ``None`` in those batches,
so cycles neither loop nor blame an ancestor twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from parmap._check.edges import groups
from parmap._check.hints import describe, step_name

__all__ = ["Culprit", "Failure", "find_culprits"]

_LINEAR_BELOW: Final = 8
MAX_DEPTH: Final = 60


@dataclass(frozen=True)
class Failure:
    """How one round-trip attempt failed.

    Attributes:
        stage: ``"pickle"`` or ``"unpickle"``.
        error: the exception the serializer raised.
    """

    stage: str
    error: BaseException


@dataclass(frozen=True)
class Culprit:
    """An object that fails on its own while none of its parts does.

    Attributes:
        steps: the path below the checked object, one step per element.
        step_types: the type name of the object reached at each step, root first.
        obj: the culprit itself.
        failure: how the culprit failed when tested alone.
        holder: the object the last step was read from (``None`` for the root).
    """

    steps: tuple[str, ...]
    step_types: tuple[str, ...]
    obj: object
    failure: Failure
    holder: object | None


Tester = Callable[[object], Failure | None]


class _Search:
    """One search: the tester, what is already on the search, what was found."""

    def __init__(self, test: Tester, *, by_value: bool, limit: int) -> None:
        self.test = test
        self.by_value = by_value
        self.limit = limit
        # id -> object: holding the object keeps its id from being reused by a temporary.
        self.seen: dict[int, object] = {}
        self.found: list[Culprit] = []
        # ids of the culprits found and of every object on the way to one.
        self.guilty: set[int] = set()

    def descend(self, culprit: Culprit, depth: int) -> None:
        obj = culprit.obj
        self.seen[id(obj)] = obj
        if depth >= MAX_DEPTH or describe(obj) is not None:
            self.blame(culprit)
            return
        blamed = False
        shares_culprit = False
        try:
            for group in groups(obj, by_value=self.by_value):
                guilty = self.guilty
                shares_culprit = shares_culprit or any(id(item) in guilty for item in group.items)
                start = 0
                while len(self.found) < self.limit:
                    hit = self.first_failing(group.items, start)
                    if hit is None:
                        break
                    index, failure = hit
                    child = group.items[index]
                    labels = group.label(index)
                    types = ("",) * (len(labels) - 1) + (step_name(child),)
                    blamed = True
                    below = Culprit(
                        culprit.steps + labels, culprit.step_types + types, child, failure, obj
                    )
                    self.descend(below, depth + 1)
                    start = index + 1
                if len(self.found) >= self.limit:
                    return
        except Exception:  # noqa: BLE001 - its own reduction raised: the object is the culprit
            if blamed:
                self.guilty.add(id(obj))
                return
        if blamed:
            self.guilty.add(id(obj))
        elif not shares_culprit:
            # An object whose only failing part was reported already (a second
            # instance of the same local class) would be the same problem again.
            self.blame(culprit)

    def blame(self, culprit: Culprit) -> None:
        self.found.append(culprit)
        self.guilty.add(id(culprit.obj))

    def first_failing(self, items: Sequence[object], start: int) -> tuple[int, Failure] | None:
        """Return the first part from ``start`` on that fails on its own, with its failure."""
        low, count = start, len(items)
        while low < count:
            if count - low <= _LINEAR_BELOW:
                for index in range(low, count):
                    failure = self.test_one(items[index])
                    if failure is not None:
                        return index, failure
                return None
            if self.test_batch(items, low, count) is None:
                return None
            high = count
            while high - low > 1:
                middle = (low + high) // 2
                if self.test_batch(items, low, middle) is not None:
                    high = middle
                else:
                    low = middle
            failure = self.test_one(items[low])
            if failure is not None:
                return low, failure
            low += 1  # failed only together with others, or already on the search
        return None

    def test_one(self, item: object) -> Failure | None:
        return None if id(item) in self.seen else self.test(item)

    def test_batch(self, items: Sequence[object], low: int, high: int) -> Failure | None:
        seen = self.seen
        return self.test([None if id(item) in seen else item for item in items[low:high]])


def find_culprits(
    obj: object, failure: Failure, /, *, test: Tester, by_value: bool, limit: int = 5
) -> list[Culprit]:
    """Find up to ``limit`` culprits inside ``obj``, which failed with ``failure``.

    Args:
        obj: the object that did not round-trip.
        failure: how it failed.
        test: round-trips one object with the serializer in question.
        by_value: whether that serializer copies functions and classes by value.
        limit: the most culprits to report.

    Returns:
        The culprits in pickling order; ``obj`` itself when no part of it fails alone.
    """
    search = _Search(test, by_value=by_value, limit=limit)
    search.descend(Culprit((), (step_name(obj),), obj, failure, None), 0)
    return search.found
