"""The worker processes of a :class:`~parmap.backends.processes.ProcessBackend`: start, pick, stop.

A :class:`Pool` starts workers only as tasks need them, hands out the next
worker for a task, forgets dead ones (a fresh one starts when next needed)
and stops them all on :meth:`Pool.close`. Sessions use a pool through these
methods only; what a worker is doing is kept on its :class:`Worker`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from typing import Any

from parmap._transport import buffers as _buffers
from parmap._transport import worker as _worker
from parmap.backends import _startup

#: Seconds to wait for a worker to exit before killing it.
EXIT_GRACE = 1.0
#: About how long a worker takes to start, by start method (measured on 2 cores:
#: 3 ms for fork, 20 ms for forkserver, 60-70 ms for spawn, with margin).
START_SECONDS = {"fork": 0.01, "forkserver": 0.05, "spawn": 0.15}


class Worker:
    """One worker process and what the caller knows about it.

    Attributes:
        conn: the caller's end of the worker's duplex pipe.
        current: the shared ``(item running, items started)`` pair.
        tasks: ids of the tasks the worker holds, oldest first.
        functions: digests of the functions the worker keeps, oldest first.
        ready: the worker said it started (before that, a death is a start failure).
        seen: ``(items started, when first seen)``, for timeouts.
    """

    def __init__(self, ctx: Any) -> None:
        self.conn, child_conn = ctx.Pipe(duplex=True)
        # The kernel kills the worker with its parent only if the parent is the
        # caller's main thread (fork, spawn) or the fork server: the signal
        # follows the thread that forked, and a caller's other threads end.
        parent = _parent_for_death_signal(ctx)
        self._state = ctx.RawArray("q", 2)  # item running (-1: none), items started
        self.current = memoryview(self._state).cast("B").cast("q")
        self.current[0] = -1
        self.process = ctx.Process(
            target=_worker.main,
            args=(child_conn, self._state, os.getpid(), parent),
            name="parmap-worker",
            daemon=True,
        )
        try:
            self.process.start()
        finally:
            child_conn.close()
        self.pid: int = self.process.pid
        self.tasks: deque[int] = deque()
        self.functions: dict[bytes, None] = {}
        self.ready = False
        self.seen: tuple[int, float] = (-1, 0.0)

    def take_ready(self) -> None:
        """Read the worker's first message, which says it is ready."""
        try:
            message = self.conn.recv_bytes()
        except (EOFError, OSError):
            return  # it died starting: the session reports it
        self.ready = message == _worker.MSG_READY

    def exited(self) -> bool:
        """Whether the process has ended, asked of the process itself.

        The sentinel alone is not enough: a child the worker forked inherits
        it (and the pipe) and keeps it open after the worker died.
        """
        return self.process.exitcode is not None

    def kill(self) -> None:
        """Stop the process now and close the pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(EXIT_GRACE)
        self.conn.close()


def _parent_for_death_signal(ctx: Any) -> int | None:
    method = ctx.get_start_method()
    if method == "forkserver":
        return _worker.ANY_PARENT  # the fork server: its pid is known in the worker only
    if threading.current_thread() is not threading.main_thread():
        return None
    return os.getpid()


def default_start_method() -> str:
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


def _specs() -> dict[str, Any]:
    return {name: getattr(module, "__spec__", None) for name, module in list(sys.modules.items())}


def _preload_worker_module() -> None:
    """Have the standard library's fork server import the worker module once, for every worker.

    Added to the modules it preloads (``__main__`` by default), so that each
    worker it forks starts with it imported; only a server not yet started
    reads the list, and a program's own preloads stay.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    current = list(getattr(server, "_preload_modules", ["__main__"]))
    if _worker.__name__ not in current:
        forkserver.set_forkserver_preload([*current, _worker.__name__])


