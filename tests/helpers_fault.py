"""Importable functions and objects for the fault tests (spawn workers import them by name)."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from tests.helpers import identity  # noqa: F401 - one definition, used by name here too


def explode_on_load(message: str) -> Any:
    """Called by the unpickler to rebuild a :class:`LoadBomb`: always raises."""
    raise RuntimeError(message)


class LoadBomb:
    """Pickles fine, but raises ``RuntimeError("cannot load <tag>")`` wherever it is unpickled."""

    def __init__(self, tag: Any) -> None:
        self.tag = tag

    def __reduce__(self) -> tuple[Any, ...]:
        return (explode_on_load, (f"cannot load {self.tag}",))

    def __repr__(self) -> str:
        return f"LoadBomb({self.tag!r})"


def load_bomb_on(x: int, bad: int = 2) -> Any:
    """Returns a result that pickles in the worker and fails to unpickle in the caller."""
    return LoadBomb(x) if x == bad else x


class ExitOnPickle:
    """Calls sys.exit(4) when pickled (in a worker: while its result is sent back)."""

    def __reduce__(self) -> tuple[Any, ...]:
        sys.exit(4)


def exit_on_pickle_on(x: int, bad: int = 2) -> Any:
    return ExitOnPickle() if x == bad else x


class ExitOnLoad:
    """Pickles fine; unpickling it calls sys.exit(6)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (sys.exit, (6,))


def exit_on_load_on(x: int, bad: int = 2) -> Any:
    return ExitOnLoad() if x == bad else x


def sys_exit_on(x: int, bad: int = 2) -> int:
    if x == bad:
        sys.exit(5)
    return x


class LockedError(Exception):
    """An exception carrying an attribute that cannot be pickled."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_locked(x: int, bad: int = 2) -> int:
    if x == bad:
        raise LockedError(f"locked failure on {x}")
    return x


def return_generator(x: int, bad: int = 2) -> Any:
    return (i for i in range(x)) if x == bad else x


def record_pid_then_sleep(x: int, directory: str, seconds: float = 30.0) -> int:
    """Leaves a file named after this worker's pid, then sleeps (parent-death tests)."""
    with open(os.path.join(directory, f"pid-{os.getpid()}"), "w"):
        pass
    time.sleep(seconds)
    return x


def fail_until(x: int, directory: str, kind: str = "connection", fails: int = 1) -> int:
    """Raises ``fails`` times per item (counted in marker files), then returns the item."""
    seen = sum(1 for name in os.listdir(directory) if name.startswith(f"seen-{x}-"))
    if seen < fails:
        with open(os.path.join(directory, f"seen-{x}-{seen}"), "w"):
            pass
        if kind == "connection":
            raise ConnectionError(f"flaky {x}")
        raise ValueError(f"broken {x}")
    return x


def die_once(x: int, directory: str, bad: int = 2) -> int:
    """SIGKILLs its own worker the first time it runs item ``bad``; succeeds after that."""
    import signal

    marker = os.path.join(directory, f"died-{x}")
    if x == bad and not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def nested_pids(x: int) -> tuple[int, list[int]]:
    """A nested run inside a worker: its own pid and the pids that ran the inner items."""
    import parmap
    from tests.helpers import pid_of

    return os.getpid(), parmap.parallel_map(pid_of, range(x), workers=2, inline=False)


def count_children(_: Any) -> int:
    """How many live child processes this worker has (a nested run must start none)."""
    import psutil

    return len(psutil.Process().children(recursive=True))


def stall(x: int, naps: dict[int, float], kill: int | None = None) -> int:
    """Sleeps ``naps[x]`` seconds (0 if absent), then SIGKILLs its worker if ``x == kill``.

    Lets a test decide which items keep a worker busy, so that later tasks
    queue up behind a given item on a given worker.
    """
    import signal

    time.sleep(naps.get(x, 0.0))
    if x == kill:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


#: Environment variable naming a file that :func:`nap_square` appends one line to per call.
CALLS_ENV = "PARMAP_FAULT_CALLS"


def nap_square(x: int) -> int:
    """A slow square (0.1 s), logging each call when ``PARMAP_FAULT_CALLS`` names a file."""
    time.sleep(0.1)
    log = os.environ.get(CALLS_ENV)
    if log:
        with open(log, "a") as calls:
            calls.write(f"{x}\n")
    return x * x


def announce_and_sleep_on(x: int, directory: str, bad: int = 2, seconds: float = 30.0) -> int:
    """For item ``bad``: writes ``DIRECTORY/running-<pid>`` and sleeps, waiting to be killed."""
    if x == bad:
        with open(os.path.join(directory, f"running-{os.getpid()}"), "w"):
            pass
        time.sleep(seconds)
    return x


def quiet_segfault_on(x: int, bad: int = 2) -> int:
    """Segfaults (``ctypes.string_at(0)``) on item ``bad``, without a faulthandler dump.

    Forked workers inherit pytest's faulthandler, which would print every thread's stack to
    the shared stderr at the crash; the crash itself is the same.
    """
    if x == bad:
        import ctypes
        import faulthandler

        faulthandler.disable()
        ctypes.string_at(0)
    return x


def fork_child_then_die(x: int, bad: int = 2) -> int:
    """On ``bad``, forks a child that sleeps 30 s (holding the worker's pipe), then dies."""
    if x == bad:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        os._exit(7)
    return x


def _block_forever(seconds: float) -> Any:
    time.sleep(seconds)
    return None


class SlowToLoad:
    """Pickles fine; unpickling it sleeps ``seconds`` (a __reduce__ that blocks)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __reduce__(self) -> tuple[Any, ...]:
        return (_block_forever, (self.seconds,))


def record_pid_then_hold_the_gil(x: int, directory: str) -> int:
    """Writes ``DIRECTORY/pid-<pid>``, then computes in C for minutes without releasing the GIL."""
    with open(os.path.join(directory, f"pid-{os.getpid()}"), "w"):
        pass
    return sum(range(10**12)) + x


def close_my_pipes_on(x: int, bad: int = 2) -> int:
    """On ``bad``, closes every descriptor the worker holds past stdio (its pipe included)."""
    if x == bad:
        os.closerange(3, 4096)
        time.sleep(5)
    return x
