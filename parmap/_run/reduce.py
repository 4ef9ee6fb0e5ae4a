"""``map_reduce``: each worker maps and reduces a chunk; the caller combines the partials.

How it runs. The input is cut into chunks whose boundaries depend only on the
number of items (or on ``chunksize``), never on timing, worker count or
machine. Each chunk is one item of an ordinary :func:`parmap.imap` run whose
function is a :class:`~parmap._run.reduce_chunk.ChunkReducer`: the worker maps and
reduces the chunk and sends back one partial result instead of every mapped
value. The caller merges the partials in input order as a balanced tree
(a binary counter: at most log2(chunks) partials are held at once), so a
reducer that is associative but not commutative, such as list
concatenation, keeps its order.

Why on top of ``imap`` rather than a backend primitive of its own: every
option then means what it means for ``parallel_map`` on every backend (the
pre-flight check, serializer choice, progress, retries, timeouts, worker
deaths, Dask) without a second code path, and ``cache=DIR`` checkpoints each
chunk's partial as it arrives. Partials are small by design, so merging
them in the caller costs little next to the mapping.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeVar, Unpack

from parmap._api import imap
from parmap._options import MapOptions, options_help, parse_options
from parmap._run.arguments import iterate, length_of
from parmap._run.reduce_chunk import Chunk, ChunkReducer, Partial, Skipped
from parmap._transport.messages import Failure
from parmap.errors import WorkerDiedError

R = TypeVar("R")

#: Chunks when the input's length is unknown, and the most items in one chunk.
UNSIZED_CHUNK: Final = 256
MAX_CHUNK: Final = 2048
#: A sized input is cut into about this many chunks (fewer when it is small).
TARGET_CHUNKS: Final = 128


class _NoValue:
    """The type of the ``initial`` default: no start value was given."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Final = _NoValue()


def chunk_size(length: int | None, chunksize: int | None, /) -> int:
    """Items per chunk: ``chunksize`` when given, else from the input's length alone."""
    if chunksize is not None:
        return chunksize
    if length is None:
        return UNSIZED_CHUNK
    return max(1, min(MAX_CHUNK, math.ceil(length / TARGET_CHUNKS)))


class _Chunks:
    """The input cut into ``(start, items)`` chunks, read lazily; sized when the input is."""

    def __init__(self, items: Iterator[Any], size: int, length: int | None) -> None:
        self._items, self._size, self._length = items, size, length

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("the input has no length")
        return math.ceil(self._length / self._size)

    def __iter__(self) -> Iterator[Chunk]:
        items = self._items
        for start in itertools.count(0, self._size):
            batch = list(itertools.islice(items, self._size))
            if not batch:
                return
            yield start, batch


