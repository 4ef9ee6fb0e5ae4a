"""The processes backend: worker processes, one pipe each.

Each worker has its own duplex pipe, so the caller always knows which tasks a
worker holds: when a worker dies (signal, ``os._exit``, segfault, OOM kill)
its process sentinel wakes the caller at once, and a shared integer names the
item it was running. That is what lets parmap raise :class:`WorkerDiedError`
naming the item — or run the rest again — instead of hanging like
``multiprocessing.Pool`` or discarding everything like a broken executor.

A backend runs one session at a time on its own workers; a second run
started while one is going (an ``imap`` not yet consumed, another thread)
gets workers of its own for its duration, so runs never read each other's
messages. A run on a closed backend, or one whose backend is closed under it,
raises instead of waiting for workers that are gone.

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
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from parmap import serializers
from parmap._transport import buffers as _buffers
from parmap._transport import remote as _remote
from parmap._transport import shipping as _shipping
from parmap._transport import worker as _worker
from parmap._transport.buffers import Spill
from parmap._transport.messages import Event, Fatal, Job, Results, Task, WorkerLost
from parmap.backends._base import Backend, Session
from parmap.backends._pool import Pool, Worker, default_start_method
from parmap.errors import WorkerStartError

__all__ = ["ProcessBackend", "ProcessSession", "default_start_method"]

_SETUP_FAILED = "while setting up a worker (loading the function or running the initializer)"
#: Seconds a worker whose pipe broke gets to finish dying before it counts as alive.
_DYING_GRACE = 0.5
_PIPE_LOST = (
    "its pipe to the caller was closed while it ran (the function closed file descriptors "
    "it did not open, e.g. os.closerange(), or a library daemonized the process); parmap "
    "stopped it"
)


class ProcessSession(Session):
    """One run on a pool of worker processes.

    Args:
        pool: the workers.
        job: the run's function and set-up.
        portable: refuse by-reference pickles of ``__main__`` objects.
        release: called once when the run ends, however it ends.
    """

    def __init__(
        self,
        pool: Pool,
        job: Job,
        *,
        portable: bool,
        release: Callable[[ProcessSession], None],
    ) -> None:
        self._pool = pool
        self._job = job
        self._portable = portable
        self._release: Callable[[ProcessSession], None] | None = release
        self._token = _buffers.new_token()
        self._digest, self._payload = _shipping.pack_function(job, portable=portable)
        self._sizes: dict[int, int] = {}
        self.slots = 2 * pool.size
        self.inline_ok = job.initializer is None and job.timeout is None
        self.startup_cost = pool.startup_cost()
        self._prestarted = False

    def prestart(self) -> None:
        self._check_open()
        missing = self._pool.size > len(self._pool.workers)
        try:
            self._pool.start_all()
        except WorkerStartError:
            return  # raised again if this run ever needs a worker; a small job may not
        self._prestarted = missing

    def starting(self) -> bool:
        if not self._prestarted:
            return False
        if self._pool.ready() == 0:
            return True
        self.startup_cost = 0.0  # started and ready: nothing more to pay before results
        return False

    def ready_workers(self) -> int:
        return self._pool.ready()

    def _check_open(self) -> None:
        if self._pool.closed:
            raise RuntimeError(
                "the ProcessBackend of this run was closed before the run ended (its "
                "`with` block ended, or close() was called): consume the results "
                "(an imap) inside the block, or pass a backend that stays open"
            )

    def submit(self, task: Task, /) -> None:
        self._check_open()
        shared = self._pool.shared
        spill = Spill(shared, os.getpid(), self._token) if shared is not None else None
        chunk = _shipping.pack_chunk(
            task,
            serializer=self._job.serializer,
            portable=self._portable,
            spill=spill,
            explain=self._job.check,
        )
        worker = self._pool.next_worker()
        try:
            if self._digest not in worker.functions:
                worker.conn.send_bytes(_worker.MSG_FUNC + self._digest + self._payload)
                worker.functions[self._digest] = None
                if len(worker.functions) > _worker.KEPT_FUNCTIONS:
                    del worker.functions[next(iter(worker.functions))]  # as the worker does
            header = _worker.TASK_HEADER.pack(task.task_id, self._digest, self._token.encode())
            worker.conn.send_bytes(_worker.MSG_TASK + header)
            worker.conn.send_bytes(chunk)
        except OSError:
            pass  # the worker died; poll() reports the task as lost with it
        worker.tasks.append(task.task_id)
        self._sizes[task.task_id] = len(task.args)

    def poll(self, timeout: float, /) -> list[Event]:
        self._check_open()
        workers = self._pool.busy()
        if not workers:
            if self._sizes:
                raise RuntimeError(
                    f"parmap lost track of {len(self._sizes)} task(s) that no worker holds; "
                    "this is a bug in parmap, please report it"
                )
            return []
        if self._job.timeout is not None:
            timeout = min(timeout, 0.1)
        handles: dict[Any, Worker] = {}
        for worker in workers:
            handles[worker.conn] = worker
            handles[worker.process.sentinel] = worker
        events: list[Event] = []
        dead: set[Worker] = set()
        for handle in multiprocessing.connection.wait(list(handles), timeout):
            worker = handles[handle]
            if handle is worker.conn:
                if not self._read(worker, events):
                    dead.add(worker)
            else:
                dead.add(worker)
        # A worker's own children may hold its sentinel open after it died.
        dead.update(worker for worker in workers if worker not in dead and worker.exited())
        for worker in dead:
            events.extend(self._lost(worker, timed_out=False))
        if self._job.timeout is not None:
            events.extend(self._expire(self._job.timeout))
        return events

    def _read(self, worker: Worker, events: list[Event]) -> bool:
        """Read every message waiting on ``worker``'s pipe; False when it is broken."""
        try:
            while worker.conn.poll():
                header = worker.conn.recv_bytes()
                kind = header[:1]
                if kind == _worker.MSG_READY:
                    worker.ready = True
                    continue
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
                except (Exception, SystemExit) as exc:  # noqa: BLE001 - pickled in the worker
                    # SystemExit too: a result whose unpickling calls sys.exit()
                    # fails its item, it does not end the caller.
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

    def _lost(self, worker: Worker, *, timed_out: bool) -> list[Event]:
        events: list[Event] = []
        if not timed_out:
            self._read(worker, events)  # results it sent before it died
        index = int(worker.current[0])
        # A worker still alive here lost its pipe, not its life: the kill that
        # follows is parmap's, not the system's. A dying process closes its pipe
        # a moment before it can be reaped: give it that moment first.
        cut_off = not timed_out and not worker.exited()
        deadline = time.monotonic() + _DYING_GRACE
        while cut_off and time.monotonic() < deadline:
            # Polled, not join(): a worker that closed its descriptors closed its
            # sentinel too, and join() would then wait for it to end.
            time.sleep(0.01)
            cut_off = not worker.exited()
        worker.kill()
        self._pool.replace(worker)
        if not worker.tasks:
            return events
        for task_id in worker.tasks:
            self._forget(task_id)
        events.append(
            WorkerLost(
                list(worker.tasks),
                index if index >= 0 else None,
                None if cut_off else worker.process.exitcode,
                worker.pid,
                timed_out=timed_out,
                detail=_PIPE_LOST if cut_off else "",
                started=worker.ready,
                start_method=self._pool.start_method,
            )
        )
        return events

    def _expire(self, limit: float) -> list[Event]:
        events: list[Event] = []
        now = time.monotonic()
        for worker in self._pool.busy():
            index, started = int(worker.current[0]), int(worker.current[1])
            if index == -1:
                continue  # idle between tasks (a chunk being loaded counts as running)
            if worker.seen[0] != started:
                worker.seen = (started, now)  # a new item: its clock starts now
            elif now - worker.seen[1] > limit:
                events.extend(self._lost(worker, timed_out=True))
        return events

    def cancel(self) -> None:
        for worker in self._pool.busy():
            worker.kill()
            self._pool.replace(worker)
        _buffers.sweep(os.getpid(), self._token)
        self._sizes.clear()
        self._end()

    def close(self) -> None:
        if self._pool.started:  # workers ran: sweep what this run left unread
            _buffers.sweep(os.getpid(), self._token)
        self._end()

    def _end(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self)


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
        self.start_method: str = start_method or default_start_method()
        self._context: Any = context
        self._pool = Pool(self.workers, self.start_method, context)
        self._active: ProcessSession | None = None
        self._lock = threading.Lock()
        self._closed = False
        #: When the last run on the shared workers ended (None while one runs).
        self.idle_since: float | None = time.monotonic()

    def open(self, job: Job, /) -> Session:
        with self._lock:
            if self._closed:
                raise RuntimeError(
                    "this ProcessBackend is closed (its `with` block ended, or close() was "
                    "called): start the run, and consume its results, while the backend "
                    "is open"
                )
            release: Callable[[ProcessSession], None]
            if self._active is None:
                if self._pool.stale():
                    # A module was reloaded since the last run: fresh workers.
                    self._pool.close()
                    self._pool = Pool(self.workers, self.start_method, self._context)
                self._pool.remember_modules()
                pool, release = self._pool, self._released
            else:
                # Another run is going on the shared workers: this one gets its own.
                pool = Pool(self.workers, self.start_method, self._context)
                release = _closer(pool)
            # Under fork, a fresh worker shares the caller's __main__, so functions
            # and classes defined there may travel by reference; a warm worker
            # forked before this run may lack them.
            portable = self.start_method != "fork" or pool.runs > 0
            pool.runs += 1
            session = ProcessSession(pool, job, portable=portable, release=release)
            if pool is self._pool:
                self._active, self.idle_since = session, None
            return session

    def _released(self, session: ProcessSession) -> None:
        with self._lock:
            if self._active is session:
                self._active, self.idle_since = None, time.monotonic()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def busy(self) -> bool:
        """Whether a run is using the shared workers now."""
        return self._active is not None

    @property
    def processes(self) -> list[int]:
        """The pids of the live worker processes of the shared pool."""
        return [worker.pid for worker in self._pool.workers]

    def close(self) -> None:
        # Each run sweeps its own buffer files when it ends: nothing to sweep
        # here that another run of this process might still need.
        with self._lock:
            self._closed = True
            self._pool.close()

    def __del__(self) -> None:
        # A backend dropped without close() (or at interpreter exit) still stops
        # its workers; at exit, modules may already be gone: nothing to report.
        pool = getattr(self, "_pool", None)
        if pool is not None and pool.workers:
            with contextlib.suppress(Exception):
                pool.close()


def _closer(pool: Pool) -> Callable[[ProcessSession], None]:
    """The release of a session that has ``pool`` to itself: close it with the session."""

    def release(_: ProcessSession) -> None:
        pool.close()

    return release
