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
