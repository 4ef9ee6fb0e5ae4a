"""The threads backend: a pool of threads in the caller's process; nothing is pickled."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from parmap._transport import worker as _worker
from parmap._transport.messages import Event, Fatal, Job, Results, Task, WorkerLost
from parmap.backends._base import Backend, Session

__all__ = ["ThreadBackend", "ThreadSession"]


class _Stopped(Exception):  # noqa: N818 - internal control flow
    """Raised inside a thread whose run was cancelled or timed out."""


class _Lane:
    """One worker thread of a session, with what it is running now."""

    def __init__(self, session: ThreadSession) -> None:
        self.session = session
        self.task: Task | None = None
        self.index: int | None = None
        self.since = 0.0
        self.abandoned = False
        self.thread = threading.Thread(target=self._loop, name="parmap-thread", daemon=True)
        self.thread.start()

    def _mark(self, index: int) -> None:
        if self.abandoned or self.session.cancelled.is_set():
            raise _Stopped
        self.index, self.since = index, time.monotonic()

    def _loop(self) -> None:
        session = self.session
        job = session.job
        if job.initializer is not None:
            try:
                job.initializer(*job.initargs)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                session.events.put(Fatal(exc, "in the initializer, in a worker thread"))
                return
        while True:
            task = session.tasks.get()
            if task is None or self.abandoned:
                return
            self.task = task

            def flush(
                offset: int,
                values: list[Any],
                errors: dict[int, Any],
                busy: float,
                done: bool,
                task: Task = task,
            ) -> None:
                if not self.abandoned:
                    event = Results(task.task_id, offset, values, errors, busy, done)
                    session.events.put(event)

            try:
                _worker.run_items(
                    job.func,
                    task.args,
                    star=job.star,
                    first_index=task.start,
                    flush=flush,
                    flush_interval=_worker.FLUSH_INTERVAL,
                    mark=self._mark,
                    pack=lambda exc: exc,
                )
            except _Stopped:
                return
            finally:
                self.task, self.index = None, None


class ThreadSession(Session):
    """Tasks go to a shared queue; each thread takes the next when it is free."""

    def __init__(self, job: Job, workers: int) -> None:
        self.job = job
        self.slots = workers + 1
        self.tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.cancelled = threading.Event()
        self._lanes = [_Lane(self) for _ in range(workers)]

    def submit(self, task: Task, /) -> None:
        self.tasks.put(task)

    def poll(self, timeout: float, /) -> list[Event]:
        events: list[Event] = []
        wait = timeout if self.job.timeout is None else min(timeout, 0.05)
        try:
            events.append(self.events.get(timeout=wait))
            while True:
                events.append(self.events.get_nowait())
        except queue.Empty:
            pass
        if self.job.timeout is not None:
            events.extend(self._expire(self.job.timeout))
        return events

    def _expire(self, limit: float) -> list[Event]:
        # A thread cannot be killed: a late item is reported as timed out, its
        # thread is abandoned (its outcome discarded) and a fresh one replaces it.
        lost: list[Event] = []
        now = time.monotonic()
        for position, lane in enumerate(self._lanes):
            task, index = lane.task, lane.index
            if task is not None and index is not None and now - lane.since > limit:
                lane.abandoned = True
                lost.append(WorkerLost([task.task_id], index, None, None, timed_out=True))
                self._lanes[position] = _Lane(self)
        return lost

    def cancel(self) -> None:
        self.cancelled.set()
        self.close()

    def close(self) -> None:
        for _ in self._lanes:
            self.tasks.put(None)
        deadline = time.monotonic() + 1.0
        for lane in self._lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))


class ThreadBackend(Backend):
    """Runs items on threads: for I/O-bound functions, or objects that cannot be pickled."""

    name = "threads"

    def open(self, job: Job, /) -> Session:
        return ThreadSession(job, self.workers)
