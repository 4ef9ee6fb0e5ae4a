"""Importable functions that tests run in workers (spawn and forkserver need to import them)."""

from __future__ import annotations

import os
import time
from typing import Any


def square(x: int) -> int:
    return x * x


def add(x: int, y: int) -> int:
    return x + y


def pid_of(_: Any) -> int:
    return os.getpid()


def busy(seconds: float) -> float:
    """Spin for ``seconds`` of CPU time; returns it."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def slow_square(x: int) -> int:
    time.sleep(0.01)
    return x * x


def fail_on(x: int, bad: int = 3) -> int:
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x


class CustomInitError(Exception):
    """An exception whose __init__ signature breaks the default pickling."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code


def raise_custom(x: int) -> int:
    if x == 2:
        raise CustomInitError(7, "custom failure")
    return x


def exit_on(x: int, bad: int = 2) -> int:
    if x == bad:
        os._exit(3)
    return x


def kill_self_on(x: int, bad: int = 2) -> int:
    import signal

    if x == bad:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def segfault_on(x: int, bad: int = 2) -> int:
    if x == bad:
        import ctypes

        ctypes.string_at(0)
    return x


def sleep_on(x: int, bad: int = 2, seconds: float = 30.0) -> int:
    if x == bad:
        time.sleep(seconds)
    return x


def return_lock(x: int) -> Any:
    import threading

    return threading.Lock() if x == 2 else x


def flaky_marker(x: int, directory: str) -> int:
    """Fails the first time it sees each item (a marker file remembers), then succeeds."""
    marker = os.path.join(directory, f"seen-{x}")
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        raise ConnectionError(f"flaky {x}")
    return x


def nested(x: int) -> list[int]:
    import parmap

    return parmap.parallel_map(square, range(x), workers=2)


_STATE: dict[str, Any] = {}


def remember(value: str) -> None:
    """An initializer: stores a value in this worker."""
    _STATE["value"] = value


def recall(_: Any) -> Any:
    return _STATE.get("value")


def held_lock(_: Any) -> Any:
    """Returns a lock that is held: only dill pickles it, into a copy held forever."""
    import threading

    lock = threading.Lock()
    lock.acquire()
    return lock


def identity(x: Any) -> Any:
    return x


def pair(x: Any, y: Any) -> tuple[Any, Any]:
    return (x, y)


def stop_iteration_on(x: int, bad: int = 3) -> int:
    """Raises StopIteration on one item: builtin map ends its results there."""
    if x == bad:
        raise StopIteration(f"stop at {x}")
    return x


def interrupt_on(x: int, bad: int = 2) -> int:
    if x == bad:
        raise KeyboardInterrupt(f"interrupt at {x}")
    return x


def system_exit_on(x: int, bad: int = 2) -> int:
    if x == bad:
        raise SystemExit(f"exit at {x}")
    return x


def nap(x: Any, seconds: float = 0.25) -> Any:
    """Sleeps (no CPU), so long runs do not load the machine."""
    time.sleep(seconds)
    return x


def run_python(
    *args: str,
    stdin: str | None = None,
    timeout: float = 90,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Any:
    """Run a fresh interpreter (``python *args``) from the project root; the completed process."""
    import subprocess
    import sys
    from pathlib import Path

    environ = dict(os.environ)
    environ.update(env or {})
    root = str(Path(__file__).parents[1])
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or root,
        env=environ,
        check=False,
    )


def nap_pid(x: Any, seconds: float = 0.01) -> tuple[Any, int]:
    """Sleeps, then returns the item and the pid that ran it."""
    time.sleep(seconds)
    return x, os.getpid()
