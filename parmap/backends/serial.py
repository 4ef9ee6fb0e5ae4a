"""The serial backend: runs every task in the caller, in order — the reference for the others."""

from __future__ import annotations

from typing import Any

from parmap._transport import worker as _worker
from parmap._transport.messages import Event, Job, Results, Task
from parmap.backends._base import Backend, Session

__all__ = ["SerialBackend", "SerialSession"]


def _keep(exc: BaseException) -> BaseException:
    return exc


class SerialSession(Session):
    """Runs each task as it is submitted; ``poll`` hands back what it produced."""

    def __init__(self, job: Job) -> None:
        self.slots = 1
        self._job = job
        self._events: list[Event] = []
        if job.initializer is not None:
            job.initializer(*job.initargs)

    def submit(self, task: Task, /) -> None:
        def flush(
            offset: int, values: list[Any], errors: dict[int, Any], busy: float, done: bool
        ) -> None:
            self._events.append(Results(task.task_id, offset, values, errors, busy, done))

        _worker.run_items(
            self._job.func,
            task.args,
            star=self._job.star,
            flush=flush,
            flush_interval=_worker.FLUSH_INTERVAL,
            pack=_keep,
        )

    def poll(self, timeout: float, /) -> list[Event]:
        events, self._events = self._events, []
        return events

    def cancel(self) -> None:
        self._events = []


class SerialBackend(Backend):
    """Runs everything in the calling thread, one item after another, like ``map``."""

    name = "serial"

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(1)

    def open(self, job: Job, /) -> Session:
        return SerialSession(job)
