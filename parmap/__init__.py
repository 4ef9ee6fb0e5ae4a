"""parmap: a parallel ``map`` for data scripts.

``parallel_map(func, items)`` returns what ``list(map(func, items))`` returns,
computed on several cores; lambdas, closures and ``__main__`` functions work
under every start method. Before work ships, parmap checks that it can be
pickled and explains what cannot; with ``cache=DIR`` an interrupted run
resumes where it stopped.

Every public name is loaded on first use: a worker process imports the
package on its way to :mod:`parmap._transport.worker`, and must not pay for the
scheduler, the check or the cache it never runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parmap._version import __version__

if TYPE_CHECKING:
    from parmap._api import imap, parallel_map
    from parmap._check.check import check
    from parmap._check.report import CheckReport, Problem
    from parmap._options import MapOptions
    from parmap._run.reduce import map_reduce
    from parmap._transport.messages import Failure
    from parmap.backends import Backend
    from parmap.backends.processes import ProcessBackend
    from parmap.backends.serial import SerialBackend
    from parmap.backends.threads import ThreadBackend
    from parmap.cache import Cache
    from parmap.errors import (
        CacheWarning,
        ParmapError,
        ParmapWarning,
        PicklingWarning,
        RemoteError,
        RemoteTraceback,
        UnpicklableError,
        WorkerDiedError,
        WorkerStartError,
    )

__all__ = [
    "Backend",
    "Cache",
    "CacheWarning",
    "CheckReport",
    "Failure",
    "MapOptions",
    "ParmapError",
    "ParmapWarning",
    "PicklingWarning",
    "Problem",
    "ProcessBackend",
    "RemoteError",
    "RemoteTraceback",
    "SerialBackend",
    "ThreadBackend",
    "UnpicklableError",
    "WorkerDiedError",
    "WorkerStartError",
    "__version__",
    "check",
    "imap",
    "map_reduce",
    "parallel_map",
]

_ERRORS = (
    "CacheWarning",
    "ParmapError",
    "ParmapWarning",
    "PicklingWarning",
    "RemoteError",
    "RemoteTraceback",
    "UnpicklableError",
    "WorkerDiedError",
    "WorkerStartError",
)

#: Where each public name lives.
_LAZY: dict[str, str] = {
    "parallel_map": "parmap._api",
    "imap": "parmap._api",
    "map_reduce": "parmap._run.reduce",
    "check": "parmap._check.check",
    "CheckReport": "parmap._check.report",
    "Problem": "parmap._check.report",
    "Cache": "parmap.cache",
    "Failure": "parmap._transport.messages",
    "MapOptions": "parmap._options",
    "Backend": "parmap.backends",
    "ProcessBackend": "parmap.backends.processes",
    "SerialBackend": "parmap.backends.serial",
    "ThreadBackend": "parmap.backends.threads",
    **dict.fromkeys(_ERRORS, "parmap.errors"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'parmap' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
