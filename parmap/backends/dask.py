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
chunks pickled by :func:`parmap._transport.shipping.pack_chunk`; each task runs
:func:`parmap._transport.worker.run_items` on a worker and returns its results pickled
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

from typing import Any

try:
    import distributed
except ImportError as exc:  # pragma: no cover - exercised where distributed is absent
    raise ImportError(
        "backend='dask' needs the optional 'distributed' package, which is not installed; "
        "install it with: pip install 'parmap[dask]'"
    ) from exc

from parmap._transport.messages import Job
from parmap.backends._base import Backend, Session, usable_cpus
from parmap.backends._dask_session import DaskSession

__all__ = ["DaskBackend"]

#: Seconds the caller expects a fresh LocalCluster to need before a first result.
_LOCAL_STARTUP = 1.5


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
        return DaskSession(self.client, self.workers, self.startup_cost(), job)

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
