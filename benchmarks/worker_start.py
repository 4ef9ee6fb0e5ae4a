"""Measure what starting workers costs on each start method, cold and then warm.

Run: ``python -m benchmarks.worker_start [--repeat 5] [--workers 1,2]``.

Each measurement is a fresh interpreter that imports the library, then times two calls of a
trivial function on one item with every item sent to a worker: the first call starts the
workers (and, on forkserver, the fork server), the second shows what a call costs once they
exist, if the library keeps them. ``multiprocessing.Pool`` beside it starts a pool per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("forkserver", "fork", "spawn")

CHILD = """
import json, sys, time
from benchmarks.workloads import square
method, workers, who = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if who == "parmap":
    import parmap
    def call():
        return parmap.parallel_map(square, [3], workers=workers, start_method=method,
                                   inline=False, progress=False)
else:
    import multiprocessing
    def call():
        with multiprocessing.get_context(method).Pool(workers) as pool:
            return pool.map(square, [3])
if __name__ == "__main__":
    times = []
    for _ in range(2):
        start = time.perf_counter()
        assert call() == [9]
        times.append(time.perf_counter() - start)
    print(json.dumps(times))
"""


def once(method: str, workers: int, who: str) -> list[float]:
    """Time the two calls in a fresh interpreter; return their seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(workers), who],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure every start method and worker count; print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_start")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per cell")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    print(
        f"One item of x*x sent to the workers, two calls in one fresh process, median of "
        f"{args.repeat} processes; Python {sys.version.split()[0]}"
    )
    print()
    calls = ("parmap, 1st call", "parmap, 2nd call", "Pool, 1st call", "Pool, 2nd call")
    print("| start method | workers | " + " | ".join(calls) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for method in METHODS:
        for workers in counts:
            cells = []
            for who in ("parmap", "pool"):
                runs = [once(method, workers, who) for _ in range(args.repeat)]
                for k in range(2):
                    cells.append(f"{statistics.median(r[k] for r in runs) * 1000:.1f} ms")
            print(f"| {method} | {workers} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
