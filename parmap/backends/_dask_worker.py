"""What the Dask backend runs on a worker: the run's function, kept by a plugin, and one task.

Imported on every Dask worker that runs a parmap task; it needs ``distributed``
(present there) and parmap's light worker-side modules only.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any, cast

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from parmap import serializers
from parmap._transport import remote as _remote
from parmap._transport import worker as _worker
from parmap._transport.messages import RemoteFailure


class FunctionStore(WorkerPlugin):
    """Worker plugin carrying one run's function to every worker, current and future.

    The scheduler keeps the plugin and hands it to each worker once, including
    workers that join or restart during the run; the function is unpickled
    (and the initializer run) on the worker's first task, in the thread that
    runs the items, and kept for the rest of the run.

    Args:
        name: the plugin's name, unique to the run.
        payload: the function bundle from :func:`parmap._transport.shipping.pack_function`.
        caller_pid: the process that registered it; workers in other processes
            mark themselves as parmap workers so that nested calls run serially.
    """

    def __init__(self, name: str, payload: bytes, caller_pid: int) -> None:
        self.name = name
        self.payload = payload
        self.caller_pid = caller_pid
        self._loaded: tuple[Any, ...] | RemoteFailure | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "payload": self.payload, "caller_pid": self.caller_pid}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["payload"], state["caller_pid"])  # type: ignore[misc]

    def setup(self, worker: Any) -> None:
        """Called by Dask on each worker."""
        if os.getpid() != self.caller_pid:
            os.environ[_worker.WORKER_ENV] = "1"

    def load(self) -> tuple[Any, ...] | RemoteFailure:
        """``(func, serializer, star)``, or the failure of the initializer."""
        with self._lock:  # two threads of one worker must not run the initializer twice
            if self._loaded is None:
                func, initializer, initargs, serializer, star, _ = serializers.loads(self.payload)
                self._loaded = (func, serializer, star)
                if initializer is not None:
                    try:
                        initializer(*initargs)
                    except Exception as exc:  # noqa: BLE001 - reported to the caller
                        self._loaded = _remote.pack(exc)
            return self._loaded


def run_task(plugin: str, chunk: bytes) -> tuple[str, Any]:
    """Run one task on a Dask worker.

    Returns:
        ``("R", [(busy_seconds, packed_results), ...])``; or ``("L", failure)``
        when the function cannot be loaded on this worker, ``("I", failure)``
        when the initializer raised there.
    """
    store = cast(FunctionStore, distributed.get_worker().plugins[plugin])
    try:
        loaded = store.load()
    except Exception as exc:  # noqa: BLE001 - reported to the caller
        return "L", _remote.pack(exc)
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
