"""The processes backend: worker processes, one pipe each.

Each worker has its own duplex pipe, so the caller always knows which tasks a
worker holds: when a worker dies (signal, ``os._exit``, segfault, OOM kill)
its process sentinel wakes the caller at once, and a shared integer names the
item it was running. That is what lets parmap raise :class:`WorkerDiedError`
naming the item — or run the rest again — instead of hanging like
``multiprocessing.Pool`` or discarding everything like a broken executor.

Workers are started by the standard library's ``multiprocessing`` by default.
parmap pickles everything it sends itself and hands the pipes plain bytes, so
it needs nothing of ``multiprocess``'s dill-based transport; importing
``multiprocess`` (which imports dill) cost 68 ms here against 13 ms for
``multiprocessing``, paid by the caller and by every spawned worker: a tenth
of a job of 64 items of 20 ms. ``ProcessBackend(context=multiprocess.get_context(...))``
starts the workers with ``multiprocess`` instead.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import os
import sys
import time
from collections import deque
from typing import Any

from parmap import _buffers, _remote, _shipping, _worker, serializers
from parmap._buffers import Spill
from parmap._task import Event, Fatal, Job, Results, Task, WorkerLost
from parmap.backends._base import Backend, Session

_SETUP_FAILED = "while setting up a worker (loading the function or running the initializer)"

#: Seconds to wait for a worker to exit before killing it.
_EXIT_GRACE = 1.0


class _Worker:
    """One worker process and what the caller knows about it."""

    def __init__(self, ctx: Any) -> None:
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.state = ctx.RawArray("q", 2)  # item running (-1: none), items started
        self.current = memoryview(self.state).cast("B").cast("q")
        self.current[0] = -1
        self.process = ctx.Process(
            target=_worker.main,
            args=(child_conn, self.state, os.getpid()),
            name="parmap-worker",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self.pid: int = self.process.pid
        self.tasks: deque[int] = deque()
        self.functions: dict[bytes, None] = {}  # digests the worker keeps, oldest first
        self.seen: tuple[int, float] = (-1, 0.0)  # (items started, when first seen)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_EXIT_GRACE)
        self.conn.close()


class ProcessSession(Session):
    """One run on a :class:`ProcessBackend`'s workers."""

    def __init__(self, backend: ProcessBackend, job: Job, *, portable: bool) -> None:
        self._backend = backend
        self._job = job
        self._portable = portable
        self._digest, self._payload = _shipping.pack_function(job, portable=portable)
        self._sizes: dict[int, int] = {}
        self.slots = 2 * backend.workers
        self.inline_ok = job.initializer is None and job.timeout is None
        self.startup_cost = backend.startup_cost()

    def submit(self, task: Task, /) -> None:
        shared = self._backend.shared
        spill = Spill(shared, os.getpid()) if shared is not None else None
        chunk = _shipping.pack_chunk(
            task,
            serializer=self._job.serializer,
            portable=self._portable,
            spill=spill,
            explain=self._job.check,
        )
        worker = self._backend.next_worker()
        try:
            if self._digest not in worker.functions:
                worker.conn.send_bytes(_worker.MSG_FUNC + self._digest + self._payload)
                worker.functions[self._digest] = None
                if len(worker.functions) > _worker.KEPT_FUNCTIONS:
                    del worker.functions[next(iter(worker.functions))]  # as the worker does
            worker.conn.send_bytes(
                _worker.MSG_TASK + _worker.TASK_HEADER.pack(task.task_id, self._digest)
            )
            worker.conn.send_bytes(chunk)
        except OSError:
            pass  # the worker died; poll() reports the task as lost with it
        worker.tasks.append(task.task_id)
        self._sizes[task.task_id] = len(task.args)

    def poll(self, timeout: float, /) -> list[Event]:
        workers = [w for w in self._backend.pool if w.tasks]
        if not workers:
            return []
        if self._job.timeout is not None:
            timeout = min(timeout, 0.1)
        handles: dict[Any, _Worker] = {}
        for worker in workers:
            handles[worker.conn] = worker
            handles[worker.process.sentinel] = worker
        events: list[Event] = []
        dead: set[_Worker] = set()
        for handle in multiprocessing.connection.wait(list(handles), timeout):
            worker = handles[handle]
            if handle is worker.conn:
                if not self._read(worker, events):
                    dead.add(worker)
            else:
                dead.add(worker)
        for worker in dead:
            events.extend(self._lost(worker, timed_out=False))
        if self._job.timeout is not None:
            events.extend(self._expire(self._job.timeout))
        return events

    def _read(self, worker: _Worker, events: list[Event]) -> bool:
        """Read every message waiting on ``worker``'s pipe; False when it is broken."""
        try:
            while worker.conn.poll():
                header = worker.conn.recv_bytes()
                kind = header[:1]
                if kind == _worker.MSG_SETUP_FAILED:
                    failure = serializers.loads(memoryview(header)[1:])
                    events.append(Fatal(failure, _SETUP_FAILED))
                    continue
                if kind == _worker.MSG_CHUNK_FAILED:
                    (task_id,) = _worker.TASK_ID.unpack_from(header, 1)
                    failure = serializers.loads(memoryview(header)[1 + _worker.TASK_ID.size :])
                    count = self._sizes[task_id]
                    event = Results(task_id, 0, [None] * count, {}, done=True)
                    event.unreadable, event.unreadable_in = _remote.rebuild(failure), "worker"
                    events.append(event)
                    worker.tasks.remove(task_id)
                    self._forget(task_id)
                    continue
                task_id, done, busy, offset, count = _worker.RESULTS_HEADER.unpack_from(header, 1)
                body = worker.conn.recv_bytes()
                try:
                    offset, values, errors, *notes = serializers.loads(body)
                    event = Results(task_id, offset, values, errors, busy, done)
                    event.notes = tuple(notes[0]) if notes else ()
                except Exception as exc:  # noqa: BLE001 - pickles in the worker, not here
                    event = Results(task_id, offset, [None] * count, {}, busy, done)
                    event.unreadable = exc
                events.append(event)
                if done:
                    worker.tasks.remove(task_id)
                    self._forget(task_id)
        except (EOFError, OSError):
            return False
        return True

    def _forget(self, task_id: int) -> None:
        self._sizes.pop(task_id, None)

    def _lost(self, worker: _Worker, *, timed_out: bool) -> list[Event]:
        events: list[Event] = []
        if not timed_out:
            self._read(worker, events)  # results it sent before it died
        index = int(worker.current[0])
        worker.kill()
        self._backend.replace(worker)
        if not worker.tasks:
            return events
        for task_id in worker.tasks:
            self._forget(task_id)
        events.append(
            WorkerLost(
                list(worker.tasks),
                index if index >= 0 else None,
                worker.process.exitcode,
                worker.pid,
                timed_out=timed_out,
            )
        )
        return events

    def _expire(self, limit: float) -> list[Event]:
        events: list[Event] = []
        now = time.monotonic()
        for worker in list(self._backend.pool):
            index, started = int(worker.current[0]), int(worker.current[1])
            if not worker.tasks or index < 0:
                continue
            if worker.seen[0] != started:
                worker.seen = (started, now)  # a new item: its clock starts now
            elif now - worker.seen[1] > limit:
                events.extend(self._lost(worker, timed_out=True))
        return events

    def cancel(self) -> None:
        for worker in list(self._backend.pool):
            if worker.tasks:
                worker.kill()
                self._backend.replace(worker)
        _buffers.sweep(os.getpid())
        self._sizes.clear()


