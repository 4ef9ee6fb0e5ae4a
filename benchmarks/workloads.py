"""The benchmark workloads: the mapped functions, their inputs, and a digest of their results.

Everything here is importable by worker processes started with any start method, and
imports nothing heavy at module level (numpy is loaded only by the array workloads).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Iterations of :func:`spin` that take about 20 ms of CPU on the reference machine.
SPIN_20MS = 104_000

#: Elements of a float64 array of 8 MB.
ARRAY_8MB = 8 * 1024 * 1024 // 8


def square(x: int) -> int:
    """Return ``x * x``: the cheapest useful function."""
    return x * x


def spin(n: int) -> tuple[int, float]:
    """Busy-loop ``n`` iterations in pure Python.

    Returns:
        The loop's checksum (checked against ``map``) and the CPU time this call used in its
        own thread (excluded from the check; summed to compute efficiency).
    """
    start = time.thread_time()
    acc = 0
    for k in range(n):
        acc = (acc * 1103515245 + k) & 0xFFFFFFFF
    return acc, time.thread_time() - start


def array_sum(arr: Any) -> float:
    """Return the sum of an array: trivial work that still reads every byte that arrived."""
    return float(arr.sum())


def make_array(i: int) -> Any:
    """Return a new 8 MB float64 array that depends on ``i``."""
    import numpy as np

    return np.arange(ARRAY_8MB, dtype=np.float64) * (i + 1)


def integers(n: int) -> list[int]:
    """Items ``0 .. n-1``."""
    return list(range(n))


def medium_items(n: int) -> list[int]:
    """Items of about 20 ms each, all slightly different so that order is checked too."""
    return [SPIN_20MS + i for i in range(n)]


def short_items(n: int) -> list[int]:
    """Items of about 10 ms each, all slightly different (the multi-call workloads)."""
    return [SPIN_20MS // 2 + i for i in range(n)]


def skewed_items(n: int, *, seed: int = 7, mean_ms: float = 5.0) -> list[int]:
    """Items whose durations follow a Pareto law (alpha 2) scaled to a mean of ``mean_ms``.

    The draw is seeded, so every contender and every repeat sees the same durations in the
    same order.
    """
    rng = random.Random(seed)
    draws = [rng.paretovariate(2.0) for _ in range(n)]
    scale = mean_ms / (sum(draws) / n)
    return [max(1, round(d * scale / 20.0 * SPIN_20MS)) for d in draws]


def big_arg_items(n: int) -> list[Any]:
    """``n`` arrays of 8 MB each, built before the clock starts."""
    return [make_array(i) for i in range(n)]


@dataclass(frozen=True)
class Workload:
    """One benchmark workload.

    Attributes:
        name: Short name used on the command line.
        title: Description for reports; ``{n}`` is replaced by the number of items.
        func: The mapped function (module-level, so every pool can ship it).
        build: Builds the items from a size.
        size: Number of items in a full run.
        quick_size: Number of items with ``--quick``.
        timed_results: The function returns ``(value, cpu_seconds)`` pairs.
        parmap_only: Only parmap variants run on it; ratios use ``baseline`` instead.
        baseline: Workload whose ``map`` and ``Pool.map`` times give this one's ratios.
        calls: Consecutive calls timed together in one process, each on ``size`` items of
            their own (``size * calls`` are built, then cut in order).
    """

    name: str
    title: str
    func: Callable[[Any], Any]
    build: Callable[[int], list[Any]]
    size: int
    quick_size: int
    timed_results: bool = False
    parmap_only: bool = False
    baseline: str | None = None
    calls: int = 1

    def batches(self, size: int) -> list[list[Any]]:
        """The items of each call, built before the clock starts."""
        items = self.build(size * self.calls)
        return [items[k * size : (k + 1) * size] for k in range(self.calls)]


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("tiny", "{n:,} items of x*x", square, integers, 100_000, 20_000),
        Workload(
            "medium", "{n} items of 20 ms CPU", spin, medium_items, 64, 16, timed_results=True
        ),
        Workload(
            "skewed", "{n} items, Pareto durations, mean 5 ms", spin, skewed_items, 200, 50, True
        ),
        Workload("big_args", "{n} arrays of 8 MB in", array_sum, big_arg_items, 16, 4),
        Workload("big_results", "{n} arrays of 8 MB out", make_array, integers, 16, 4),
        Workload("startup", "{n} trivial items", square, integers, 10, 10),
        Workload(
            "repeated",
            "10 calls in a row, each {n} items of 10 ms CPU",
            spin,
            short_items,
            16,
            4,
            timed_results=True,
            calls=10,
        ),
        Workload(
            "notebook_loop",
            "20 calls in a row, each {n} items of 10 ms CPU",
            spin,
            short_items,
            10,
            2,
            timed_results=True,
            calls=20,
        ),
        Workload(
            "cache",
            "{n} items of 20 ms, cache cold vs cached rerun",
            spin,
            medium_items,
            64,
            16,
            timed_results=True,
            parmap_only=True,
            baseline="medium",
        ),
        Workload(
            "check",
            "{n:,} items of x*x, check=True vs check=False",
            square,
            integers,
            100_000,
            20_000,
            parmap_only=True,
            baseline="tiny",
        ),
    ]
}


def split_timed(results: list[Any]) -> tuple[list[Any], float]:
    """Split ``(value, cpu_seconds)`` results into the values and the total CPU time."""
    return [value for value, _ in results], sum(cpu for _, cpu in results)


def digest(results: list[Any]) -> str:
    """Return a SHA-256 over the results' contents, their types and their order.

    Arrays are hashed by dtype, shape and raw bytes, so an array that came back through a
    pipe or shared memory digests the same as the one ``map`` made.
    """
    h = hashlib.sha256()
    _feed(h, results)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__}[{len(obj)}](".encode())
        for item in obj:
            _feed(h, item)
        h.update(b")")
    elif type(obj).__name__ == "ndarray":
        h.update(f"ndarray{obj.dtype.str}{obj.shape}".encode())
        h.update(obj.tobytes())
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
