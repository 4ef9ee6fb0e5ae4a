"""The run options: their names, defaults and validation, in one place."""

from __future__ import annotations

import difflib
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Final, TypedDict

from parmap import serializers

BACKENDS: Final = ("processes", "threads", "serial", "dask")
START_METHODS: Final = ("fork", "forkserver", "spawn")
ON_ERROR: Final = ("raise", "collect", "skip")


class MapOptions(TypedDict, total=False):
    """The keyword options of :func:`parmap.parallel_map`, :func:`parmap.imap` and map_reduce."""

    workers: int | None
    backend: Any
    serializer: str
    chunksize: int | None
    ordered: bool
    progress: bool | None
    cache: Any
    check: bool
    on_error: str
    retries: int
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    timeout: float | None
    initializer: Callable[..., Any] | None
    initargs: tuple[Any, ...]
    start_method: str | None
    address: str | None
    inline: bool | None
    reuse: bool | None


@dataclass(frozen=True, slots=True)
class Options:
    """Validated options of one run (see :class:`MapOptions` for their meaning)."""

    workers: int | None = None
    backend: Any = "processes"
    serializer: str = "auto"
    chunksize: int | None = None
    ordered: bool = True
    progress: bool | None = None
    cache: Any = None
    check: bool = True
    on_error: str = "raise"
    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = field(default=(Exception,))
    timeout: float | None = None
    initializer: Callable[..., Any] | None = None
    initargs: tuple[Any, ...] = ()
    start_method: str | None = None
    address: str | None = None
    inline: bool | None = None
    reuse: bool | None = None


_NAMES: Final = tuple(f.name for f in fields(Options))

#: Every option and what it means, in the order shown: the docstrings of parallel_map,
#: imap and map_reduce, MapOptions and the README's table of options all say this.
OPTION_DOCS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("workers",), "number of workers; default: the CPUs this process may use"),
    (
        ("backend",),
        '`"processes"` (default), `"threads"`, `"serial"`, `"dask"`, or a backend object '
        "you own and reuse (`parmap.ProcessBackend(4)` as a context manager keeps its "
        "workers warm), or a `distributed.Client`",
    ),
    (
        ("serializer",),
        '`"auto"` (default: plain pickle where it works, else cloudpickle, else dill), or '
        '`"pickle"`, `"cloudpickle"`, `"dill"`',
    ),
    (("chunksize",), "items per task; default: adaptive (see *How it works*)"),
    (("ordered",), "`True` (default): results in input order; `False`: as they finish"),
    (
        ("progress",),
        "`True`/`False`; default: a bar once the run lasts over a second, on stderr when "
        "it is a terminal, and in a Jupyter notebook (tqdm's widget when ipywidgets is "
        "installed)",
    ),
    (("cache",), "a directory or a `parmap.Cache`: results are stored there and reused"),
    (("check",), "`True` (default): explain unpicklable functions and items in detail"),
    (
        ("on_error",),
        '`"raise"` (default), `"collect"` (a `parmap.Failure` in place of the result; not '
        'with `map_reduce`, where a failure cannot be reduced), `"skip"`',
    ),
    (
        ("retries", "retry_on"),
        "run a failing item again up to `retries` times, for these exception types (default: any)",
    ),
    (
        ("timeout",),
        "seconds one item may run; a late item fails with `TimeoutError` and its worker "
        "is replaced",
    ),
    (
        ("initializer", "initargs"),
        "called once in each worker before its first item (open a connection once per worker)",
    ),
    (("start_method",), '`"fork"`, `"forkserver"` or `"spawn"`; default: the platform\'s'),
    (
        ("inline",),
        '`None` (default): with `on_error="raise"`, a job cheaper than starting workers '
        "runs in the caller; `False`: never (every item runs in a worker, isolated from "
        "the caller); `True`: whatever `on_error` says",
    ),
    (("address",), 'with `backend="dask"`: the scheduler\'s address; default: a local cluster'),
    (
        ("reuse",),
        "`None` (default): runs on the processes backend without an `initializer` share "
        "warm workers across calls (see *Warm workers*); `False`: this run starts and "
        "stops its own. `PARMAP_REUSE_WORKERS=0` makes `False` the default",
    ),
)


def options_help() -> str:
    """The options section of the public functions' docstrings, from :data:`OPTION_DOCS`."""
    out = ["Options (keyword-only; the same in parallel_map, imap and map_reduce):", ""]
    for names, meaning in OPTION_DOCS:
        text = f"{', '.join(names)}: {meaning}"
        out.append(textwrap.fill(text, 92, initial_indent="    ", subsequent_indent="        "))
    return "\n".join(out)


