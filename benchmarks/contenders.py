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


def _mp_context(start_method: str | None) -> Any:
    """The standard library's context for ``start_method`` (``None``: the platform's)."""
    import multiprocessing

    return multiprocessing.get_context(start_method)


def run_map(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """Builtin ``map`` in the calling process (``workers`` is ignored)."""
    return list(map(func, items))


def run_mp_pool(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``multiprocessing.Pool.map`` with its own default chunk size."""
    with _mp_context(start_method).Pool(workers) as pool:
        return pool.map(func, items)


def run_mp_imap_1(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``multiprocessing.Pool.imap`` with chunksize 1: one task per item, lazily."""
    with _mp_context(start_method).Pool(workers) as pool:
        return list(pool.imap(func, items, chunksize=1))


def _run_executor(
    func: Callable[[Any], Any],
    items: list[Any],
    workers: int,
    chunksize: int,
    start_method: str | None,
) -> list[Any]:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=_mp_context(start_method)) as pool:
        return list(pool.map(func, items, chunksize=chunksize))


def run_executor_1(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``ProcessPoolExecutor.map`` with its default chunk size of 1."""
    return _run_executor(func, items, workers, 1, start_method)


def sensible_chunksize(n_items: int, workers: int) -> int:
    """The chunk size ``multiprocessing.Pool.map`` picks: about four chunks per worker."""
    return max(1, math.ceil(n_items / (4 * workers)))


def run_executor_chunked(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``ProcessPoolExecutor.map`` with about four chunks per worker."""
    return _run_executor(
        func, items, workers, sensible_chunksize(len(items), workers), start_method
    )


def run_joblib(func: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``joblib.Parallel`` with its defaults (loky backend, automatic batching).

    Loky starts its workers its own way and keeps its executor for the next call in the
    same process: a second call finds them warm.
    """
    from joblib import Parallel, delayed

    return Parallel(n_jobs=workers)(delayed(func)(x) for x in items)


def run_pathos(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``pathos.multiprocessing.ProcessPool.map``, closed and cleared afterwards."""
    if start_method is not None:
        import multiprocess

        # pathos builds its pool from multiprocess's default context; each measurement
        # is a fresh process, so setting the default here touches nothing else.
        multiprocess.set_start_method(start_method, force=True)
    from pathos.multiprocessing import ProcessPool

    pool = ProcessPool(nodes=workers)
    try:
        return pool.map(func, items)
    finally:
        pool.close()
        pool.join()
        pool.clear()


def run_mpire(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``mpire.WorkerPool.map``; arrays are returned as a list, not concatenated."""
    from mpire import WorkerPool

    options = {} if start_method is None else {"start_method": start_method}
    with WorkerPool(n_jobs=workers, **options) as pool:
        return pool.map(func, items, concatenate_numpy_output=False)


def run_multiprocess(
    func: Callable[[Any], Any], items: list[Any], workers: int, start_method: str | None = None
) -> list[Any]:
    """``multiprocess.Pool.map`` (the dill-based fork of multiprocessing)."""
    import multiprocess

    with multiprocess.get_context(start_method).Pool(workers) as pool:
        return pool.map(func, items)


def run_parmap(
    func: Callable[[Any], Any], items: list[Any], workers: int, **options: Any
) -> list[Any]:
    """``parmap.parallel_map`` with its defaults plus ``options``."""
    import parmap

    return parmap.parallel_map(func, items, workers=workers, progress=False, **options)


def run_parmap_held(
    func: Callable[[Any], Any],
    batches: list[list[Any]],
    workers: int,
    start_method: str | None = None,
) -> list[list[Any]]:
    """One ``parmap.ProcessBackend`` held open across every call of a multi-call workload."""
    import parmap

    with parmap.ProcessBackend(workers, start_method=start_method) as backend:
        return [
            parmap.parallel_map(func, items, backend=backend, progress=False) for items in batches
        ]


def run_calls(
    spec: Contender,
    func: Callable[[Any], Any],
    batches: list[list[Any]],
    workers: int,
    **options: Any,
) -> list[list[Any]]:
    """Run ``spec`` once per batch, as consecutive calls of one script would.

    A contender with a ``loop`` runner manages the calls itself (holding a pool across
    them); any other makes each call exactly as it makes a single one, pool and all.
    """
    if spec.loop is not None:
        return spec.loop(func, batches, workers, **options)
    return [spec.runner(func, items, workers, **options) for items in batches]


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
        method: ``None`` when the contender runs once per start method (its runner takes
            ``start_method``); otherwise the fixed name reports show in its place (``"-"``
            for the caller's own process, ``"loky"`` for joblib's own way of starting).
        loop: For multi-call workloads, a runner that takes every call's items at once
            (to hold a pool across the calls); ``None``: each call is made like a single one.
    """

    name: str
    label: str
    family: str
    runner: Runner
    options: tuple[tuple[str, Any], ...] = ()
    imports: tuple[str, ...] = ()
    parallel: bool = True
    method: str | None = None
    loop: Callable[..., list[list[Any]]] | None = None


_MP = ("multiprocessing.pool",)
_PPE = ("concurrent.futures.process",)
# parmap loads its names on first use: importing parmap._api loads what parallel_map runs
# on (the scheduler, the processes backend, multiprocessing), as `import multiprocessing`
# does for Pool.map, so that no library's import is inside the clock.
_PARMAP = ("parmap", "parmap._api")

CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in [
        Contender("map", "map", "map", run_map, parallel=False, method="-"),
        Contender("pool", "Pool.map", "pool", run_mp_pool, imports=_MP),
        Contender("imap1", "Pool.imap, chunksize=1", "pool", run_mp_imap_1, imports=_MP),
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
        Contender(
            "joblib", "joblib.Parallel", "joblib", run_joblib, imports=("joblib",), method="loky"
        ),
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
        # One backend across the calls of a multi-call workload.
        Contender(
            "parmap_held",
            "parmap, one ProcessBackend held",
            "parmap",
            run_parmap,
            imports=_PARMAP,
            loop=run_parmap_held,
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

#: Contenders of the multi-call workloads: per-call pools, a warm executor, a held backend.
CALLS = ("map", "pool", "joblib", "parmap", "parmap_held")

#: Workloads with contenders of their own, in the order they must run.
OWN_CONTENDERS = {
    "cache": ("parmap_cold", "parmap_cached"),
    "check": ("parmap_check", "parmap_nocheck"),
    "repeated": CALLS,
    "notebook_loop": CALLS,
}

#: Start methods in report order: Python 3.14's default on Linux first, beside fork.
START_METHODS = ("forkserver", "fork", "spawn")


def cell(contender: str, start_method: str | None) -> str:
    """The name of one contender on one start method: ``pool@spawn`` (or just ``map``)."""
    return contender if start_method is None else f"{contender}@{start_method}"


def split_cell(name: str) -> tuple[str, str | None]:
    """The contender and start method a cell name stands for (see :func:`cell`)."""
    contender, _, method = name.partition("@")
    return contender, method or None


def method_of(name: str) -> str:
    """The start method a cell name shows in reports (a fixed name for some contenders)."""
    contender, method = split_cell(name)
    return method or CONTENDERS[contender].method or "default"
