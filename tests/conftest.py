"""Test hygiene shared by every test: no child process may outlive its test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

# Long-lived helpers that multiprocess starts once per interpreter on purpose.
_SERVICE_MARKERS = ("forkserver", "resource_tracker", "semaphore_tracker")


def _children() -> dict[int, psutil.Process]:
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if not any(marker in cmdline for marker in _SERVICE_MARKERS):
            found[child.pid] = child
    return found


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Fail a test that leaves a child process running (after a short grace period)."""
    before = set(_children())
    yield
    # Warm workers are kept across runs on purpose; a test ends them (and its
    # runs have used them: a test's later runs find them warm).
    from parmap.backends._shared import SHARED

    SHARED.close_all()
    deadline = time.monotonic() + 3.0
    while True:
        left = {
            pid: proc
            for pid, proc in _children().items()
            if pid not in before and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        }
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for proc in left.values():
        proc.kill()
    assert not left, f"the test left child processes running: {sorted(left)}"


#: Every way a run can execute, as the options that select it: the map-semantics
#: and start-method tests run on each. Process runs keep every item in the
#: workers (inline=False), or the caller would compute small inputs itself.
RUNS = {
    "serial": {"backend": "serial"},
    "threads": {"backend": "threads", "workers": 2},
    "fork": {"workers": 2, "start_method": "fork", "inline": False},
    "forkserver": {"workers": 2, "start_method": "forkserver", "inline": False},
    "spawn": {"workers": 2, "start_method": "spawn", "inline": False},
}


@pytest.fixture(params=list(RUNS))
def run_options(request: pytest.FixtureRequest) -> dict[str, object]:
    """The options of one way to run (serial, threads, processes on each start method)."""
    return dict(RUNS[request.param])


def pytest_configure(config: pytest.Config) -> None:
    """Emulate a platform whose default start method is another one (forkserver on 3.14).

    ``PARMAP_TEST_DEFAULT_START_METHOD=forkserver`` sets the global default
    before any test runs, so that runs with default options use it.
    """
    import multiprocessing
    import os

    method = os.environ.get("PARMAP_TEST_DEFAULT_START_METHOD")
    if method:
        multiprocessing.set_start_method(method, force=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that import ``distributed`` last.

    Importing ``distributed`` installs tblib's pickling of tracebacks for the
    whole process, which changes what the picklability checks must say about
    exceptions and tracebacks; the other tests must not depend on test order.
    """
    items.sort(key=lambda item: item.get_closest_marker("dask") is not None)
