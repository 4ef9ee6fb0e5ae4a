"""The Dask backend: runs a run's tasks on a ``distributed`` cluster.

Three ways in: ``backend="dask"`` starts a ``LocalCluster`` on this machine
(owned by the backend, closed with it); ``backend="dask", address="tcp://…"``
connects to a running scheduler (the cluster is left running); a
``distributed.Client`` passed as ``backend`` is used as it is and never
closed.

What travels. The function (with the initializer and its arguments) is
pickled once per run by the same serializer choice as on processes, scattered
to the cluster as bytes, and unpickled once per worker: a worker plugin keeps
it by digest, so the initializer also runs once per worker. Items travel in
chunks pickled by :func:`parmap._shipping.pack_chunk`; each task runs
:func:`parmap._worker.run_items` on a worker and returns its results pickled
there, so a result that cannot travel becomes its own explained failure.

Failures. A worker that dies running a task (``os._exit``, a segfault, the
OOM killer) surfaces as Dask's ``KilledWorker``, which becomes
:class:`~parmap.errors.WorkerDiedError` naming the item (the scheduler reruns
a chunk's items one by one to find it). A ``LocalCluster`` started here lets
no task be retried by Dask itself (``allowed_failures=0``), so that parmap's
``retries`` and ``on_error`` decide, as on processes; on a cluster you bring,
Dask's own setting applies first.

``timeout`` is best effort: Dask cannot stop a task that is running. A task's
clock starts when it is among the oldest tasks that fit the cluster's
threads; past ``timeout`` per item it is reported as timed out and cancelled,
but its thread finishes the item on the worker before it is free again.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
import uuid
from typing import Any, cast

try:
    import distributed
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as exc:  # pragma: no cover - exercised where distributed is absent
    raise ImportError(
        "backend='dask' needs the optional 'distributed' package, which is not installed; "
        "install it with: pip install 'parmap[dask]'"
    ) from exc

from parmap import _remote, _shipping, _worker, serializers
from parmap._task import Event, Fatal, Job, RemoteFailure, Results, Task, WorkerLost
from parmap.backends._base import Backend, Session, usable_cpus

PLUGIN_NAME = "parmap-functions"

_CANNOT_LOAD = (
    "while loading results in the caller: a result type may exist only on the workers "
    "(defined in their __main__, or in a module the caller cannot import)"
)

#: Seconds the caller expects a fresh LocalCluster to need before a first result.
_LOCAL_STARTUP = 1.5


class FunctionStore(WorkerPlugin):
    """Worker plugin: the functions of runs, unpickled once per worker and kept by digest.

    Args:
        caller_pid: the process that registered it; workers in other processes
            mark themselves as parmap workers so that nested calls run serially.
    """

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self, caller_pid: int) -> None:
        self.caller_pid = caller_pid
        self._functions: dict[bytes, tuple[Any, ...] | RemoteFailure] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"caller_pid": self.caller_pid}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["caller_pid"])  # type: ignore[misc]

    def setup(self, worker: Any) -> None:
        """Called by Dask on each worker."""
        if os.getpid() != self.caller_pid:
            os.environ[_worker.WORKER_ENV] = "1"

    def load(self, digest: bytes, payload: bytes) -> tuple[Any, ...] | RemoteFailure:
        """``(func, serializer, star)`` for ``digest``, or the initializer's failure."""
        with self._lock:  # two threads of one worker must not run the initializer twice
            found = self._functions.get(digest)
            if found is None:
                func, initializer, initargs, serializer, star = serializers.loads(payload)
                found = (func, serializer, star)
                if initializer is not None:
                    try:
                        initializer(*initargs)
                    except Exception as exc:  # noqa: BLE001 - reported to the caller
                        found = _remote.pack(exc)
                self._functions[digest] = found
            return found


def run_task(digest: bytes, payload: bytes, chunk: bytes) -> tuple[str, Any]:
    """Run one task on a Dask worker.

    Returns:
        ``("R", [(busy_seconds, packed_results), ...])``, or ``("I", failure)``
        when the initializer raised on this worker.
    """
    store = cast(FunctionStore, distributed.get_worker().plugins[PLUGIN_NAME])
    loaded = store.load(digest, payload)
    if isinstance(loaded, RemoteFailure):
        return "I", loaded
    func, serializer, star = loaded
    start, args = serializers.loads(chunk)
    out: list[tuple[float, bytes]] = []

    def flush(
        offset: int, values: list[Any], errors: dict[int, Any], busy: float, done: bool
    ) -> None:
        out.append((busy, _worker.pack_results(start, offset, values, errors, serializer)))

    # One flush per task: a task's results come back together with its future.
    _worker.run_items(
        func, args, star=star, flush=flush, flush_interval=math.inf, first_index=start
    )
    return "R", out


