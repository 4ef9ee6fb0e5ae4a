"""The Dask backend: runs a run's tasks on a ``distributed`` cluster.

Three ways in: ``backend="dask"`` starts a ``LocalCluster`` on this machine
(owned by the backend, closed with it); ``backend="dask", address="tcp://…"``
connects to a running scheduler (the cluster is left running); a
``distributed.Client`` passed as ``backend`` is used as it is and never
closed.

What travels. The function (with the initializer and its arguments) is
pickled once per run by the same serializer choice as on processes and
registered as a worker plugin for the run: the scheduler hands it to each
worker once, including workers that join or restart mid-run, and the worker
unpickles it (and runs the initializer) on its first task. Items travel in
chunks pickled by :func:`parmap._shipping.pack_chunk`; each task runs
:func:`parmap._worker.run_items` on a worker and returns its results pickled
there, so a result that cannot travel becomes its own explained failure.

Failures. A worker that dies (``os._exit``, a segfault, the OOM killer) fails
every task it held with Dask's ``KilledWorker``, including one that had just
finished. When the worker held no more tasks than threads, those were
running: each becomes :class:`~parmap.errors.WorkerDiedError` naming the item
(a chunk's items are then run one by one to find it). Otherwise the tasks
become suspects and run again alone, one at a time, until the one that kills
its worker is known. A ``LocalCluster`` started here lets Dask retry
nothing itself (``allowed_failures=0``), so that parmap's ``retries`` and
``on_error`` decide, as on processes; on a cluster you bring, Dask's own
setting applies first.

``timeout`` is best effort: Dask cannot stop a task that is running. A task's
clock starts when it is among the oldest tasks that fit the cluster's
threads; past ``timeout`` per item it is reported as timed out and cancelled,
but its thread finishes the item on the worker before it is free again.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import time
import uuid
from typing import Any

try:
    import distributed
except ImportError as exc:  # pragma: no cover - exercised where distributed is absent
    raise ImportError(
        "backend='dask' needs the optional 'distributed' package, which is not installed; "
        "install it with: pip install 'parmap[dask]'"
    ) from exc

from parmap import _shipping, serializers
from parmap._task import Event, Fatal, Job, Results, Task, WorkerLost
from parmap.backends._base import Backend, Session, usable_cpus
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

#: Seconds the caller expects a fresh LocalCluster to need before a first result.
_LOCAL_STARTUP = 1.5


class DaskSession(Session):
    """One run on a :class:`DaskBackend`: a future per task."""

    def __init__(self, backend: DaskBackend, job: Job) -> None:
        self._backend = backend
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
        self.slots = 2 * backend.workers
        self.inline_ok = job.initializer is None and job.timeout is None
        self.startup_cost = backend.startup_cost()

    def submit(self, task: Task, /) -> None:
        chunk = _shipping.pack_chunk(task, serializer=self._job.serializer, portable=True)
        self._submit(task, chunk)

    def _submit(self, task: Task, chunk: bytes | None = None) -> None:
        if chunk is None:
            chunk = _shipping.pack_chunk(task, serializer=self._job.serializer, portable=True)
        client = self._backend.client()
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
                offset, values, errors = serializers.loads(packed)
            except Exception as exc:  # noqa: BLE001 - pickled on the worker, not here
                return [Fatal(exc, _CANNOT_LOAD)]
            done = position == len(body) - 1
            events.append(Results(task.task_id, offset, values, errors, busy, done))
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
        for future in list(self._futures)[: self._backend.workers]:
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
            self._backend.client().cancel(futures)
        self.close()

    def close(self) -> None:
        if self._registered:
            self._registered = False
            with contextlib.suppress(Exception):  # the cluster may be gone already
                self._backend.client().unregister_worker_plugin(self._plugin)


def _killed(exc: BaseException | None) -> bool:
    return isinstance(exc, distributed.KilledWorker)


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
                # The HTTP server (health checks) would otherwise take, or warn about, port 8787.
                scheduler_kwargs={"allowed_failures": 0, "dashboard_address": ":0"},
            )
            self._client = distributed.Client(self._cluster, set_as_default=False)  # type: ignore[no-untyped-call]
        return self._client

    def startup_cost(self) -> float:
        """Seconds before a first result: a LocalCluster yet to start costs about 1.5 s."""
        return _LOCAL_STARTUP if self._client is None else 0.005

    def open(self, job: Job, /) -> Session:
        return DaskSession(self, job)

    def close(self) -> None:
        client, cluster = self._client, self._cluster
        if self._owns_client and client is not None:
            self._client, self._cluster = None, None
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
