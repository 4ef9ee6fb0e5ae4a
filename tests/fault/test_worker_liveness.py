"""Workers that misbehave are noticed at once: a death behind a forked child, a stuck unpickling."""

from __future__ import annotations

import contextlib
import re
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


HOLDS_THE_GIL = """
import functools, sys
import parmap
from tests.helpers_fault import record_pid_then_hold_the_gil

if __name__ == "__main__":
    func = functools.partial(record_pid_then_hold_the_gil, directory=sys.argv[1])
    parmap.parallel_map(func, range(2), workers=2, start_method=sys.argv[2], inline=False,
                        chunksize=1)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_workers_holding_the_gil_die_with_a_killed_caller(tmp_path, start_method) -> None:
    import os
    import signal
    import subprocess
    import sys

    import psutil

    script = tmp_path / "holds_the_gil.py"
    script.write_text(HOLDS_THE_GIL)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    caller = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), start_method], env=env, cwd=root
    )
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("pid-*"))) < 2:
            assert caller.poll() is None, "the caller ended before its workers started"
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        workers = [int(path.name.removeprefix("pid-")) for path in tmp_path.glob("pid-*")]
        time.sleep(0.2)  # well into the C loop
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait(timeout=10)
        killed = time.monotonic()
        alive = workers
        while alive and time.monotonic() - killed < 5:
            alive = [
                pid
                for pid in workers
                if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            ]
            time.sleep(0.05)
        assert alive == [], f"workers outlived their killed caller by 5 s: {alive}"
        assert time.monotonic() - killed < 2
    finally:
        caller.kill()
        for path in tmp_path.glob("pid-*"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(path.name.removeprefix("pid-")), signal.SIGKILL)


@pytest.mark.timeout(60)
def test_a_worker_that_loses_its_pipe_is_not_reported_as_killed_by_the_system() -> None:
    for _ in range(3):  # the same words every time, whatever the timing
        with pytest.raises(parmap.WorkerDiedError) as caught:
            parmap.parallel_map(
                helpers_fault.close_my_pipes_on,
                range(4),
                workers=2,
                start_method="fork",
                inline=False,
                chunksize=1,
            )
        text = str(caught.value)
        assert re.match(r"^a worker \(pid \d+\) ended while running item 2 \(2\)\.\n", text)
        assert "Likely cause: its pipe to the caller was closed while it ran" in text
        assert "OOM" not in text
        assert "os._exit" not in text
