"""Workers that misbehave are noticed at once: a death behind a forked child, a stuck unpickling."""

from __future__ import annotations

import time

import pytest

import parmap
from tests import helpers_fault


@pytest.mark.timeout(30)
def test_a_worker_that_dies_while_its_child_lives_is_noticed_at_once() -> None:
    # The child inherits the worker's pipe and sentinel and keeps them open for 30 s.
    began = time.monotonic()
    with pytest.raises(parmap.WorkerDiedError, match=r"exited with code 7 while running item 2"):
        parmap.parallel_map(
            helpers_fault.fork_child_then_die,
            range(4),
            workers=2,
            start_method="fork",
            inline=False,
            chunksize=1,
        )
    assert time.monotonic() - began < 5
    # (The grandchild is reaped by init; the leftover-process check counts only our children.)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("on_error", ["raise", "collect"])
def test_the_timeout_covers_unpickling_an_item(on_error: str) -> None:
    items = [1, helpers_fault.SlowToLoad(60), 3]
    began = time.monotonic()
    if on_error == "raise":
        with pytest.raises(TimeoutError, match=r"^item 1 \(.*\) ran longer than timeout=1 s"):
            parmap.parallel_map(
                helpers_fault.identity, items, workers=2, start_method="fork", timeout=1
            )
    else:
        got = parmap.parallel_map(
            helpers_fault.identity,
            items,
            workers=2,
            start_method="fork",
            timeout=1,
            on_error="collect",
        )
        assert got[0::2] == [1, 3]
        assert isinstance(got[1], parmap.Failure)
        assert isinstance(got[1].exception, TimeoutError)
    assert time.monotonic() - began < 15
