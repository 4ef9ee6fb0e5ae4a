"""Workers kept warm across runs: reused by default, never serving a stale answer.

The conftest fixture closes the shared workers after each test; within a
test, runs find them warm as a script's or a notebook's later calls do.
"""

from __future__ import annotations

import json
import textwrap
import time

import psutil
import pytest

import parmap
from parmap.backends._shared import SHARED
from tests import helpers

pytestmark = pytest.mark.timeout(60)
METHODS = ["fork", "forkserver", "spawn"]


def _pids(results: list[tuple[int, int]]) -> set[int]:
    return {pid for _, pid in results}


@pytest.mark.parametrize("start_method", METHODS)
def test_repeated_calls_reuse_the_same_workers(start_method: str) -> None:
    options = {"workers": 2, "start_method": start_method, "inline": False}
    first = parmap.parallel_map(helpers.nap_pid, range(8), **options)
    second = parmap.parallel_map(helpers.nap_pid, range(8), **options)
    assert [x for x, _ in first] == [x for x, _ in second] == list(range(8))
    assert _pids(second) <= _pids(first) | set(), "the second call started new workers"


@pytest.mark.parametrize(
    "options",
    [{"reuse": False}, {"initializer": helpers.remember, "initargs": ("x",)}],
    ids=["reuse=False", "initializer"],
)
def test_a_run_that_must_not_reuse_gets_workers_of_its_own(options: dict[str, object]) -> None:
    common = {"workers": 2, "start_method": "fork", "inline": False}
    first = _pids(parmap.parallel_map(helpers.nap_pid, range(6), **common, **options))
    second = _pids(parmap.parallel_map(helpers.nap_pid, range(6), **common, **options))
    assert first.isdisjoint(second)
    assert not any(psutil.pid_exists(pid) for pid in first | second), "its workers must stop"


def test_the_environment_variable_turns_reuse_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARMAP_REUSE_WORKERS", "0")
    options = {"workers": 2, "start_method": "fork", "inline": False}
    first = _pids(parmap.parallel_map(helpers.nap_pid, range(6), **options))
    second = _pids(parmap.parallel_map(helpers.nap_pid, range(6), **options))
    assert first.isdisjoint(second)


def test_a_tiny_call_starts_no_worker_and_a_longer_one_leaves_them_warm() -> None:
    import os

    options = {"workers": 2, "start_method": "spawn"}
    assert parmap.parallel_map(helpers.square, [1, 2], **options) == [1, 4]
    backend = SHARED.get(2, "spawn")
    assert backend.processes == [], "a job of microseconds never pays for workers"
    # About 60 ms of work: the caller starts the shared workers while it works.
    parmap.parallel_map(helpers.nap_pid, range(6), **options)
    assert len(backend.processes) == 2
    deadline = time.monotonic() + 20
    while backend._pool.ready() < 2:  # they finish starting on their own
        assert time.monotonic() < deadline
        time.sleep(0.02)
    got = parmap.parallel_map(helpers.nap_pid, range(8), **options)
    assert [x for x, _ in got] == list(range(8))
    assert _pids(got) - {os.getpid()} <= set(backend.processes)


def test_a_held_backend_gets_warm_from_small_calls() -> None:
    with parmap.ProcessBackend(2, start_method="spawn") as backend:
        assert parmap.parallel_map(helpers.square, [3], backend=backend) == [9]
        assert len(backend.processes) == 2


def test_the_caller_works_while_workers_start() -> None:
    import os

    got = parmap.parallel_map(helpers.nap_pid, range(16), workers=2, start_method="spawn")
    assert [x for x, _ in got] == list(range(16))
    ran_here = [x for x, pid in got if pid == os.getpid()]
    assert ran_here, "the caller runs items itself while spawn workers start"
    assert len(ran_here) < 16, "and the workers take over once ready"


def test_a_crashed_worker_is_replaced_for_the_next_call() -> None:
    options = {"workers": 2, "start_method": "fork", "inline": False}
    got = parmap.parallel_map(helpers.exit_on, range(4), on_error="collect", **options)
    assert isinstance(got[2], parmap.Failure)
    assert parmap.parallel_map(helpers.square, range(4), **options) == [0, 1, 4, 9]


def test_idle_workers_are_stopped() -> None:
    parmap.parallel_map(helpers.square, range(4), workers=2, start_method="fork", inline=False)
    pids = SHARED.get(2, "fork").processes
    assert pids
    SHARED.close_idle(0.0)
    assert not any(psutil.pid_exists(pid) for pid in pids)


