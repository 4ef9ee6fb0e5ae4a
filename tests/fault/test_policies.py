"""Per-item timeouts, retries and nested calls: a hanging, flaky or recursive item stays local.

A timed-out item fails as ``TimeoutError`` for that item only (its worker is replaced, or its
thread abandoned), within about a second of the limit. ``retries=N`` runs a failing item again,
only for the exception types in ``retry_on``, and a worker death or a timeout counts as a failure
of the item it hit. A ``parallel_map`` inside a worker runs in that worker: no deadlock, no new
processes.
"""

from __future__ import annotations

import functools
import os
import pathlib
import time
from typing import Any

import pytest

import parmap
from tests import helpers, helpers_fault

TIMEOUT = 0.5
#: A timed-out run must end within this many seconds (the hanging item sleeps far longer).
PROMPT = 5.0

_TIMED_OUT = r"^item 2 \(2\) ran longer than timeout=0\.5 s; its worker was stopped and replaced"


def _options(backend: str, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"workers": 2, "inline": False, "progress": False, **extra}
    if backend == "processes":
        options["start_method"] = "fork"
    else:
        options["backend"] = backend
    return options


# -- timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_timeout_raises_for_the_hanging_item(backend: str) -> None:
    # Threads cannot be killed: keep the abandoned one's sleep short.
    seconds = 30.0 if backend == "processes" else 3.0
    func = functools.partial(helpers.sleep_on, bad=2, seconds=seconds)
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=_TIMED_OUT):
        parmap.parallel_map(func, range(6), **_options(backend, timeout=TIMEOUT))
    assert time.monotonic() - began < PROMPT


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_timeout_collect_returns_every_other_result(backend: str) -> None:
    seconds = 30.0 if backend == "processes" else 3.0
    # Item 3 is the last: its worker holds no task behind it.
    func = functools.partial(helpers.sleep_on, bad=3, seconds=seconds)
    options = _options(backend, timeout=TIMEOUT, on_error="collect", chunksize=1)
    began = time.monotonic()
    results = parmap.parallel_map(func, range(4), **options)
    assert time.monotonic() - began < PROMPT
    assert results[:3] == [0, 1, 2]
    failure = results[3]
    assert isinstance(failure, parmap.Failure)
    assert (failure.index, failure.item) == (3, 3)
    assert isinstance(failure.exception, TimeoutError)
    assert str(failure.exception).startswith("item 3 (3) ran longer than timeout=0.5 s")


def test_timeout_collect_on_threads_with_items_after_the_hanging_one() -> None:
    func = functools.partial(helpers.sleep_on, bad=2, seconds=3.0)
    options = _options("threads", timeout=TIMEOUT, on_error="collect", chunksize=1)
    results = parmap.parallel_map(func, range(8), **options)
    assert [r.index for r in results if isinstance(r, parmap.Failure)] == [2]
    assert [r for r in results if not isinstance(r, parmap.Failure)] == [0, 1, 3, 4, 5, 6, 7]


def test_timeout_blames_only_the_hanging_item() -> None:
    # Item 3 keeps worker B busy, so task 4 queues on worker A behind the hanging item 2.
    func = functools.partial(helpers_fault.stall, naps={2: 30.0, 3: 0.3})
    options = _options("processes", timeout=TIMEOUT, on_error="collect", chunksize=1)
    results = parmap.parallel_map(func, range(8), **options)
    failures = [r for r in results if isinstance(r, parmap.Failure)]
    assert [f.index for f in failures] == [2], failures
    assert [r for r in results if not isinstance(r, parmap.Failure)] == [0, 1, 3, 4, 5, 6, 7]


def test_timeout_is_retried_then_fails() -> None:
    func = functools.partial(helpers.sleep_on, bad=2, seconds=30.0)
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=_TIMED_OUT):
        parmap.parallel_map(func, range(3), **_options("processes", timeout=TIMEOUT, retries=1))
    elapsed = time.monotonic() - began
    assert 2 * TIMEOUT <= elapsed < PROMPT


def test_timeout_leaves_fast_items_alone() -> None:
    options = _options("processes", timeout=TIMEOUT)
    assert parmap.parallel_map(helpers.slow_square, range(20), **options) == [
        x * x for x in range(20)
    ]


# -- retries ---------------------------------------------------------------------------------


def test_flaky_items_succeed_with_one_retry(tmp_path: pathlib.Path) -> None:
    func = functools.partial(helpers.flaky_marker, directory=str(tmp_path))
    assert parmap.parallel_map(func, range(4), **_options("processes", retries=1)) == [0, 1, 2, 3]


