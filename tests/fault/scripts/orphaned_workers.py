"""A script whose workers outlive it unless they notice: it is SIGKILLed mid-run by the test.

Usage: ``python orphaned_workers.py DIRECTORY``

Two forked workers each write ``DIRECTORY/pid-<their pid>`` and then sleep for 30 s per item.
"""

from __future__ import annotations

import functools
import sys

import parmap
from tests.helpers_fault import record_pid_then_sleep


def main() -> None:
    func = functools.partial(record_pid_then_sleep, directory=sys.argv[1], seconds=30.0)
    parmap.parallel_map(
        func, range(4), workers=2, start_method="fork", inline=False, chunksize=1, progress=False
    )


if __name__ == "__main__":
    main()
