"""A script that maps over a generator of many small items and reports its peak memory.

Usage: ``python memory_bound.py TOTAL CHECKPOINT``

Runs ``imap(square, generator, workers=2, start_method="fork")`` and prints, at item
CHECKPOINT and at the last item, ``peak <items> <caller MiB> <workers MiB>``: the caller's peak
resident memory so far (``getrusage``) and the sum of its live workers' resident memory.
Prints ``done <items> <seconds>`` last.
"""

from __future__ import annotations

import resource
import sys
import time

import psutil

import parmap
from tests.helpers import square


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _workers_mib() -> float:
    total = 0
    for child in psutil.Process().children():
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def main() -> None:
    total, checkpoint = int(sys.argv[1]), int(sys.argv[2])
    began = time.monotonic()
    count = 0
    for count, value in enumerate(
        parmap.imap(
            square,
            (i for i in range(total)),
            workers=2,
            start_method="fork",
            inline=False,
            progress=False,
        ),
        start=1,
    ):
        if value != (count - 1) ** 2:
            raise SystemExit(f"item {count - 1}: got {value}")
        if count in (checkpoint, total):
            print("peak", count, f"{_peak_mib():.1f}", f"{_workers_mib():.1f}", flush=True)
    print("done", count, f"{time.monotonic() - began:.1f}", flush=True)


if __name__ == "__main__":
    main()