class Pool:
    """Up to ``size`` worker processes, started on demand with ``start_method``.

    Args:
        size: the most workers.
        start_method: ``"fork"``, ``"forkserver"`` or ``"spawn"``.
        context: a ``multiprocessing``-style context, or None for the standard library's.
    """

    def __init__(self, size: int, start_method: str, context: Any = None) -> None:
        self.size = size
        self.start_method = start_method
        self._ctx = context
        self._workers: list[Worker] = []
        self.runs = 0  # sessions opened on this pool
        self.started = False  # whether any worker was ever started
        self.closed = False
        self._owner = os.getpid()  # a forked child must never stop the parent's workers
        self._modules: dict[str, Any] | None = None
        #: Where large buffers travel out of band, or None (see parmap._transport.buffers).
        self.shared = _buffers.shared_directory()

    @property
    def workers(self) -> list[Worker]:
        """The live workers (a copy)."""
        return list(self._workers)

    def busy(self) -> list[Worker]:
        """The workers holding tasks."""
        return [worker for worker in self._workers if worker.tasks]

    def next_worker(self) -> Worker:
        """The worker for the next task: an idle one, else a new one, else the least busy.

        Workers start only as tasks need them: three items never start 32 processes.

        Raises:
            WorkerStartError: a worker cannot start (see :mod:`parmap.backends._startup`).
        """
        for worker in [w for w in self._workers if not w.tasks and w.exited()]:
            worker.kill()  # died while idle (killed from outside): not any item's fault
            self._workers.remove(worker)
        idle = [worker for worker in self._workers if not worker.tasks]
        if idle:
            return idle[0]
        if len(self._workers) < self.size:
            self._workers.append(self._start())
            return self._workers[-1]
        return min(self._workers, key=lambda worker: len(worker.tasks))

    def _start(self) -> Worker:
        if self._ctx is None:
            self._ctx = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                _preload_worker_module()
        if not self.started:
            _startup.preflight(self.start_method)
            # A caller killed outright leaves its buffers behind: the first
            # pool of a later run removes them.
            _buffers.sweep_orphans()
        try:
            worker = Worker(self._ctx)
        except Exception as exc:
            raise _startup.start_error(self.start_method, exc) from exc
        self.started = True
        return worker

    def start_all(self) -> None:
        """Start every missing worker now; each is ready in its own time (see :meth:`ready`)."""
        while len(self._workers) < self.size:
            self._workers.append(self._start())

    def ready(self) -> int:
        """How many workers have said they are ready (reads their first message if it came)."""
        count = 0
        for worker in self._workers:
            if not worker.ready and worker.conn.poll():
                worker.take_ready()
            count += worker.ready
        return count

    def replace(self, worker: Worker, /) -> None:
        """Forget a dead or killed worker; a fresh one starts when next needed."""
        if worker in self._workers:
            self._workers.remove(worker)

    def startup_cost(self) -> float:
        """Seconds before fresh workers can return a first result (0 when warm)."""
        missing = self.size - len(self._workers)
        if missing <= 0:
            return 0.0
        return START_SECONDS.get(self.start_method, 0.15) * max(1, missing)

    def stale(self) -> bool:
        """Whether the workers may hold code the caller has replaced since the last run.

        A worker keeps every module it has (forked with the caller's memory,
        or imported to load a function): a module the caller reloaded (or
        replaced in ``sys.modules``) since would be served from the old copy,
        so such a pool must start afresh. New modules are no concern: a
        worker imports them as it needs them.
        """
        if self._modules is None or not self.started:
            return False
        # Reloading (or replacing) a module gives it a new spec object.
        now = _specs()
        return any(now.get(name, spec) is not spec for name, spec in self._modules.items())

    def remember_modules(self) -> None:
        """Note the caller's modules as a run starts, for :meth:`stale` at the next one."""
        self._modules = _specs()

    def close(self) -> None:
        """Stop every worker (a short grace, then a kill). Idempotent."""
        self.closed = True
        workers, self._workers = self._workers, []
        if os.getpid() != self._owner:
            return  # a copy in a forked child: the workers are the parent's
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(_worker.MSG_STOP)
        deadline = time.monotonic() + EXIT_GRACE
        for worker in workers:
            if worker.ready or worker.tasks:  # a worker still starting has nothing to finish
                worker.process.join(max(0.0, deadline - time.monotonic()))
            worker.kill()
