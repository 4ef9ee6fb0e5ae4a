"""The contenders: one function per way of mapping, each timed as a user would call it.

Every runner takes ``(func, items, workers, **options)`` and returns the list of results.
Pool creation and shutdown happen inside the runner, so they are part of the time. Each
library is imported inside its runner: a measurement imports only what it needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Runner = Callable[..., list[Any]]


def run_map(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """Builtin ``map`` in the calling process (``workers`` is ignored)."""
    return list(map(func, items))


def run_mp_pool(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``multiprocessing.Pool.map`` with its own default chunk size."""
    import multiprocessing

    with multiprocessing.Pool(workers) as pool:
        return pool.map(func, items)


def run_mp_imap_1(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``multiprocessing.Pool.imap`` with chunksize 1: one task per item, lazily."""
    import multiprocessing

    with multiprocessing.Pool(workers) as pool:
        return list(pool.imap(func, items, chunksize=1))


def _run_executor(
    func: Callable[[Any], Any], items: list[Any], workers: int, chunksize: int
) -> list[Any]:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(func, items, chunksize=chunksize))


def run_executor_1(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``ProcessPoolExecutor.map`` with its default chunk size of 1."""
    return _run_executor(func, items, workers, 1)


def sensible_chunksize(n_items: int, workers: int) -> int:
    """The chunk size ``multiprocessing.Pool.map`` picks: about four chunks per worker."""
    return max(1, math.ceil(n_items / (4 * workers)))


def run_executor_chunked(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``ProcessPoolExecutor.map`` with about four chunks per worker."""
    return _run_executor(func, items, workers, sensible_chunksize(len(items), workers))


def run_joblib(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``joblib.Parallel`` with its defaults (loky backend, automatic batching)."""
    from joblib import Parallel, delayed

    return Parallel(n_jobs=workers)(delayed(func)(x) for x in items)


def run_pathos(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``pathos.multiprocessing.ProcessPool.map``, closed and cleared afterwards."""
    from pathos.multiprocessing import ProcessPool

    pool = ProcessPool(nodes=workers)
    try:
        return pool.map(func, items)
    finally:
        pool.close()
        pool.join()
        pool.clear()


def run_mpire(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``mpire.WorkerPool.map``; arrays are returned as a list, not concatenated."""
    from mpire import WorkerPool

    with WorkerPool(n_jobs=workers) as pool:
        return pool.map(func, items, concatenate_numpy_output=False)


def run_multiprocess(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``multiprocess.Pool.map`` (the dill-based fork of multiprocessing)."""
    import multiprocess

    with multiprocess.Pool(workers) as pool:
        return pool.map(func, items)


def run_parmap(
    func: Callable[[Any], Any], items: list[Any], workers: int, **options: Any
) -> list[Any]:
    """``parmap.parallel_map`` with its defaults plus ``options``."""
    import parmap

    return parmap.parallel_map(func, items, workers=workers, progress=False, **options)


@dataclass(frozen=True)
class Contender:
    """One way of mapping.

    Attributes:
        name: Short name used on the command line and in the JSON.
        label: How reports show it.
        family: The library it measures; ``--contenders`` selects by name or family.
        runner: The function that does the mapping.
        options: Extra keyword arguments for ``runner``.
        imports: Modules imported before the clock starts: a script imports its libraries
            once, so import time is not part of the call.
        parallel: Uses ``workers`` processes (efficiency is computed over that many).
    """

    name: str
    label: str
    family: str
    runner: Runner
    options: tuple[tuple[str, Any], ...] = ()
    imports: tuple[str, ...] = ()
    parallel: bool = True


_PPE = ("concurrent.futures.process",)
_PARMAP = ("parmap",)

CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in [
        Contender("map", "map", "map", run_map, parallel=False),
        Contender("pool", "Pool.map", "pool", run_mp_pool, imports=("multiprocessing.pool",)),
        Contender(
            "imap1",
            "Pool.imap, chunksize=1",
            "pool",
            run_mp_imap_1,
            imports=("multiprocessing.pool",),
        ),
        Contender(
            "ppe1", "ProcessPoolExecutor.map, chunksize=1", "ppe", run_executor_1, imports=_PPE
        ),
        Contender(
            "ppe",
            "ProcessPoolExecutor.map, chunksize=n/8",
            "ppe",
            run_executor_chunked,
            imports=_PPE,
        ),
        Contender("joblib", "joblib.Parallel", "joblib", run_joblib, imports=("joblib",)),
        Contender(
            "pathos",
            "pathos ProcessPool.map",
            "pathos",
            run_pathos,
            imports=("pathos.multiprocessing",),
        ),
        Contender("mpire", "mpire WorkerPool.map", "mpire", run_mpire, imports=("mpire",)),
        Contender(
            "multiprocess",
            "multiprocess Pool.map",
            "multiprocess",
            run_multiprocess,
            imports=("multiprocess.pool",),
        ),
        Contender("parmap", "parmap.parallel_map", "parmap", run_parmap, imports=_PARMAP),
        # Every item in a worker: what the transport and scheduling cost on their own.
        Contender(
            "parmap_workers",
            "parmap, inline=False",
            "parmap",
            run_parmap,
            (("inline", False),),
            _PARMAP,
        ),
        # Variants for the parmap-only workloads.
        Contender("parmap_cold", "parmap, cache cold", "parmap", run_parmap, imports=_PARMAP),
        Contender("parmap_cached", "parmap, cached rerun", "parmap", run_parmap, imports=_PARMAP),
        Contender(
            "parmap_check", "parmap, check=True", "parmap", run_parmap, (("check", True),), _PARMAP
        ),
        Contender(
            "parmap_nocheck",
            "parmap, check=False",
            "parmap",
            run_parmap,
            (("check", False),),
            _PARMAP,
        ),
    ]
}

#: Contenders of the ordinary workloads, in report order.
GENERAL = (
    "map",
    "pool",
    "imap1",
    "ppe1",
    "ppe",
    "joblib",
    "pathos",
    "mpire",
    "multiprocess",
    "parmap",
    "parmap_workers",
)

#: Contenders of each parmap-only workload, in the order they must run.
PARMAP_ONLY = {
    "cache": ("parmap_cold", "parmap_cached"),
    "check": ("parmap_check", "parmap_nocheck"),
}
