"""Exceptions and warnings raised by parmap.

The hierarchy::

    Exception
    ├── ParmapError                      base of parmap's own errors
    │   ├── WorkerDiedError              a worker process ended abruptly
    │   │   └── WorkerStartError         a worker process could not start (no item to blame)
    │   └── RemoteError                  stand-in for a worker exception that could not travel
    ├── pickle.PicklingError
    │   └── UnpicklableError             (also a ParmapError) an object cannot be shipped
    └── RemoteTraceback                  the worker's traceback, attached as ``__cause__``

    UserWarning
    └── ParmapWarning
        ├── CacheWarning                 the cache misbehaved; the run goes on without it
        └── PicklingWarning              something pickles, but not the way you may think

A worker's own exception comes back as its own type (``ValueError`` stays
``ValueError``): parmap never wraps it, it only attaches the remote traceback
as ``__cause__`` and a note naming the item.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import TYPE_CHECKING, Any

__all__ = [
    "CacheWarning",
    "ParmapError",
    "ParmapWarning",
    "PicklingWarning",
    "RemoteError",
    "RemoteTraceback",
    "UnpicklableError",
    "WorkerDiedError",
    "WorkerStartError",
    "caller_stacklevel",
]

if TYPE_CHECKING:
    from parmap._check.report import CheckReport


class ParmapError(Exception):
    """Base class of the errors parmap raises on its own account."""


class RemoteTraceback(Exception):  # noqa: N818 - mirrors concurrent.futures' name
    """The formatted traceback of an exception raised in a worker."""

    def __init__(self, tb: str, /) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class RemoteError(ParmapError):
    """Stand-in for a worker exception whose type could not be sent back.

    Attributes:
        type_name: the qualified name of the original exception type.
        message: ``str()`` of the original exception.
    """

    def __init__(self, type_name: str, message: str, /) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message))


class UnpicklableError(ParmapError, pickle.PicklingError):
    """An object cannot be pickled to travel to or from a worker.

    Attributes:
        report: the :class:`parmap.CheckReport` that explains the failure.
    """

    def __init__(self, message: str, /, report: CheckReport | None = None) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.report))


class WorkerDiedError(ParmapError):
    """A worker process ended abruptly while running items.

    Attributes:
        exitcode: the worker's exit code; negative for a signal (``-9`` is SIGKILL).
        pid: the worker's process id.
        index: the index of the item the worker was running, if known.
    """

    def __init__(
        self, message: str, /, *, exitcode: int | None, pid: int | None, index: int | None
    ) -> None:
        super().__init__(message)
        self.exitcode = exitcode
        self.pid = pid
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_worker_died, (str(self), self.exitcode, self.pid, self.index))


class WorkerStartError(WorkerDiedError):
    """Worker processes cannot start: the script, not any item, is to blame.

    Raised before any worker starts when the main script cannot be imported
    by spawn or forkserver workers (read from standard input, or starting
    workers outside its ``if __name__ == "__main__":`` block), and when a
    worker ends before it is ready.
    """

    def __init__(self, message: str, /, *, pid: int | None = None) -> None:
        super().__init__(message, exitcode=None, pid=pid, index=None)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_worker_start, (str(self), self.pid))


def _rebuild_worker_start(message: str, pid: int | None) -> WorkerStartError:
    return WorkerStartError(message, pid=pid)


def _rebuild_worker_died(
    message: str, exitcode: int | None, pid: int | None, index: int | None
) -> WorkerDiedError:
    return WorkerDiedError(message, exitcode=exitcode, pid=pid, index=index)


class ParmapWarning(UserWarning):
    """Base class of parmap's warnings."""


class CacheWarning(ParmapWarning):
    """The cache could not be read or written; the run goes on without it."""


class PicklingWarning(ParmapWarning):
    """An object pickles, but the copy will not behave like the original."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning issued here point at the user's code.

    Counts the frames inside parmap between the caller of this function and
    the first frame outside it (generators make a fixed number unreliable).
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
