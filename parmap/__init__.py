"""parmap: a parallel ``map`` for data scripts.

``parallel_map(func, items)`` returns what ``list(map(func, items))`` returns,
computed on several cores; lambdas, closures and ``__main__`` functions work
under every start method. Before work ships, parmap checks that it can be
pickled and explains what cannot; with ``cache=DIR`` an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parmap._api import imap, parallel_map
from parmap._options import MapOptions
from parmap._task import Failure
from parmap._version import __version__
from parmap.backends import Backend
from parmap.backends.processes import ProcessBackend
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

if TYPE_CHECKING:
    from parmap._check import check
    from parmap._reduce import map_reduce
    from parmap._report import CheckReport, Problem
    from parmap.backends.serial import SerialBackend
    from parmap.backends.threads import ThreadBackend
    from parmap.cache import Cache

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

# Loaded on first use: the check machinery, the cache and the other backends pull
# in modules a plain parallel_map does not need. The processes backend is the
# default, so it (and multiprocessing with it) is loaded with parmap: a script
# pays that once, at import, not inside its first call.
_LAZY = {
    "check": ("parmap._check", "check"),
    "CheckReport": ("parmap._report", "CheckReport"),
    "Problem": ("parmap._report", "Problem"),
    "Cache": ("parmap.cache", "Cache"),
    "map_reduce": ("parmap._reduce", "map_reduce"),
    "SerialBackend": ("parmap.backends.serial", "SerialBackend"),
    "ThreadBackend": ("parmap.backends.threads", "ThreadBackend"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'parmap' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