def test_flaky_items_fail_without_retries(tmp_path: pathlib.Path) -> None:
    func = functools.partial(helpers.flaky_marker, directory=str(tmp_path))
    with pytest.raises(ConnectionError, match=r"^flaky [0-3]\n") as caught:
        parmap.parallel_map(func, range(4), **_options("processes", retries=0))
    assert isinstance(caught.value.__cause__, parmap.RemoteTraceback)


def test_retries_are_bounded(tmp_path: pathlib.Path) -> None:
    func = functools.partial(helpers_fault.fail_until, directory=str(tmp_path), fails=3)
    with pytest.raises(ConnectionError, match=r"^flaky [0-3]\n"):
        parmap.parallel_map(func, range(4), **_options("processes", retries=2))
    # Three failures per item were needed; two retries allow three attempts of the first.
    attempts = len(list(tmp_path.iterdir()))
    assert attempts >= 3


@pytest.mark.parametrize(
    ("kind", "error", "pattern"),
    [("value", None, None), ("connection", ConnectionError, r"^flaky [0-3]\n")],
)
def test_retry_on_limits_what_is_retried(
    tmp_path: pathlib.Path, kind: str, error: type[Exception] | None, pattern: str | None
) -> None:
    func = functools.partial(helpers_fault.fail_until, directory=str(tmp_path), kind=kind)
    options = _options("processes", retries=2, retry_on=ValueError)
    if error is None:
        assert parmap.parallel_map(func, range(4), **options) == [0, 1, 2, 3]
    else:
        with pytest.raises(error, match=pattern):
            parmap.parallel_map(func, range(4), **options)


def test_retry_under_collect_keeps_the_last_failure(tmp_path: pathlib.Path) -> None:
    func = functools.partial(
        helpers_fault.fail_until, directory=str(tmp_path), kind="value", fails=5
    )
    results = parmap.parallel_map(func, [7], **_options("processes", retries=1, on_error="collect"))
    (failure,) = results
    assert isinstance(failure, parmap.Failure)
    assert isinstance(failure.exception, ValueError)
    assert str(failure.exception) == "broken 7"
    assert len(list(tmp_path.iterdir())) == 2  # the first run and one retry


def test_worker_death_counts_as_a_failure_for_retries(tmp_path: pathlib.Path) -> None:
    func = functools.partial(helpers_fault.die_once, directory=str(tmp_path))
    assert parmap.parallel_map(func, range(4), **_options("processes", retries=1)) == [0, 1, 2, 3]


def test_worker_death_without_retries_raises(tmp_path: pathlib.Path) -> None:
    func = functools.partial(helpers_fault.die_once, directory=str(tmp_path))
    with pytest.raises(parmap.WorkerDiedError, match=r"killed by SIGKILL .* running item 2 \(2\)"):
        parmap.parallel_map(func, range(4), **_options("processes", retries=0))


@pytest.mark.parametrize(
    ("retry_on", "retried"), [(ValueError, False), (parmap.WorkerDiedError, True)]
)
def test_retry_on_applies_to_worker_deaths(
    tmp_path: pathlib.Path, retry_on: type[Exception], retried: bool
) -> None:
    func = functools.partial(helpers_fault.die_once, directory=str(tmp_path))
    options = _options("processes", retries=1, retry_on=retry_on)
    if retried:
        assert parmap.parallel_map(func, range(4), **options) == [0, 1, 2, 3]
    else:
        with pytest.raises(parmap.WorkerDiedError, match=r"running item 2 \(2\)"):
            parmap.parallel_map(func, range(4), **options)


# -- nested calls --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_nested_parallel_map_in_workers(method: str) -> None:
    began = time.monotonic()
    results = parmap.parallel_map(
        helpers.nested, [3, 4, 5], workers=2, start_method=method, inline=False
    )
    assert results == [[x * x for x in range(n)] for n in (3, 4, 5)]
    assert time.monotonic() - began < 10.0


def test_nested_call_runs_in_the_worker_itself() -> None:
    results = parmap.parallel_map(
        helpers_fault.nested_pids, [3, 4], workers=2, start_method="fork", inline=False
    )
    for outer, inner in results:
        assert outer != os.getpid()
        assert inner == [outer] * len(inner)


def test_timeout_on_a_warm_backend_times_each_item_afresh() -> None:
    # A warm worker runs index 0 again in the next run: that item's clock must
    # start when it starts, not when index 0 was first seen a run ago.
    nap = functools.partial(helpers.sleep_on, bad=0, seconds=0.3)
    with parmap.ProcessBackend(1, start_method="fork") as backend:
        assert parmap.parallel_map(nap, [0], backend=backend, timeout=0.6) == [0]
        time.sleep(0.7)  # longer than the timeout, between the runs
        assert parmap.parallel_map(nap, [0], backend=backend, timeout=0.6) == [0]
