"""Importable objects for the tests of ``parmap.check``: culprits, holders and controls."""

from __future__ import annotations

import dataclasses
import functools
import socket
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from tests.helpers import add, square  # noqa: F401 - one definition, used by name here too

SQUARE_LAMBDA = lambda x: x * x  # noqa: E731 - a module-level lambda: pickle cannot name it


@dataclasses.dataclass
class Point:
    x: int
    y: int


Pair = namedtuple("Pair", ["left", "right"])

KEEP_ALIVE = Point(0, 0)  # a weak-reference target that lives as long as the tests


class Session:
    """Holds a lock between threads, like many client objects do."""

    def __init__(self) -> None:
        self.name = "session"
        self._lock = threading.Lock()


class Holder:
    def __init__(self, session: object) -> None:
        self.session = session


class Slotted:
    __slots__ = ("lock", "value")

    def __init__(self, lock: object) -> None:
        self.value = 1
        self.lock = lock


class GetstateLock:
    """Its ``__getstate__`` returns a lock itself."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __getstate__(self) -> object:
        return self.lock


class GetstateDict:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        return {"value": 1, "lock": self.lock}


class RaisingReduce:
    def __reduce__(self) -> tuple[Any, ...]:
        raise ValueError("RaisingReduce refuses to be pickled")


class BadInitError(Exception):
    """Pickles, but cannot be rebuilt: ``__init__`` takes two arguments, ``args`` holds one."""

    def __init__(self, path: str, code: int) -> None:
        super().__init__(path)
        self.code = code


class WithSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def method(self, x: int) -> int:
        return x


class Sneaky:
    """Counts every read of its property, every iteration and every ``__getattr__`` call."""

    def __init__(self, lock: object) -> None:
        self.calls: list[str] = []
        self.lock = lock

    @property
    def expensive(self) -> int:
        self.calls.append("property")
        return 1

    def __getattr__(self, name: str) -> Any:
        self.__dict__.setdefault("calls", []).append(f"getattr {name}")
        raise AttributeError(name)

    def __iter__(self) -> Iterator[int]:
        self.calls.append("iter")
        return iter(())


def make_closure(value: object) -> Callable[[int], object]:
    """A local function capturing ``value`` as ``conn``."""
    conn = value

    def work(x: int) -> object:
        return conn, x

    return work


def make_nested_closure(value: object) -> Callable[[int], object]:
    """A local function whose closure holds another closure, which holds ``value``."""
    conn = value

    def helper() -> object:
        return conn

    def work(x: int) -> object:
        return helper(), x

    return work


def make_local_instance(**attributes: object) -> object:
    class Local:
        pass

    obj = Local()
    obj.__dict__.update(attributes)
    return obj


def make_sqlite_closure(
    path: str = ":memory:",
) -> tuple[Callable[[int], object], sqlite3.Connection]:
    conn = sqlite3.connect(path)

    def work(x: int) -> object:
        return conn.execute("select ?", (x,)).fetchone()

    return work, conn


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


PARTIAL_SQUARE = functools.partial(add, 1)


#: The source of a module the tests create at run time, outside the import path.
MODULE_SOURCE = """
class Box:
    def __init__(self, value):
        self.value = value


def twice(x):
    return 2 * x
"""
