"""The positional arguments of a call: the function, and the iterables turned into iterators."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def check_callable(where: str, func: Any, /) -> None:
    """Raise ``TypeError`` unless ``func`` can be called."""
    if not callable(func):
        raise TypeError(
            f"{where}() needs a function as its first argument, got {type(func).__name__} "
            f"{func!r:.60}; call it as {where}(func, items)"
        )


def _is_iterable_type(cls: type) -> bool:
    # What iter() accepts: a non-None __iter__, or the sequence protocol.
    if getattr(cls, "__iter__", None) is not None:
        return True
    return "__iter__" not in dir(cls) and getattr(cls, "__getitem__", None) is not None


def iterate(where: str, position: int, iterable: Any, /) -> Iterator[Any]:
    """``iter(iterable)``, called once (a second call may have effects).

    Raises:
        TypeError: ``iterable`` is not iterable, naming the argument; an error
            raised by the object's own ``__iter__`` propagates unchanged.
    """
    if not _is_iterable_type(type(iterable)):
        raise TypeError(
            f"{where}() argument {position} must be iterable, got {type(iterable).__name__}"
        )
    return iter(iterable)


def iterators(where: str, iterables: tuple[Any, ...], /) -> list[Iterator[Any]]:
    """One iterator per iterable, in order (arguments 2, 3, … of ``where``)."""
    return [iterate(where, position, it) for position, it in enumerate(iterables, 2)]


def length_of(iterables: tuple[Iterable[Any], ...], /) -> int | None:
    """The number of items the zipped iterables give, when every one has a length."""
    lengths = []
    for iterable in iterables:
        if not hasattr(iterable, "__len__"):
            return None
        try:
            lengths.append(len(iterable))  # type: ignore[arg-type]
        except (TypeError, OverflowError, ValueError):
            # OverflowError: a length past sys.maxsize (range(10**20)) has no len().
            return None
    return min(lengths)
