"""Bounded memory: ``imap`` over a huge generator reads it lazily and frees what it yielded.

Measured in a fresh interpreter (``scripts/memory_bound.py``): the caller's peak resident
memory when a fifth of the items are through, and again at the last item, must be about the
same — a run that buffered its input or its results would grow by hundreds of MiB over ten
million items. The workers' memory (summed) must stay flat too.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import parmap
from tests.fault._child import ROOT, SCRIPTS

#: MiB the peak may grow between the checkpoint and the end.
GROWTH_MIB = 50.0


def _measure(total: int, checkpoint: int, timeout: float) -> list[tuple[int, float, float]]:
    done = subprocess.run(
        [sys.executable, "-u", str(SCRIPTS / "memory_bound.py"), str(total), str(checkpoint)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    peaks = []
    for line in done.stdout.splitlines():
        if line.startswith("peak "):
            _, items, caller, workers = line.split()
            peaks.append((int(items), float(caller), float(workers)))
    print(done.stdout)  # the figures, shown with -s or on failure
    assert [items for items, _, _ in peaks] == [checkpoint, total]
    assert f"done {total} " in done.stdout
    return peaks


def _assert_flat(peaks: list[tuple[int, float, float]]) -> None:
    (_, caller_early, workers_early), (_, caller_late, workers_late) = peaks
    assert caller_late - caller_early < GROWTH_MIB, peaks
    assert workers_late - workers_early < GROWTH_MIB, peaks


def test_imap_memory_is_flat_over_a_million_items() -> None:
    _assert_flat(_measure(1_000_000, 200_000, timeout=60))


@pytest.mark.slow
def test_imap_memory_is_flat_over_ten_million_items() -> None:
    _assert_flat(_measure(10_000_000, 2_000_000, timeout=100))


LARGE_ITEMS = """
import sys
import parmap
kind = sys.argv[1]
options = {"workers": 2, "start_method": "fork"}
if kind == "processes":
    options["inline"] = False
elif kind != "inline":
    options = {"backend": kind, "workers": 2}
items = (bytes(100_000) for _ in range(5_000))  # 500 MB in all, 100 kB at a time
total = sum(parmap.imap(len, items, **options))
assert total == 500_000_000, total
# This process's own peak (ru_maxrss would include the parent's, from before the fork).
with open("/proc/self/status") as status:
    peak = next(line for line in status if line.startswith("VmHWM:"))
print(int(peak.split()[1]) / 1024)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["inline", "processes", "threads", "serial"])
def test_look_ahead_is_bounded_in_bytes_not_only_items(kind: str) -> None:
    # 1,024 items of look-ahead would be 100 MB here; the budget keeps it near 64 MB.
    done = subprocess.run(
        [sys.executable, "-c", LARGE_ITEMS, kind],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 200, f"peak {done.stdout.strip()} MiB for 100 kB items"


class _Big:
    """A result that can be weakly referenced (to see whether parmap still holds it)."""

    def __init__(self, n: int) -> None:
        self.data = bytes(n)


def _big(n: int) -> _Big:
    return _Big(n)


def test_imap_lets_go_of_each_result_once_yielded() -> None:
    import weakref

    alive: list[weakref.ref[_Big]] = []
    for result in parmap.imap(_big, [10] * 50, backend="serial"):
        alive.append(weakref.ref(result))
        del result
        assert sum(ref() is not None for ref in alive) == 0, "imap still holds a result"
