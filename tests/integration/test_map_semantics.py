"""parallel_map and imap give what builtin ``map`` gives, on every way to run.

Written from the documented behaviour of ``map``, ``zip``, ``Executor.map``
and ``functools.reduce``: several iterables are zipped and the shortest ends
the results; each input is iterated once; results come in input order; an
exception (from the function or from the input) is raised once every earlier
result has been produced; a ``StopIteration`` raised by the function ends
``map``'s results there. The oracle is ``map`` itself, run on a fresh copy
of the same input.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import parmap
from tests import helpers

pytestmark = pytest.mark.timeout(60)


def _consume(results: Iterator[Any]) -> tuple[list[Any], tuple[type, str] | None]:
    """Every result an iterator gives, and the exception that ended it (type, text)."""
    got: list[Any] = []
    try:
        for value in results:
            got.append(value)
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt is one of the cases
        return got, (type(exc), str(exc))
    return got, None


def _broken_input(good: int) -> Iterator[int]:
    yield from range(good)
    raise ValueError(f"the input broke after {good} items")


class _Once:
    """An iterable that gives its items to the first iter() only."""

    def __init__(self, items: list[int]) -> None:
        self._items: list[int] | None = items

    def __iter__(self) -> Iterator[int]:
        items, self._items = self._items or [], None
        return iter(items)


# name -> (function, a factory of the input iterables: called once per run)
CASES: dict[str, tuple[Callable[..., Any], Callable[[], tuple[Any, ...]]]] = {
    "empty": (helpers.square, lambda: ([],)),
    "one item": (helpers.square, lambda: ([7],)),
    "range": (helpers.square, lambda: (range(50),)),
    "a string": (ord, lambda: ("parmap",)),
    "dict keys": (str.upper, lambda: ({"b": 1, "a": 2, "c": 3},)),
    "none results": (helpers.identity, lambda: ([None, 0, "", None],)),
    "unequal inputs": (helpers.add, lambda: ([1, 2, 3, 4], [10, 20])),
    "unequal, shortest first": (helpers.add, lambda: ([1], range(100))),
    "three inputs": (max, lambda: ([1, 5, 3], [4, 2, 6], [0, 9, 1, 8])),
    "one empty of two": (helpers.add, lambda: ([1, 2], [])),
    "a generator": (helpers.square, lambda: ((x for x in range(20)),)),
    "an iterator": (helpers.square, lambda: (iter([3, 1, 2]),)),
    "iterated once": (helpers.square, lambda: (_Once([1, 2, 3]),)),
    "tuples are single arguments": (helpers.identity, lambda: ([(1, 2), (3, 4)],)),
    "zipped generators": (helpers.pair, lambda: ((x for x in "abc"), (y for y in range(9)))),
    "function raises": (helpers.fail_on, lambda: (range(8),)),
    "function raises on the first": (functools.partial(helpers.fail_on, bad=0), lambda: ([0, 1],)),
    "function raises StopIteration": (helpers.stop_iteration_on, lambda: (range(8),)),
    "function raises KeyboardInterrupt": (helpers.interrupt_on, lambda: (range(6),)),
    "function raises SystemExit": (helpers.system_exit_on, lambda: (range(6),)),
    "input raises": (helpers.square, lambda: (_broken_input(3),)),
    "input raises at once": (helpers.square, lambda: (_broken_input(0),)),
    "zero division in a chunk": (divmod, lambda: ([5, 5, 7], [2, 0, 3])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_imap_gives_what_map_gives(case: str, run_options: dict[str, Any]) -> None:
    func, make = CASES[case]
    expected = _consume(map(func, *make()))
    assert _consume(parmap.imap(func, *make(), **run_options)) == expected


@pytest.mark.parametrize(
    "case",
    ["range", "unequal inputs", "iterated once", "function raises", "input raises"],
)
def test_parallel_map_gives_what_list_of_map_gives(case: str, run_options: dict[str, Any]) -> None:
    func, make = CASES[case]
    try:
        expected: Any = list(map(func, *make()))
    except Exception as exc:  # noqa: BLE001 - the oracle's exception is the expectation
        expected = (type(exc), str(exc))
    try:
        got: Any = parmap.parallel_map(func, *make(), **run_options)
    except Exception as exc:  # noqa: BLE001
        got = (type(exc), str(exc))
    assert got == expected


def test_an_error_never_overtakes_earlier_results(run_options: dict[str, Any]) -> None:
    # Both items travel in one chunk; the first result still comes first.
    results = parmap.imap(divmod, [5, 5], [2, 0], chunksize=2, **run_options)
    assert next(results) == (2, 1)
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_zip_takes_from_the_inputs_as_map_does(run_options: dict[str, Any]) -> None:
    # map pulls the first input's next item before it finds the second exhausted.
    mine, theirs = iter(range(10)), iter(range(10))
    list(map(helpers.add, theirs, [0, 0]))
    parmap.parallel_map(helpers.add, mine, [0, 0], **run_options)
    assert next(mine) == next(theirs)


def test_huge_lengths_are_read_lazily(run_options: dict[str, Any]) -> None:
    huge = range(10**20)  # len() overflows: the length is simply unknown
    first = list(itertools.islice(parmap.imap(helpers.square, huge, **run_options), 5))
    assert first == list(itertools.islice(map(helpers.square, huge), 5))


def test_closing_imap_early_stops_the_run(run_options: dict[str, Any]) -> None:
    results = parmap.imap(helpers.square, range(10_000), **run_options)
    assert next(results) == 0
    results.close()  # type: ignore[attr-defined]
    with pytest.raises(StopIteration):
        next(results)
    # The no_leftover_processes fixture checks that the workers are gone.


def test_not_iterable_names_the_argument() -> None:
    with pytest.raises(TypeError, match=r"^parallel_map\(\) argument 3 must be iterable, got int$"):
        parmap.parallel_map(helpers.add, [1], 5, backend="serial")


def test_an_error_inside_the_users_iter_is_not_hidden() -> None:
    class Broken:
        def __iter__(self) -> Iterator[int]:
            raise TypeError("my own __iter__ failed")

    with pytest.raises(TypeError, match=r"^my own __iter__ failed$"):
        parmap.parallel_map(helpers.square, Broken(), backend="serial")
    with pytest.raises(TypeError, match=r"^my own __iter__ failed$"):
        parmap.map_reduce(helpers.square, operator.add, Broken(), backend="serial")


def test_serial_refuses_a_timeout_it_cannot_keep() -> None:
    with pytest.raises(ValueError, match=r"^`timeout` cannot be kept by backend='serial'"):
        parmap.parallel_map(helpers.square, [1], backend="serial", timeout=0.2)
    with pytest.raises(ValueError, match=r"^`timeout` cannot be kept by backend='SerialBackend'"):
        parmap.parallel_map(helpers.square, [1], backend=parmap.SerialBackend(), timeout=0.2)


# -- map_reduce against functools.reduce ----------------------------------------------

REDUCE_CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[[], Any]]] = {
    "sum": (helpers.square, operator.add, lambda: range(100)),
    "order kept": (str, operator.add, lambda: range(60)),
    "one item": (helpers.square, operator.add, lambda: [4]),
    "iterated once": (helpers.identity, operator.add, lambda: _Once([1, 2, 3])),
    "a generator": (helpers.identity, operator.mul, lambda: (x for x in range(1, 9))),
}


@pytest.mark.parametrize("case", list(REDUCE_CASES))
def test_map_reduce_gives_what_reduce_gives(case: str, run_options: dict[str, Any]) -> None:
    mapper, reducer, make = REDUCE_CASES[case]
    expected = functools.reduce(reducer, map(mapper, make()))
    assert parmap.map_reduce(mapper, reducer, make(), **run_options) == expected


def test_map_reduce_with_initial_as_reduce(run_options: dict[str, Any]) -> None:
    expected = functools.reduce(operator.add, map(str, range(30)), "start:")
    got = parmap.map_reduce(str, operator.add, range(30), initial="start:", **run_options)
    assert got == expected
    assert parmap.map_reduce(str, operator.add, [], initial="x", **run_options) == "x"


def test_map_reduce_of_nothing_raises_as_reduce() -> None:
    with pytest.raises(TypeError, match=r"of empty iterable with no initial value"):
        functools.reduce(operator.add, [])
    with pytest.raises(
        TypeError, match=r"^map_reduce\(\) of empty iterable with no initial value$"
    ):
        parmap.map_reduce(helpers.square, operator.add, [], backend="serial")
