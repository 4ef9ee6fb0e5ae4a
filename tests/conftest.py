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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that import ``distributed`` last.

    Importing ``distributed`` installs tblib's pickling of tracebacks for the
    whole process, which changes what the picklability checks must say about
    exceptions and tracebacks; the other tests must not depend on test order.
    """
    items.sort(key=lambda item: item.get_closest_marker("dask") is not None)
