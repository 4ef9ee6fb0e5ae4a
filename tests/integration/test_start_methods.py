"""Runs of several seconds on every start method, cold and warm, and runs side by side.

Short runs hide what goes wrong with time: a worker that checks on its caller
every half second, a pool closed under a run that is still going.
"""

from __future__ import annotations

import textwrap
import threading

import pytest

import parmap
from tests import helpers

START_METHODS = ["fork", "forkserver", "spawn"]

#: 24 items of 0.25 s on 2 workers: a run of about 3 s.
LONG = list(range(24))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_run_of_seconds_cold(start_method: str) -> None:
    got = parmap.parallel_map(helpers.nap, LONG, workers=2, start_method=start_method, inline=False)
    assert got == list(map(helpers.identity, LONG))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_run_of_seconds_on_warm_workers(start_method: str) -> None:
    with parmap.ProcessBackend(2, start_method=start_method) as backend:
        first = parmap.parallel_map(helpers.square, range(10), backend=backend, inline=False)
        pids = set(backend.processes)
        again = parmap.parallel_map(helpers.nap, LONG, backend=backend, inline=False)
        assert set(backend.processes) == pids, "the warm workers must serve the second run"
    assert first == list(map(helpers.square, range(10)))
    assert again == LONG


SCRIPT = textwrap.dedent(
    """
    import multiprocessing, sys, time
    import parmap

    def nap(x):
        time.sleep(0.25)
        return x * 2

    class ParseError(Exception):
        pass

    def parse(x):
        if x == 5:
            raise ParseError(f"bad {x}")
        return x

    if __name__ == "__main__":
        multiprocessing.set_start_method("forkserver")
        # Default options, as on Python 3.14 where forkserver is Linux's default.
        assert parmap.parallel_map(nap, range(24), workers=2) == [x * 2 for x in range(24)]
        try:
            parmap.parallel_map(parse, range(8), workers=2, inline=False)
        except ParseError as exc:
            print("caught", exc)
    """
)


@pytest.mark.timeout(90)
def test_forkserver_as_the_global_default_runs_for_seconds(tmp_path) -> None:
    script = tmp_path / "default_forkserver.py"
    script.write_text(SCRIPT)
    done = helpers.run_python(str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "caught bad 5"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_two_runs_interleaved_on_one_backend(start_method: str) -> None:
    with parmap.ProcessBackend(2, start_method=start_method) as backend:
        first = parmap.imap(helpers.slow_square, range(6), backend=backend, inline=False)
        assert next(first) == 0
        middle = parmap.parallel_map(helpers.square, [3, 4], backend=backend, inline=False)
        assert middle == [9, 16]
        assert list(first) == [x * x for x in range(1, 6)]


@pytest.mark.timeout(60)
def test_runs_from_two_threads_on_one_backend() -> None:
    results: dict[int, list[int]] = {}
    with parmap.ProcessBackend(2, start_method="fork") as backend:

        def run(k: int) -> None:
            results[k] = parmap.parallel_map(
                helpers.slow_square, range(k, k + 20), backend=backend, inline=False
            )

        threads = [threading.Thread(target=run, args=(k,)) for k in (0, 100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert results == {k: [x * x for x in range(k, k + 20)] for k in (0, 100)}


def test_an_imap_consumed_after_its_backend_closed_says_so() -> None:
    with parmap.ProcessBackend(1, start_method="fork") as backend:
        results = parmap.imap(helpers.square, [1, 2], backend=backend)
    with pytest.raises(RuntimeError, match=r"^this ProcessBackend is closed \(its `with` block"):
        list(results)


@pytest.mark.timeout(30)
def test_a_backend_closed_under_a_running_imap_says_so() -> None:
    with parmap.ProcessBackend(2, start_method="fork") as backend:
        results = parmap.imap(helpers.slow_square, range(50), backend=backend, inline=False)
        assert next(results) == 0
    with pytest.raises(RuntimeError, match=r"^the ProcessBackend of this run was closed"):
        list(results)
