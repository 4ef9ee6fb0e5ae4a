"""Backends by name: processes (default), threads, serial, dask — one table, :data:`MAKERS`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

from parmap._options import BACKENDS, Options
from parmap.backends._base import Backend, Session, usable_cpus

__all__ = ["MAKERS", "Backend", "Session", "create", "from_object", "usable_cpus"]


def _class(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


#: Each name of the ``backend`` option and how a run makes that backend. The
#: modules load on first use: the dask one needs the optional ``distributed``.
MAKERS: Final[dict[str, Callable[[Options], Backend]]] = {
    "processes": lambda o: _class("parmap.backends.processes:ProcessBackend")(
        o.workers, start_method=o.start_method
    ),
    "threads": lambda o: _class("parmap.backends.threads:ThreadBackend")(o.workers),
    "serial": lambda o: _class("parmap.backends.serial:SerialBackend")(),
    "dask": lambda o: _class("parmap.backends.dask:DaskBackend")(o.workers, address=o.address),
}
assert tuple(MAKERS) == BACKENDS, "the option's choices and the makers must be one list"


def create(name: str, options: Options, /) -> Backend:
    """A new backend for the ``backend`` option's name, owned by one run."""
    return MAKERS[name](options)


def from_object(obj: Any, options: Options, /) -> Backend:
    """Wrap an object the caller owns (a ``distributed.Client``) as a backend."""
    if type(obj).__module__.split(".")[0] == "distributed":
        from parmap.backends.dask import DaskBackend

        return DaskBackend(options.workers, client=obj)
    names = ", ".join(repr(name) for name in BACKENDS)
    raise TypeError(
        f"`backend` must be {names}, a parmap backend object or a distributed.Client, "
        f"got {type(obj).__name__}"
    )
