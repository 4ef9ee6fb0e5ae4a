"""Ctrl-C and a killed caller, delivered to a real script running ``imap`` on forked workers.

One SIGINT — to the script's whole process group, as a terminal's Ctrl-C sends it, or to the
script alone — must end it within 2 s by ``KeyboardInterrupt``, leave no process of its
session running, and (with ``cache=``) leave every result it had received on disk, so that the
same run afterwards computes only what is missing. A script killed outright (SIGKILL) must not
leave its workers behind: they notice within seconds and exit.
"""

from __future__ import annotations

import os
import pathlib
import signal
import time

import pytest

import parmap
from tests.fault._child import Child, session_members, wait_until_gone
from tests.helpers_fault import CALLS_ENV

#: Ctrl-C must end the script within this many seconds.
EXIT_BOUND = 2.0
#: Items of the interrupted run: 0.1 s each on two workers, far longer than the test waits.
MANY = 400


def _interrupt(child: Child, *, group: bool) -> float:
    """Send one SIGINT (to the group or the script alone); return seconds until it exited."""
    sent = time.monotonic()
    if group:
        os.killpg(child.proc.pid, signal.SIGINT)
    else:
        os.kill(child.proc.pid, signal.SIGINT)
    child.proc.wait(timeout=10)
    return time.monotonic() - sent


def _run_until_results(child: Child, count: int) -> list[int]:
    """Wait for the worker pids and ``count`` results; return the pids."""
    workers = [int(pid) for pid in child.expect("workers", timeout=30).split()[1:]]
    assert len(workers) == 2
    child.expect(f"result {count - 1}", timeout=30)
    return workers


@pytest.mark.parametrize("group", [True, False], ids=["process-group", "parent-alone"])
def test_one_sigint_stops_the_run_promptly_and_leaves_no_process(
    tmp_path: pathlib.Path, group: bool
) -> None:
    child = Child("interrupted_run.py", [str(MANY)], tmp_path)
    try:
        workers = _run_until_results(child, 3)
        elapsed = _interrupt(child, group=group)
        assert child.proc.returncode == -signal.SIGINT, child.stderr()
        assert elapsed < EXIT_BOUND
        stderr = child.stderr()
        assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
        assert "finished" not in child.seen
        # Checked at once: the script reaps its workers before it exits.
        assert wait_until_gone(workers, timeout=0.5) == []
        assert session_members(child.proc.pid) == []
    finally:
        child.kill()


def test_sigint_keeps_finished_results_in_the_cache(tmp_path: pathlib.Path) -> None:
    cache = tmp_path / "cache"
    calls = tmp_path / "calls"
    env = {CALLS_ENV: str(calls)}
    child = Child("interrupted_run.py", [str(MANY), str(cache)], tmp_path, env)
    try:
        _run_until_results(child, 5)
        # Results come every 50 ms; let the script get back to waiting inside imap.
        time.sleep(0.02)
        elapsed = _interrupt(child, group=True)
    finally:
        child.kill()
    assert child.proc.returncode == -signal.SIGINT, child.stderr()
    assert elapsed < EXIT_BOUND
    received = sum(1 for line in child.seen if line.startswith("result "))
    stored = parmap.Cache(cache).info().entries
    # One short traceback that ends at the user's call, with the count kept on disk.
    stderr = child.stderr()
    assert stderr.rstrip().endswith(
        f"parmap: interrupted; the results of {stored} item(s) of this run are kept in the "
        f"cache {cache}: the same call again computes only the others"
    ), stderr
    assert stderr.count('File "') <= 3, stderr
    assert "_scheduler.py" not in stderr, stderr
    # Every result the script received is on disk; at most the items in flight are not.
    assert received <= stored < received + 8

    # The same run again, on fewer items: only those not on disk are computed.
    first_run = {int(line) for line in calls.read_text().split()}
    total = received + 6
    calls.unlink()
    again = Child("interrupted_run.py", [str(total), str(cache)], tmp_path, env)
    try:
        again.expect("finished", timeout=30)
        again.proc.wait(timeout=10)
    finally:
        again.kill()
    assert again.proc.returncode == 0, again.stderr()
    computed = [int(line) for line in calls.read_text().split()] if calls.exists() else []
    assert len(computed) == len(set(computed))
    assert set(computed).isdisjoint(range(received)), "a result the script had got was recomputed"
    assert set(computed) | first_run >= set(range(total))
    # Each computed item is a new entry: none of them was on disk already.
    assert parmap.Cache(cache).info().entries == stored + len(computed)


def test_workers_exit_when_the_caller_is_killed(tmp_path: pathlib.Path) -> None:
    child = Child("orphaned_workers.py", [str(tmp_path)], tmp_path)
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("pid-*"))) < 2:
            assert child.proc.poll() is None, child.stderr()
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        workers = [int(path.name.removeprefix("pid-")) for path in tmp_path.glob("pid-*")]
        os.kill(child.proc.pid, signal.SIGKILL)
        child.proc.wait(timeout=10)
        killed = time.monotonic()
        left = wait_until_gone(workers, timeout=5.0)
        took = time.monotonic() - killed
        assert left == [], f"workers {left} still run {took:.1f} s after their caller was killed"
        assert session_members(child.proc.pid) == []
    finally:
        child.kill()
