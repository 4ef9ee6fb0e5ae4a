"""A script that maps a slow function over many items on two forked workers, to be interrupted.

Usage: ``python interrupted_run.py ITEMS [CACHE_DIR]``

Prints ``workers PID PID`` once the first result has arrived, then ``result INDEX`` for each
result as ``imap`` yields it, then ``finished`` (if nobody stops it first). A KeyboardInterrupt
is left uncaught: the interpreter then reports it on stderr and ends by SIGINT.
"""

from __future__ import annotations

import sys

import psutil

import parmap
from tests.helpers_fault import nap_square


def main() -> None:
    items = int(sys.argv[1])
    cache = sys.argv[2] if len(sys.argv) > 2 else None
    results = parmap.imap(
        nap_square,
        range(items),
        workers=2,
        start_method="fork",
        inline=False,
        chunksize=1,
        progress=False,
        cache=cache,
    )
    for index, value in enumerate(results):
        assert value == index * index
        if index == 0:
            workers = [child.pid for child in psutil.Process().children()]
            print("workers", *workers, flush=True)
        print("result", index, flush=True)
    print("finished", flush=True)


if __name__ == "__main__":
    main()