class DaskSession(Session):
    """One run on a :class:`DaskBackend`: a future per task."""

    def __init__(self, backend: DaskBackend, job: Job) -> None:
        self._backend = backend
        self._job = job
        self._digest, self._payload = _shipping.pack_function(job, portable=True)
        self._shipped: Any = None  # the scattered payload's future, on first submit
        self._run = uuid.uuid4().hex[:12]
        self._futures: dict[Any, Task] = {}
        self._started: dict[Any, float] = {}
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.slots = 2 * backend.workers
        self.inline_ok = job.initializer is None and job.timeout is None
        self.startup_cost = backend.startup_cost()

    def submit(self, task: Task, /) -> None:
        chunk = _shipping.pack_chunk(task, serializer=self._job.serializer, portable=True)
        client = self._backend.client()
        if self._shipped is None:
            self._shipped = client.scatter(self._payload, hash=True)
        future = client.submit(
            run_task,
            self._digest,
            self._shipped,
            chunk,
            key=f"parmap-{self._run}-{task.task_id}",
            pure=False,
            retries=0,
        )
        self._futures[future] = task
        # Dask calls this on its own thread when the future finishes, fails or is cancelled.
        future.add_done_callback(self._done.put)

    def poll(self, timeout: float, /) -> list[Event]:
        if not self._futures:
            return []
        limit = self._job.timeout
        wait = timeout if limit is None else min(timeout, 0.1)
        done: list[Any] = []
        try:
            done.append(self._done.get(timeout=wait))
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        # A future cancelled here (timed out, or the run cancelled) may still report.
        done = [f for f in done if f in self._futures]
        events: list[Event] = []
        finished = [f for f in done if f.status == "finished"]
        if finished:
            outcomes = self._backend.client().gather(finished, errors="skip")
            for future, outcome in zip(finished, outcomes, strict=True):
                events.extend(self._results(self._forget(future), outcome))
        for future in done:
            if future.status != "finished":
                events.append(self._failed(future, self._forget(future)))
        if limit is not None:
            events.extend(self._expire(limit))
        return events

    def _forget(self, future: Any) -> Task:
        self._started.pop(future, None)
        return self._futures.pop(future)

    def _results(self, task: Task, outcome: tuple[str, Any]) -> list[Event]:
        kind, body = outcome
        if kind == "I":
            return [Fatal(body, "in the initializer, on a Dask worker")]
        events: list[Event] = []
        for position, (busy, packed) in enumerate(body):
            try:
                offset, values, errors = serializers.loads(packed)
            except Exception as exc:  # noqa: BLE001 - pickled on the worker, not here
                return [Fatal(exc, _CANNOT_LOAD)]
            done = position == len(body) - 1
            events.append(Results(task.task_id, offset, values, errors, busy, done))
        return events

    def _failed(self, future: Any, task: Task) -> Event:
        index = task.start if len(task.args) == 1 else None
        if future.status == "error":
            exc = future.exception()
            if isinstance(exc, distributed.KilledWorker):
                pid = getattr(exc.last_worker, "pid", None)
                return WorkerLost([task.task_id], index, None, pid)
            return Fatal(exc, "on the Dask cluster, outside the function (see the cause)")
        return Fatal(
            RuntimeError(
                f"the Dask cluster dropped task {future.key!r} ({future.status}): was the "
                "scheduler restarted, or the client disconnected?"
            )
        )

    def _expire(self, limit: float) -> list[Event]:
        now = time.monotonic()
        # Dask starts tasks roughly in submission order: the oldest ones that
        # fit the cluster's threads are taken to be running.
        for future in list(self._futures)[: self._backend.workers]:
            self._started.setdefault(future, now)
        events: list[Event] = []
        for future, since in list(self._started.items()):
            task = self._futures[future]
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
            self._backend.client().cancel(futures)
        self._shipped = None

    def close(self) -> None:
        self._shipped = None


class DaskBackend(Backend):
    """Runs tasks on a Dask cluster; as a context manager it keeps it across runs.

    Args:
        workers: worker processes of a LocalCluster started here (default: the
            usable CPUs); with ``address`` or ``client``, the cluster's threads
            are counted instead unless given.
        address: a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
        client: a ``distributed.Client`` the caller owns; used, never closed.

    Raises:
        ValueError: both ``address`` and ``client`` were given.
        OSError: the scheduler at ``address`` cannot be reached.
    """

    name = "dask"

    def __init__(
        self, workers: int | None = None, *, address: str | None = None, client: Any = None
    ) -> None:
        if address is not None and client is not None:
            raise ValueError("give DaskBackend an `address` or a `client`, not both")
        self._client = client
        self._owns_client = client is None
        self._cluster: Any = None
        self._plugin = False
        if address is not None:
            self._client = _connect(address)
        if self._client is not None and workers is None:
            workers = max(1, sum(self._client.nthreads().values())) or usable_cpus()
        super().__init__(workers)

    def client(self) -> Any:
        """The ``distributed.Client``; starts the LocalCluster on first use when there is none."""
        if self._client is None:
            self._cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"allowed_failures": 0},
            )
            self._client = distributed.Client(self._cluster, set_as_default=False)  # type: ignore[no-untyped-call]
        if not self._plugin:
            self._client.register_plugin(FunctionStore(os.getpid()))
            self._plugin = True
        return self._client

    def startup_cost(self) -> float:
        """Seconds before a first result: a LocalCluster yet to start costs about 1.5 s."""
        return _LOCAL_STARTUP if self._client is None else 0.005

    def open(self, job: Job, /) -> Session:
        return DaskSession(self, job)

    def close(self) -> None:
        client, cluster = self._client, self._cluster
        if self._owns_client and client is not None:
            self._client, self._cluster, self._plugin = None, None, False
            client.close()
            if cluster is not None:
                cluster.close()

    def __repr__(self) -> str:
        where = "a new LocalCluster" if self._client is None else repr(self._client)
        return f"DaskBackend(workers={self.workers}, on {where})"


def _connect(address: str) -> Any:
    try:
        return distributed.Client(address, set_as_default=False, timeout=10)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise OSError(
            f"cannot reach the Dask scheduler at address={address!r}: {exc}\n"
            "Start one with `dask scheduler` (and workers with `dask worker ADDRESS`), "
            "or check the address and that this machine can reach its port."
        ) from exc