NOTEBOOK_CELLS = textwrap.dedent(
    """
    import importlib, json, pathlib, sys
    import parmap

    method = sys.argv[1]
    options = {"workers": 2, "start_method": method, "inline": False}
    out = {}

    # A cell defines f and runs it; the cell is edited and run again.
    def f(x):
        return x + 1
    out["first"] = parmap.parallel_map(f, range(4), **options) == list(map(f, range(4)))
    def f(x):
        return x * 100
    out["redefined"] = parmap.parallel_map(f, range(4), **options) == list(map(f, range(4)))

    # A global the function reads, changed between calls.
    scale = 2
    g = lambda x: x * scale
    parmap.parallel_map(g, range(4), **options)
    scale = 7
    out["global"] = parmap.parallel_map(g, range(4), **options) == list(map(g, range(4)))

    # A module edited on disk and reloaded between calls.
    pathlib.Path("edited.py").write_text("def h(x):\\n    return x - 1\\n")
    sys.path.insert(0, ".")
    import edited
    parmap.parallel_map(edited.h, range(4), **options)
    pathlib.Path("edited.py").write_text("def h(x):\\n    return x - 1000\\n")
    importlib.invalidate_caches()
    importlib.reload(edited)
    out["reloaded"] = (
        parmap.parallel_map(edited.h, range(4), **options) == list(map(edited.h, range(4)))
    )
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("start_method", METHODS)
def test_a_warm_worker_never_serves_a_stale_answer(tmp_path, start_method: str) -> None:
    # Run as a notebook runs its cells: code with no file behind __main__.
    done = helpers.run_python("-c", NOTEBOOK_CELLS, start_method, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "first": True,
        "redefined": True,
        "global": True,
        "reloaded": True,
    }


EXITS = textwrap.dedent(
    """
    import sys
    import parmap
    from tests import helpers

    if __name__ == "__main__":
        got = parmap.parallel_map(helpers.nap_pid, range(6), workers=2,
                                  start_method=sys.argv[1], inline=False)
        print(" ".join(str(pid) for pid in sorted({pid for _, pid in got})))
    """
)


@pytest.mark.parametrize("start_method", METHODS)
def test_no_worker_outlives_the_interpreter(tmp_path, start_method: str) -> None:
    script = tmp_path / "exits.py"
    script.write_text(EXITS)
    done = helpers.run_python(str(script), start_method)
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids
    deadline = time.monotonic() + 2
    while any(psutil.pid_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(psutil.pid_exists(pid) for pid in pids)


def test_the_caller_keeps_no_thread_of_its_own() -> None:
    # A thread in the caller would make every later fork unsafe (Python 3.12 warns).
    import threading

    before = threading.active_count()
    parmap.parallel_map(helpers.square, range(8), workers=2, start_method="fork", inline=False)
    parmap.parallel_map(helpers.square, range(8), workers=2, start_method="fork", inline=False)
    assert threading.active_count() == before


def test_an_unused_worker_exits_by_itself_and_is_replaced() -> None:
    import os
    from unittest import mock

    from parmap._transport import worker

    options = {"workers": 2, "start_method": "fork", "inline": False}
    with mock.patch.object(worker, "IDLE_SECONDS", 0.3):  # forked workers inherit it
        first = _pids(parmap.parallel_map(helpers.nap_pid, range(6), **options))
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in first):
        assert time.monotonic() < deadline, "idle workers did not exit"
        time.sleep(0.05)
    again = parmap.parallel_map(helpers.nap_pid, range(6), **options)
    assert [x for x, _ in again] == list(range(6))
    assert _pids(again).isdisjoint(first)
    assert os.getpid() not in _pids(again)


def test_warm_workers_take_the_first_items_while_the_caller_times_the_next() -> None:
    import os

    options = {"workers": 2, "start_method": "fork"}
    parmap.parallel_map(helpers.nap_pid, range(8), **options, inline=False)  # warm up
    got = parmap.parallel_map(helpers.nap_pid, range(16), **options)
    assert [x for x, _ in got] == list(range(16))
    assert os.getpid() not in {pid for _, pid in got[:2]}, "the warm workers start at once"


def test_a_small_job_of_unpicklable_items_still_runs_in_the_caller_when_warm() -> None:
    import threading

    options = {"workers": 2, "start_method": "fork", "serializer": "pickle"}
    parmap.parallel_map(helpers.square, range(8), **options, inline=False)  # warm up
    locks = [threading.Lock() for _ in range(3)]
    assert parmap.parallel_map(helpers.identity, locks, **options) == locks
