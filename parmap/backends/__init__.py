"""Backends by name: processes (default), threads, serial, dask."""

from __future__ import annotations

from typing import Any

from parmap._options import Options
from parmap.backends._base import Backend, Session, usable_cpus

__all__ = ["Backend", "Session", "create", "from_object", "usable_cpus"]


def create(name: str, options: Options, /) -> Backend:
    """A new backend for the ``backend`` option's name, owned by one run."""
    if name == "processes":
        from parmap.backends.processes import ProcessBackend

        return ProcessBackend(options.workers, start_method=options.start_method)
    if name == "threads":
        from parmap.backends.threads import ThreadBackend

        return ThreadBackend(options.workers)
    if name == "serial":
        from parmap.backends.serial import SerialBackend

        return SerialBackend()
    from parmap.backends.dask import DaskBackend

    return DaskBackend(options.workers, address=options.address)


def from_object(obj: Any, options: Options, /) -> Backend:
    """Wrap an object the caller owns (a ``distributed.Client``) as a backend."""
    if type(obj).__module__.split(".")[0] == "distributed":
        from parmap.backends.dask import DaskBackend

        return DaskBackend(options.workers, client=obj)
    raise TypeError(
        "`backend` must be 'processes', 'threads', 'serial', 'dask', a parmap backend "
        f"object or a distributed.Client, got {type(obj).__name__}"
    )