def _default_start_method() -> str:
    """The start method the platform (or the caller's own configuration) makes the default."""
    # multiprocess's configuration first: a program that set its start method
    # there expects it for every pool it starts.
    for name in ("multiprocess", "multiprocessing"):
        module = sys.modules.get(name)
        if module is not None:
            method = module.get_start_method(allow_none=True)
            if method:
                return str(method)
    if str(sys.platform).startswith("linux"):  # str(): decided at run time, not by mypy
        # Python 3.14 made forkserver the default on Linux.
        return "fork" if _python() < (3, 14) else "forkserver"
    return "spawn"


def _python() -> tuple[int, int]:
    major, minor = sys.version_info[:2]
    return major, minor


class ProcessBackend(Backend):
    """Worker processes; as a context manager it keeps them warm across runs.

    Args:
        workers: number of worker processes; default: the usable CPUs.
        start_method: ``"fork"``, ``"forkserver"`` or ``"spawn"``; default: the platform's.
        context: a ``multiprocessing``-style context that starts the workers
            (``multiprocess.get_context("spawn")``, say); default: the
            standard library's for ``start_method``.
    """

    name = "processes"

    def __init__(
        self, workers: int | None = None, *, start_method: str | None = None, context: Any = None
    ) -> None:
        super().__init__(workers)
        if context is not None:
            method = context.get_start_method()
            if start_method is not None and start_method != method:
                raise ValueError(
                    f"`start_method` is {start_method!r} but the context given starts workers "
                    f"with {method!r}; pass one or the other"
                )
            start_method = method
        self.start_method: str = start_method or _default_start_method()
        self._ctx: Any = context
        self.pool: list[_Worker] = []
        self._runs = 0
        self._spawned = False  # whether any worker was ever started
        #: Where large buffers travel out of band, or None (see parmap._buffers).
        self.shared = _buffers.shared_directory()

    def open(self, job: Job, /) -> Session:
        # Under fork, a fresh worker shares the caller's __main__, so functions
        # and classes defined there may travel by reference; a warm worker
        # forked before this run may lack them.
        portable = self.start_method != "fork" or self._runs > 0
        self._runs += 1
        return ProcessSession(self, job, portable=portable)

    def next_worker(self) -> _Worker:
        """The worker for the next task: an idle one, else a new one, else the least busy.

        Workers start only as tasks need them: three items never start 32 processes.
        """
        idle = [worker for worker in self.pool if not worker.tasks]
        if idle:
            return idle[0]
        if len(self.pool) < self.workers:
            if self._ctx is None:
                self._ctx = multiprocessing.get_context(self.start_method)
            self.pool.append(_Worker(self._ctx))
            self._spawned = True
            return self.pool[-1]
        return min(self.pool, key=lambda worker: len(worker.tasks))

    def replace(self, worker: _Worker) -> None:
        """Forget a dead or killed worker; a fresh one starts when next needed."""
        if worker in self.pool:
            self.pool.remove(worker)

    def startup_cost(self) -> float:
        """Seconds before fresh workers can return a first result (0 when warm)."""
        missing = self.workers - len(self.pool)
        if missing <= 0:
            return 0.0
        return {"fork": 0.01, "forkserver": 0.1}.get(self.start_method, 0.15) * max(1, missing)

    def close(self) -> None:
        pool, self.pool = self.pool, []
        for worker in pool:
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(_worker.MSG_STOP)
        deadline = time.monotonic() + _EXIT_GRACE
        for worker in pool:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            worker.kill()
        if self._spawned:  # workers ran: sweep what they left unread
            _buffers.sweep(os.getpid())

    def __del__(self) -> None:
        # A backend dropped without close() (or at interpreter exit) still stops
        # its workers; at exit, modules may already be gone: nothing to report.
        if getattr(self, "pool", None):
            with contextlib.suppress(Exception):
                self.close()
