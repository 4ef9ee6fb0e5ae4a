"""``parallel_map`` and ``imap``: check the options, pick the backend, run the scheduler."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar, Unpack

from parmap._options import MapOptions, Options, options_help, parse_options
from parmap._run.arguments import check_callable, iterators, length_of
from parmap._run.progress import Progress
from parmap._run.scheduler import Scheduler
from parmap._transport import worker as _worker
from parmap._transport.messages import Job
from parmap._transport.tracebacks import user_facing
from parmap.backends._base import Backend
from parmap.backends.processes import ProcessBackend

T = TypeVar("T")


def resolve_backend(options: Options, /) -> tuple[Backend, bool]:
    """The backend to run on, and whether this run owns (and must close) it."""
    backend = options.backend
    if isinstance(backend, Backend):
        return backend, False
    if not isinstance(backend, str):
        from parmap.backends import from_object

        return from_object(backend, options), False
    if os.environ.get(_worker.WORKER_ENV) and backend in ("processes", "dask"):
        # Inside a worker, a nested call runs in that worker, one item after
        # another: starting workers from workers would multiply processes.
        backend = "serial"
    if backend == "processes" and _reuses(options):
        from parmap.backends import _shared, usable_cpus
        from parmap.backends.processes import default_start_method

        workers = options.workers or usable_cpus()
        method = options.start_method or default_start_method()
        return _shared.SHARED.get(workers, method), False
    from parmap.backends import create

    return create(backend, options), True


def _shared_backend(options: Options) -> Backend | None:
    """The shared backend a run with these options takes, if it takes one."""
    if options.backend != "processes" or not _reuses(options):
        return None
    from parmap.backends import _shared, usable_cpus
    from parmap.backends.processes import default_start_method

    workers = options.workers or usable_cpus()
    return _shared.SHARED.peek(workers, options.start_method or default_start_method())


def _reuses(options: Options) -> bool:
    """Whether the run takes warm workers shared across runs (see parmap.backends._shared)."""
    if options.initializer is not None:
        return False  # its workers are set up for it alone
    if options.reuse is not None:
        return options.reuse
    from parmap.backends._shared import reuse_by_default

    return reuse_by_default()


def imap(
    func: Callable[..., T],
    iterable: Iterable[Any],
    /,
    *iterables: Iterable[Any],
    **options: Unpack[MapOptions],
) -> Iterator[T]:
    """Lazily map ``func`` over the items, in parallel; results as they are ready.

    Like builtin ``map``: several iterables are zipped and the function gets
    one argument from each. The input is read with bounded look-ahead, so a
    generator of millions of items keeps memory flat.

    Args:
        func: the function; lambdas, closures and ``__main__`` functions work.
        iterable: the items.
        *iterables: more iterables, zipped with the first.
        **options: the options below (``workers``, ``backend``, ``cache`` …).

    Returns:
        An iterator of results, in input order unless ``ordered=False``.
    """
    check_callable("imap", func)
    sources = (iterable, *iterables)
    opts = parse_options("imap", dict(options))
    return _flatten(_run(func, iterators("imap", sources), length_of(sources), opts))


def parallel_map(
    func: Callable[..., T],
    iterable: Iterable[Any],
    /,
    *iterables: Iterable[Any],
    **options: Unpack[MapOptions],
) -> list[T]:
    """Return ``list(map(func, iterable, *iterables))``, computed in parallel.

    Args:
        func: the function; lambdas, closures and ``__main__`` functions work.
        iterable: the items.
        *iterables: more iterables, zipped with the first.
        **options: the options below (``workers``, ``backend``, ``cache`` …).

    Raises:
        UnpicklableError: the function or an item cannot be sent to the workers.
        WorkerDiedError: a worker died running an item (with ``on_error="raise"``).
        Exception: the function's own exception, of its own type, naming the item.
    """
    check_callable("parallel_map", func)
    sources = (iterable, *iterables)
    opts = parse_options("parallel_map", dict(options))
    results: list[T] = []
    try:
        for block in _run(func, iterators("parallel_map", sources), length_of(sources), opts):
            results.extend(block)
    except BaseException as exc:  # noqa: BLE001 - re-raised, with a shorter traceback
        raise user_facing(exc)
    return results


def _flatten(blocks: Iterator[list[T]]) -> Generator[T, None, None]:
    """Yield the results of each block: a generator, so ``close()`` stops the run at once."""
    try:
        for block in blocks:
            # Hand each result over and let go of it: the caller may drop it at once.
            block.reverse()
            while block:
                yield block.pop()
    except GeneratorExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - re-raised, with a shorter traceback
        raise user_facing(exc)
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()


def _run(
    func: Callable[..., Any], iterators: list[Iterator[Any]], total: int | None, opts: Options
) -> Iterator[list[Any]]:
    """Yield blocks of results (lists); closes what the run opened, however it ends."""
    backend, owned = resolve_backend(opts)
    # Workers of a backend kept across runs start in the background while the
    # caller works: they serve this run once ready, and the next runs in any case.
    warm_up = "no"
    if not owned and isinstance(backend, ProcessBackend):
        # A backend the caller holds starts its workers at once; the shared one
        # once the run has shown it is more than a few milliseconds of work.
        warm_up = "when worth" if backend is _shared_backend(opts) else "now"
    cache = None
    if opts.cache is not None:
        from parmap.cache import as_cache

        cache = as_cache(opts.cache)
    star = len(iterators) > 1
    job = Job(
        func, opts.serializer, opts.initializer, opts.initargs, opts.timeout, star, opts.check
    )
    try:
        bound = cache.bind(func) if cache is not None else None
        try:
            session = backend.open(job)
            progress = Progress(opts.progress, total, getattr(func, "__name__", "items"))
            scheduler = Scheduler(
                job,
                session,
                zip(*iterators) if star else iterators[0],  # noqa: B905 - stops at the shortest
                total=total,
                options=opts,
                workers=backend.workers,
                cache=bound,
                progress=progress,
                warm_up=warm_up,
            )
            yield from scheduler.run()
        finally:
            if bound is not None:
                bound.close()
    finally:
        if owned:
            backend.close()


for _public in (imap, parallel_map):
    # One declaration of the options (parmap._options.OPTION_DOCS) for help() and the README.
    _public.__doc__ = f"{_public.__doc__}\n{options_help()}\n"
    _public.__module__ = "parmap"  # where users find it (and pickles name it)
