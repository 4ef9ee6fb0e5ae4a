"""One run on a Dask cluster: submit chunks as futures, turn finished futures into events.

See :mod:`parmap.backends.dask` for what travels and how failures are told apart.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import time
import uuid
from collections.abc import Callable
from typing import Any

import distributed

from parmap import serializers
from parmap._transport import shipping as _shipping
from parmap._transport.messages import Event, Fatal, Job, Results, Task, WorkerLost
from parmap.backends._base import Session
from parmap.backends._dask_worker import FunctionStore, run_task

_LOST_DETAIL = (
    "the Dask worker process ended or lost contact with the scheduler (a crash, os._exit, "
    "the OOM killer, or a network failure); its exit status is in the worker's or "
    "nanny's log"
)
_CANNOT_LOAD = (
    "while loading results in the caller: a result type may exist only on the workers "
    "(defined in their __main__, or in a module the caller cannot import)"
)

_CANNOT_LOAD_FUNCTION = (
    "while loading the function on a Dask worker: the workers must be able to import every "
    "module it refers to by name; install them there, or send a module file with "
    "client.upload_file(path)"
)


class DaskSession(Session):
    """One run on a Dask cluster: a future per task.

    Args:
        client: returns the backend's ``distributed.Client`` (made on first use).
        workers: the backend's number of workers.
        startup_cost: seconds before a first result (a cluster yet to start).
        job: the run's function and set-up.
    """

    def __init__(
        self, client: Callable[[], Any], workers: int, startup_cost: float, job: Job
    ) -> None:
        self._client = client
        self._workers = workers
        self._job = job
        _, self._payload = _shipping.pack_function(job, portable=True)
        self._plugin = f"parmap-{uuid.uuid4().hex[:16]}"
        self._registered = False
        self._threads: dict[str, int] = {}
        self._order = itertools.count()
        self._futures: dict[Any, tuple[int, Task]] = {}
        self._started: dict[Any, float] = {}
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Tasks that may have killed a worker, by task id: run alone, one at a time.
        self._suspects: dict[int, Task] = {}
        self.slots = 2 * workers
        self.inline_ok = job.initializer is None and job.timeout is None
        self.startup_cost = startup_cost

    def submit(self, task: Task, /) -> None:
        chunk = _shipping.pack_chunk(task, serializer=self._job.serializer, portable=True)
        self._submit(task, chunk)

    def _submit(self, task: Task, chunk: bytes | None = None) -> None:
        if chunk is None:
            chunk = _shipping.pack_chunk(task, serializer=self._job.serializer, portable=True)
        client = self._client()
        if not self._registered:
            client.register_plugin(FunctionStore(self._plugin, self._payload, os.getpid()))
            self._registered = True
            self._threads = dict(client.nthreads())
        order = next(self._order)
        future = client.submit(
            run_task, self._plugin, chunk, key=f"{self._plugin}-{order}", pure=False, retries=0
        )
        self._futures[future] = (order, task)
        # Dask calls this on its own thread when the future finishes, fails or is cancelled.
        future.add_done_callback(self._done.put)

    def poll(self, timeout: float, /) -> list[Event]:
        if not self._futures:
            return []
        limit = self._job.timeout
        done = self._wait(timeout if limit is None else min(timeout, 0.1))
        killed = [f for f in done if f.status == "error" and _killed(f.exception())]
        if killed:
            # One death fails every task the worker held, in quick succession:
            # collect them all before deciding which one was running.
            done += self._wait(0.2)
            killed = [f for f in done if f.status == "error" and _killed(f.exception())]
        events: list[Event] = []
        for future in done:
            if future in killed:
                continue
            if future.status == "finished":
                events.extend(self._fetch(future))
            elif future.status in ("error", "cancelled"):
                events.append(self._failed(future, self._forget(future)))
            else:
                self._again(future)  # finished, then lost with its worker before we fetched it
        events.extend(self._lost(killed))
        if limit is not None:
            events.extend(self._expire(limit))
        return events

    def _wait(self, timeout: float) -> list[Any]:
        done: list[Any] = []
        try:
            done.append(self._done.get(timeout=timeout))
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        # A future cancelled here (timed out, or the run cancelled) may still report.
        return [f for f in done if f in self._futures]

    def _forget(self, future: Any) -> Task:
        self._started.pop(future, None)
        return self._futures.pop(future)[1]

    def _again(self, future: Any) -> None:
        """Submit a task again under a new key (Dask would recompute it wherever it liked)."""
        task = self._forget(future)
        future.cancel()
        self._submit(task)

    def _fetch(self, future: Any) -> list[Event]:
        task = self._futures[future][1]
        try:
            kind, body = future.result(timeout=60)
        except Exception:  # noqa: BLE001 - the result was lost with its worker
            self._again(future)
            return []
        self._forget(future)
        if self._suspects.pop(task.task_id, None) is not None:
            self._next_suspect()
        if kind == "I":
            return [Fatal(body, "in the initializer, on a Dask worker")]
        if kind == "L":
            return [Fatal(body, _CANNOT_LOAD_FUNCTION)]
        events: list[Event] = []
        for position, (busy, packed) in enumerate(body):
            try:
                offset, values, errors, *notes = serializers.loads(packed)
            except Exception as exc:  # noqa: BLE001 - pickled on the worker, not here
                return [Fatal(exc, _CANNOT_LOAD)]
            done = position == len(body) - 1
            event = Results(task.task_id, offset, values, errors, busy, done)
            event.notes = tuple(notes[0]) if notes else ()
            events.append(event)
        return events

    def _failed(self, future: Any, task: Task) -> Event:
        if future.status == "error":
            return Fatal(
                future.exception(), "on the Dask cluster, outside the function (see the cause)"
            )
        return Fatal(
            RuntimeError(
                f"the Dask cluster dropped task {future.key!r} ({future.status}): was the "
                "scheduler restarted, or the client disconnected?"
            )
        )

    def _lost(self, killed: list[Any]) -> list[Event]:
        """Name the task that killed a worker; run again the tasks it only held.

        A death fails every task the worker held, and a task that had just
        finished may be among them (its report was still in the worker's
        outgoing batch). So the culprit is known only when the worker held no
        more tasks than it has threads, or when exactly one of them was a
        suspect; otherwise all become suspects, run again one at a time.
        """
        by_worker: dict[str, list[Any]] = {}
        for future in killed:
            address = getattr(future.exception().last_worker, "address", "?")
            by_worker.setdefault(address, []).append(future)
        events: list[Event] = []
        for address, futures in by_worker.items():
            pid = getattr(futures[0].exception().last_worker, "pid", None)
            tasks = [self._forget(future) for future in futures]
            suspects = [t for t in tasks if t.task_id in self._suspects]
            if len(tasks) <= self._threads.get(address, 1):
                guilty = tasks
            elif len(suspects) == 1:
                guilty = suspects
            else:
                guilty = []
            for task in tasks:
                self._suspects.pop(task.task_id, None)
                if task in guilty:
                    index = task.start if len(task.args) == 1 else None
                    lost = WorkerLost([task.task_id], index, None, pid, detail=_LOST_DETAIL)
                    events.append(lost)
                elif not guilty:
                    self._suspects[task.task_id] = task
                else:
                    self._submit(task)
        self._next_suspect()
        return events

    def _next_suspect(self) -> None:
        """Keep exactly one suspect running while any is waiting."""
        running = {task.task_id for _, task in self._futures.values()}
        if self._suspects and not running & self._suspects.keys():
            self._submit(next(iter(self._suspects.values())))

    def _expire(self, limit: float) -> list[Event]:
        now = time.monotonic()
        # Dask starts tasks roughly in submission order: the oldest ones that
        # fit the cluster's threads are taken to be running.
        for future in list(self._futures)[: self._workers]:
            self._started.setdefault(future, now)
        events: list[Event] = []
        for future, since in list(self._started.items()):
            task = self._futures[future][1]
            if now - since > limit * len(task.args):
                self._forget(future)
                future.cancel()
                index = task.start if len(task.args) == 1 else None
                events.append(WorkerLost([task.task_id], index, None, None, timed_out=True))
        return events

    def cancel(self) -> None:
        futures, self._futures = list(self._futures), {}
        self._started.clear()
        if futures:
            self._client().cancel(futures)
        self.close()

    def close(self) -> None:
        if self._registered:
            self._registered = False
            with contextlib.suppress(Exception):  # the cluster may be gone already
                self._client().unregister_worker_plugin(self._plugin)


def _killed(exc: BaseException | None) -> bool:
    return isinstance(exc, distributed.KilledWorker)