class _Tree:
    """Merges values pushed in order as a balanced binary tree, keeping their order."""

    def __init__(self, merge: Callable[[Any, Any], Any]) -> None:
        self._merge = merge
        self._stack: list[tuple[int, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._stack)

    def push(self, value: Any) -> None:
        level = 0
        while self._stack and self._stack[-1][0] == level:
            value = self._merge(self._stack.pop()[1], value)
            level += 1
        self._stack.append((level, value))

    def result(self) -> Any:
        value = self._stack.pop()[1]
        while self._stack:
            value = self._merge(self._stack.pop()[1], value)
        return value


def _length(iterable: Iterable[Any]) -> int | None:
    return length_of((iterable,))


def _check_arguments(mapper: Any, reducer: Any, iterable: Any, combine: Any) -> Iterator[Any]:
    """Check the arguments; returns the one iterator of the input (``iter()`` is called once)."""
    for name, func in (("mapper", mapper), ("reducer", reducer)):
        if not callable(func):
            raise TypeError(
                f"map_reduce() needs a function as its {name}, got {type(func).__name__} "
                f"{func!r:.60}; call it as map_reduce(mapper, reducer, items)"
            )
    if combine is not None and not callable(combine):
        raise TypeError(f"`combine` must be a function or None, got {type(combine).__name__}")
    return iterate("map_reduce", 3, iterable)


def map_reduce(
    mapper: Callable[[Any], Any],
    reducer: Callable[[Any, Any], R],
    iterable: Iterable[Any],
    /,
    *,
    initial: Any = NO_VALUE,
    combine: Callable[[R, R], R] | None = None,
    **options: Unpack[MapOptions],
) -> R:
    """Return ``functools.reduce(reducer, map(mapper, iterable), initial)``, computed in parallel.

    Each worker maps and reduces a chunk of items and sends back one partial
    result; the caller merges the partials in input order. So ``reducer`` (or
    ``combine``) must be associative — ``merge(merge(a, b), c) == merge(a,
    merge(b, c))`` — but need not be commutative: list concatenation keeps
    its order.

    Args:
        mapper: called on each item; lambdas, closures and ``__main__`` functions work.
        reducer: ``reducer(accumulator, mapped_value)``, as for ``functools.reduce``.
        iterable: the items.
        initial: the start value. Without ``combine`` it is folded in once, in
            front (as ``functools.reduce`` does). With ``combine`` every chunk
            starts from a deep copy of it, so it must be an identity of
            ``combine`` (``{}``, ``0``, ``[]``).
        combine: merges two partial results when that differs from
            ``reducer``, e.g. ``reducer`` counts a word into a dict and
            ``combine`` merges two dicts of counts.
        **options: the options of :func:`parmap.parallel_map`. ``chunksize``
            sets the items per chunk (default: from the number of items
            only, so that a cached run resumes with the same chunks);
            ``progress`` counts chunks; ``timeout`` bounds one chunk;
            ``retries`` tries the mapper again on an item (and a chunk again
            when its worker died); ``on_error="skip"`` leaves failing items
            out with a warning; ``on_error="collect"`` is refused, since a
            failure cannot be reduced. With ``cache=DIR`` each chunk's
            partial is stored as it arrives, and an interrupted run recomputes
            only the chunks that were missing.

    Raises:
        TypeError: the input is empty and no ``initial`` was given.
        UnpicklableError: the functions or an item cannot be sent to the workers.
        WorkerDiedError: a worker died while reducing a chunk.
        Exception: the mapper's or reducer's own exception, naming the item.
    """
    items = _check_arguments(mapper, reducer, iterable, combine)
    given: dict[str, Any] = dict(options)
    opts = parse_options("map_reduce", given)
    if opts.on_error == "collect":
        raise ValueError(
            "map_reduce() cannot reduce failures, so on_error='collect' is not supported; "
            "use on_error='skip' to leave failing items out (with a warning), or "
            "parallel_map(..., on_error='collect') to see every failure"
        )
    seeded = combine is not None and initial is not NO_VALUE
    skip = opts.on_error == "skip"
    size = chunk_size(_length(iterable), opts.chunksize)
    chunk_reducer = ChunkReducer(
        mapper,
        reducer,
        initial=initial if seeded else None,
        seeded=seeded,
        skip=skip,
        retries=opts.retries,
        retry_on=opts.retry_on,
    )
    # The engine sees chunks as its items: it groups them into tasks itself,
    # retries a chunk only when its worker died or timed out (the mapper is
    # retried per item above) and, with "skip", hands back a lost chunk as a
    # Failure so that its items can be reported.
    deaths = tuple(t for t in (WorkerDiedError, TimeoutError) if issubclass(t, opts.retry_on))
    given.update(
        chunksize=None,
        on_error="collect" if skip else "raise",
        retries=opts.retries if deaths else 0,
        retry_on=deaths or opts.retry_on,
    )
    tree = _Tree(combine or reducer)
    skipped: list[Skipped] = []
    chunks = _Chunks(items, size, _length(iterable))
    try:
        partials: Iterator[Any] = imap(chunk_reducer, chunks, **given)
        for partial in partials:
            if isinstance(partial, Failure):
                skipped.extend(_lost_chunk(partial))
                continue
            assert isinstance(partial, Partial)
            skipped.extend(partial.skipped)
            if partial.count or partial.seeded:
                tree.push(partial.value)
    except Exception as exc:
        _relabel(exc, size)
        raise
    if skipped:
        _warn_skipped(skipped)
    if not tree:
        if initial is NO_VALUE:
            raise TypeError("map_reduce() of empty iterable with no initial value")
        return initial  # type: ignore[no-any-return]
    result = tree.result()
    if initial is not NO_VALUE and not seeded:
        result = reducer(initial, result)
    return result  # type: ignore[no-any-return]


def _lost_chunk(failure: Failure) -> list[Skipped]:
    start, items = failure.item
    error = f"{type(failure.exception).__qualname__}: {failure.exception}".splitlines()[0]
    return [Skipped(index, "?", error) for index in range(start, start + len(items))]


def _relabel(exc: BaseException, size: int) -> None:
    """Make the notes of a failed run name the user's item, not the chunk that carried it."""
    if isinstance(exc, WorkerDiedError) and exc.index is not None:
        first = exc.index * size
        exc.add_note(
            f"parmap: in map_reduce(), item {exc.index} is a chunk: items {first} to "
            f"{first + size - 1} of the input, mapped and reduced together in one worker"
        )
        return


def _warn_skipped(skipped: list[Skipped]) -> None:
    shown = "\n".join(
        f"  item {s.index}" + (f" ({s.item})" if s.item != "?" else "") + f": {s.error}"
        for s in skipped[:5]
    )
    more = f"\n  ... and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    warnings.warn(
        f"parmap: map_reduce left out {len(skipped)} item(s) that failed "
        f"(on_error='skip'):\n{shown}{more}",
        RuntimeWarning,
        stacklevel=3,
    )


map_reduce.__doc__ = f"{map_reduce.__doc__}\n{options_help()}\n"
map_reduce.__module__ = "parmap"
