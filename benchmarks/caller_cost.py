"""Measure what one run costs the caller's CPU per task and per item, and how far that scales.

Run: ``python -m benchmarks.caller_cost [--items N] [--chunksizes 1,4,10,40,100,1000]
[--start-method fork] [--repeat 3] [--result-bytes 1000,100000,1000000]
[--array-bytes 1048576] [--workers-sweep 2,8,32,64]``.

A no-op function over small integers leaves nothing but parmap's own work: in the caller,
reading and pickling items, sending tasks, receiving and unpickling results, scheduling.
Results of ``--result-bytes`` (bytes, sent in the pickle stream) and ``--array-bytes``
(float64 arrays, sent out of band from 1 MiB on) show what larger results add.
The workers are started and warmed by a first small run of one held ``ProcessBackend``, so
that their start (paid once per pool) stays out of the figures. The caller's CPU time
(``time.process_time()``, all its threads; ``time.thread_time()`` for the calling thread)
is divided by the items and tasks of the run. A least-squares fit over
the chunk sizes splits it into a cost per task and a cost per item.

From it: the caller keeps ``W`` workers busy on items of ``t`` seconds as long as it spends
less than ``t / W`` of CPU per item, so ``workers_max = t / caller_seconds_per_item``, at the
chunk size parmap picks for such items.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

#: The item durations of the projection, in seconds.
ITEM_SECONDS = (0.001, 0.01)


def nothing(x: Any) -> Any:
    """Return ``x``: a function that costs the workers next to nothing."""
    return x


def blob(size: int, x: int) -> bytes:
    """Return ``size`` bytes: a result whose transport and unpickling the caller pays."""
    return x.to_bytes(8, "little") * (size // 8)


def array(size: int, x: int) -> Any:
    """Return a float64 array of ``size`` bytes (large ones travel out of band)."""
    import numpy as np

    return np.full(size // 8, x, dtype=np.float64)


def measure(backend: Any, items: int, chunksize: int, func: Any = nothing) -> dict[str, float]:
    """Run ``parallel_map(func, range(items))`` once on ``backend``; return the caller's costs.

    Returns:
        ``wall``, ``cpu`` (every thread of the caller), ``main`` (the calling thread), in
        seconds, and ``tasks``, the number of tasks the run submitted.
    """
    import parmap

    data = range(items)
    wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
    results = parmap.parallel_map(
        func, data, backend=backend, chunksize=chunksize, inline=False, progress=False
    )
    main = time.thread_time() - main
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    if len(results) != items:
        raise RuntimeError(f"parallel_map returned {len(results)} results, expected {items}")
    return {"wall": wall, "cpu": cpu, "main": main, "tasks": -(-items // chunksize)}


def warm_backend(workers: int, start_method: str) -> Any:
    """A ``ProcessBackend`` whose workers have started and run a first small map.

    Starting workers is paid once per pool (the ``startup`` workload of the suite measures
    it); what is measured here is what every further item costs.
    """
    import parmap

    backend = parmap.ProcessBackend(workers, start_method=start_method)
    measure(backend, 1000, 10)
    return backend


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Fit ``per_item(c) = per_task / c + item_cost`` to measured costs per item.

    Weighted by the inverse square of each cost, so that the fit follows each chunk size
    within the same relative error instead of only the largest costs.

    Args:
        points: ``(chunksize, caller_seconds_per_item)`` pairs.

    Returns:
        ``(per_task, item_cost)`` in seconds.
    """
    sw = sxx = sx = sy = sxy = 0.0
    for size, cost in points:
        w, x = 1 / cost**2, 1 / size
        sw, sx, sy = sw + w, sx + w * x, sy + w * cost
        sxx, sxy = sxx + w * x * x, sxy + w * x * cost
    det = sw * sxx - sx * sx
    return (sw * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det


def picked_chunksize(item_seconds: float) -> int:
    """The chunk size parmap aims at for items of ``item_seconds`` (before the tail shrinks)."""
    from parmap._run.chunking import MAX_CHUNK, TARGET_SECONDS

    return max(1, min(MAX_CHUNK, int(TARGET_SECONDS / item_seconds)))


def main(argv: list[str] | None = None) -> int:
    """Measure every chunk size, print the table, the fit and the projection."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.caller_cost")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--chunksizes", default="1,4,10,40,100,1000")
    parser.add_argument("--start-method", default="fork")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per chunk size (median)")
    parser.add_argument(
        "--result-bytes",
        default="1000,100000,1000000",
        metavar="N,N",
        help="result sizes to measure at parmap's chunk sizes ('' to skip)",
    )
    parser.add_argument(
        "--array-bytes",
        default="1048576",
        metavar="N,N",
        help="float64 array results to measure likewise ('' to skip)",
    )
    parser.add_argument(
        "--workers-sweep",
        default="2,8,32,64",
        metavar="N,N",
        help="worker counts to measure at parmap's chunk sizes ('' to skip)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.chunksizes.split(",")]
    needed = {picked_chunksize(t) for t in ITEM_SECONDS}
    sizes = sorted(set(sizes) | needed)

    backend = warm_backend(args.workers, args.start_method)
    print(
        f"parallel_map(no-op, range({args.items:,})) on a warm ProcessBackend of "
        f"{args.workers} workers, start_method={args.start_method!r}, inline=False; median "
        f"of {args.repeat} runs; Python {sys.version.split()[0]}"
    )
    print()
    print("| chunksize | tasks | wall | caller CPU | calling thread | per item | per task |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    per_item: dict[int, float] = {}
    for size in sizes:
        runs = [measure(backend, args.items, size) for _ in range(args.repeat)]
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        main_cpu = statistics.median(r["main"] for r in runs)
        tasks = runs[0]["tasks"]
        per_item[size] = cpu / args.items
        print(
            f"| {size:,} | {tasks:,} | {wall:.2f} s | {cpu:.2f} s | {main_cpu:.2f} s "
            f"| {cpu / args.items * 1e6:.1f} µs | {cpu / tasks * 1e6:.1f} µs |"
        )
    task_cost, item_cost = fit(list(per_item.items()))
    print()
    print(
        f"Fit over the chunk sizes: {task_cost * 1e6:.1f} µs per task + "
        f"{item_cost * 1e6:.2f} µs per item of caller CPU."
    )
    print()
    print("| item | chunk size parmap picks | caller CPU per item | workers kept busy |")
    print("| ---: | ---: | ---: | ---: |")
    for seconds in ITEM_SECONDS:
        size = picked_chunksize(seconds)
        cost = per_item[size]
        print(f"| {seconds * 1000:g} ms | {size} | {cost * 1e6:.1f} µs | {seconds / cost:,.0f} |")
    if args.result_bytes or args.array_bytes:
        payloads(args, backend, sorted({picked_chunksize(t) for t in ITEM_SECONDS}))
    backend.close()
    if args.workers_sweep:
        sweep(args, sorted({picked_chunksize(t) for t in ITEM_SECONDS}))
    return 0


def payloads(args: argparse.Namespace, backend: Any, sizes: list[int]) -> None:
    """Print the caller's CPU per item when each result is ``--result-bytes`` long.

    Fewer items for larger results (at most about 400 MB in all), so that each row takes
    seconds, not minutes.
    """
    import functools

    kinds = [(blob, "bytes", int(n)) for n in args.result_bytes.split(",") if n]
    kinds += [(array, "float64 array", int(n)) for n in args.array_bytes.split(",") if n]
    head = " | ".join(f"caller CPU per item, chunksize {size}" for size in sizes)
    print()
    print(f"| result | items | {head} |")
    print("| --- | ---: | " + " | ".join("---:" for _ in sizes) + " |")
    for make, kind, nbytes in kinds:
        items = max(1000, min(args.items, 400_000_000 // nbytes))
        func = functools.partial(make, nbytes)
        cells = []
        for size in sizes:
            runs = [measure(backend, items, size, func) for _ in range(args.repeat)]
            cost = statistics.median(r["cpu"] for r in runs) / items
            cells.append(f"{cost * 1e6:,.1f} µs")
        print(f"| {kind}, {nbytes:,} bytes | {items:,} | " + " | ".join(cells) + " |")


def sweep(args: argparse.Namespace, sizes: list[int]) -> None:
    """Print the caller's CPU per item with more workers, at the chunk sizes parmap picks.

    More workers than cores still measures the caller's own CPU: what it spends per item
    depends on how many workers it serves, not on each having a core of its own.
    """
    counts = [int(n) for n in args.workers_sweep.split(",")]
    head = " | ".join(f"caller CPU per item, chunksize {size}" for size in sizes)
    print()
    print(f"| workers | {head} |")
    print("| ---: | " + " | ".join("---:" for _ in sizes) + " |")
    for workers in counts:
        backend = warm_backend(workers, args.start_method)
        cells = []
        for size in sizes:
            runs = [measure(backend, args.items, size) for _ in range(args.repeat)]
            cost = statistics.median(r["cpu"] for r in runs) / args.items
            cells.append(f"{cost * 1e6:.1f} µs")
        backend.close()
        print(f"| {workers} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