MapOptions.__doc__ = f"{MapOptions.__doc__}\n\n{options_help()}\n"


def did_you_mean(word: str, choices: tuple[str, ...] | list[str], /) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {listed}, got {value!r}{hint}")


def _positive_int(name: str, value: Any, *, allow_none: bool, allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        extra = " or None" if allow_none else ""
        raise (TypeError if not isinstance(value, int) or isinstance(value, bool) else ValueError)(
            f"`{name}` must be {kind} integer{extra}, got {value!r}"
        )


def _runs_in_caller(backend: Any) -> bool:
    # A backend object names itself with the same names (Backend.name).
    name = backend if isinstance(backend, str) else getattr(backend, "name", None)
    return name == "serial"


def _backend_name(backend: Any) -> str:
    return backend if isinstance(backend, str) else type(backend).__name__


def parse_options(where: str, options: dict[str, Any], /) -> Options:
    """Check every option and return them frozen.

    Args:
        where: the public function's name, for messages.
        options: the keyword arguments as the caller gave them.

    Raises:
        TypeError: an unknown option, or a value of the wrong type.
        ValueError: a value out of range or not among the choices.
    """
    for name in options:
        if name not in _NAMES:
            raise TypeError(
                f"{where}() got an unknown option {name!r}{did_you_mean(name, _NAMES)} "
                f"(options: {', '.join(_NAMES)})"
            )
    opts = Options(**options)
    _positive_int("workers", opts.workers, allow_none=True)
    _positive_int("chunksize", opts.chunksize, allow_none=True)
    _positive_int("retries", opts.retries, allow_none=False, allow_zero=True)
    _choice("serializer", opts.serializer, serializers.NAMES)
    _choice("on_error", opts.on_error, ON_ERROR)
    if opts.start_method is not None:
        _choice("start_method", opts.start_method, START_METHODS)
    if isinstance(opts.backend, str):
        _choice("backend", opts.backend, BACKENDS)
    if opts.timeout is not None and (
        isinstance(opts.timeout, bool)
        or not isinstance(opts.timeout, int | float)
        or opts.timeout <= 0
    ):
        raise ValueError(
            f"`timeout` must be a positive number of seconds or None, got {opts.timeout!r}"
        )
    if opts.timeout is not None and _runs_in_caller(opts.backend):
        raise ValueError(
            f"`timeout` cannot be kept by backend={_backend_name(opts.backend)!r}: it runs each "
            "item in the caller's own thread and cannot stop one that runs late. Use "
            "backend='processes' (a late item's worker is stopped) or 'threads' (a late "
            "item is abandoned), or leave `timeout` out"
        )
    if opts.initializer is not None and not callable(opts.initializer):
        raise TypeError(f"`initializer` must be callable, got {opts.initializer!r}")
    if not isinstance(opts.initargs, tuple | list):
        raise TypeError(f"`initargs` must be a tuple, got {type(opts.initargs).__name__}")
    retry_on = opts.retry_on if isinstance(opts.retry_on, tuple) else (opts.retry_on,)
    for kind in retry_on:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"`retry_on` must be exception types, got {kind!r}")
    if opts.inline is not None and not isinstance(opts.inline, bool):
        raise TypeError(f"`inline` must be True, False or None, got {opts.inline!r}")
    if opts.reuse is not None and not isinstance(opts.reuse, bool):
        raise TypeError(f"`reuse` must be True, False or None, got {opts.reuse!r}")
    for flag in ("ordered", "check"):
        if not isinstance(getattr(opts, flag), bool):
            raise TypeError(f"`{flag}` must be True or False, got {getattr(opts, flag)!r}")
    if opts.progress is not None and not isinstance(opts.progress, bool):
        raise TypeError(f"`progress` must be True, False or None, got {opts.progress!r}")
    if opts.cache is not None and not isinstance(opts.cache, str | os.PathLike):
        from parmap.cache import Cache

        if not isinstance(opts.cache, Cache):
            got = type(opts.cache).__name__
            raise TypeError(f"`cache` must be a directory path or a parmap.Cache, got {got}")
    object.__setattr__(opts, "retry_on", retry_on)
    object.__setattr__(opts, "initargs", tuple(opts.initargs))
    return opts


MapOptions.__module__ = "parmap"  # where users find it
