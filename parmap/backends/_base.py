"""The backend interface: a backend opens one session per run; a session runs tasks.

A :class:`Backend` owns workers (processes, threads, a cluster's) and may keep
them warm across runs when the caller holds it open as a context manager. For
each run the scheduler calls :meth:`Backend.open` and drives the returned
:class:`Session` with three primitives: ``submit`` a task, ``poll`` for events,
``cancel`` what is left. Everything else (chunking, ordering, errors, retries,
the cache, progress) lives in the scheduler and is written once.
"""

from __future__ import annotations

import abc
import os
from types import TracebackType
from typing import Self

from parmap._transport.messages import Event, Job, Task


def usable_cpus() -> int:
    """The number of CPUs this process may run on (affinity and cgroup-aware where possible)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    return max(1, count)


class Session(abc.ABC):
    """One run's use of a backend's workers.

    Attributes:
        slots: how many tasks may be outstanding at once; the scheduler never
            submits more (it keeps a little more than one task per worker so
            that no worker waits for the next one).
        inline_ok: whether the scheduler may run small jobs in the caller.
        startup_cost: seconds this session is expected to need before its
            first result (pool start-up); the scheduler compares it with the
            estimated cost of running the whole job in the caller.
    """

    slots: int
    inline_ok: bool = False
    startup_cost: float = 0.0

    def prestart(self) -> None:  # noqa: B027 - optional hook
        """Start the workers now, in the background, for this run and the next ones."""

    def starting(self) -> bool:
        """Whether workers were started and none is ready yet (the caller keeps working)."""
        return False

    def ready_workers(self) -> int:
        """How many workers are ready now, idle or not (0 where the backend cannot say)."""
        return 0

    @abc.abstractmethod
    def submit(self, task: Task, /) -> None:
        """Start running ``task``; never blocks for long.

        Raises:
            UnpicklableError: an item cannot be sent to the workers.
        """

    @abc.abstractmethod
    def poll(self, timeout: float, /) -> list[Event]:
        """Wait at most ``timeout`` seconds for events; an empty list means none yet."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop every outstanding task now (the run failed or was interrupted)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """End the run normally; the backend may keep its workers for the next one."""


class Backend(abc.ABC):
    """Something that runs tasks: processes, threads, the caller itself, a cluster.

    A backend given by name is created and closed by each run; a backend object
    the caller creates is reused across runs until the caller closes it (best
    as a context manager), which keeps its workers warm.
    """

    #: The name used in messages and in the ``backend`` option.
    name: str = "?"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = usable_cpus() if workers is None else workers

    @abc.abstractmethod
    def open(self, job: Job, /) -> Session:
        """Prepare a session that runs ``job``'s tasks."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the workers. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


Backend.__module__ = Session.__module__ = "parmap.backends"  # where users find them
