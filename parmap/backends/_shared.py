"""Worker processes kept warm across runs: one backend per start method and worker count.

A data script or a notebook calls ``parallel_map`` many times in a row; each
call paying for new workers would make every short call run in the caller.
Runs that name the processes backend (the default) with no ``initializer``
share a :class:`~parmap.backends.processes.ProcessBackend` per start method
and worker count, which keeps its workers between runs.

This registry is the one piece of state parmap keeps per process, by design:

* a worker unused for :data:`IDLE_SECONDS` exits, and a backend unused that
  long is closed at the next run;
* every backend is closed at interpreter exit, and none is inherited by a
  forked child (it starts with an empty registry);
* ``reuse=False`` or ``PARMAP_REUSE_WORKERS=0`` makes each run start and stop
  its own workers, as before.

What a warm worker computes equals what a fresh one would: functions and
classes of ``__main__`` travel by value with their globals as they are now,
and a forked pool whose caller reloaded a module since the fork is replaced
(see :meth:`~parmap.backends.processes.ProcessBackend.open`). What a function
itself leaves in a worker's module globals stays there for the next run, as
with any pool kept across calls.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Final

from parmap._transport import worker as _worker
from parmap.backends.processes import ProcessBackend

#: A shared backend unused this long is closed (its workers exit by themselves then, too).
IDLE_SECONDS: Final = _worker.IDLE_SECONDS
#: Set to ``0`` to give each run workers of its own (the ``reuse`` option's default).
REUSE_ENV: Final = "PARMAP_REUSE_WORKERS"


def reuse_by_default() -> bool:
    """Whether runs share warm workers unless told otherwise (``PARMAP_REUSE_WORKERS``)."""
    return os.environ.get(REUSE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class SharedBackends:
    """The warm backends of this process, by ``(start method, workers)``.

    No thread of its own watches them (a thread in the caller would make each
    later fork unsafe): a worker unused for :data:`IDLE_SECONDS` exits by
    itself, and each :meth:`get` closes the backends unused that long.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[tuple[str, int], ProcessBackend] = {}

    def get(self, workers: int, start_method: str) -> ProcessBackend:
        """The shared backend for ``workers`` workers started with ``start_method``."""
        key = (start_method, workers)
        self.close_idle(IDLE_SECONDS)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None or backend.closed:
                backend = ProcessBackend(workers, start_method=start_method)
                self._backends[key] = backend
            return backend

    def peek(self, workers: int, start_method: str) -> ProcessBackend | None:
        """The shared backend for those settings if there is one (nothing is made)."""
        with self._lock:
            return self._backends.get((start_method, workers))

    def close_idle(self, seconds: float, /) -> None:
        """Close the backends that no run has used for ``seconds``."""
        now = time.monotonic()
        with self._lock:
            idle = {
                key: backend
                for key, backend in self._backends.items()
                if backend.idle_since is not None and now - backend.idle_since > seconds
            }
            for key in idle:
                del self._backends[key]
        for backend in idle.values():
            backend.close()

    def close_all(self) -> None:
        """Stop every shared backend's workers (at exit, or to start afresh)."""
        with self._lock:
            backends = list(self._backends.values())
            self._backends.clear()
        for backend in backends:
            backend.close()

    def forget(self) -> None:
        """Start empty in a forked child: the backends are the parent's, not to be touched."""
        self._lock = threading.Lock()
        self._backends = {}


#: The process's warm backends (see the module docstring for why there is one).
SHARED: Final = SharedBackends()
atexit.register(SHARED.close_all)
os.register_at_fork(after_in_child=SHARED.forget)
