"""Know the well-known objects that cannot travel between processes, and how to avoid sending them.

Each resource (lock, socket, file, database connection, generator, …) gets an
explanation in the user's terms and concrete fixes, instead of a blame on its
internals. Types are looked up in ``sys.modules`` only: a module the user's
program never imported cannot have produced the object, so nothing is imported
here just to recognise it.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from typing import Final

from parmap._check.kinds import is_a
from parmap._names import type_name

__all__ = ["Known", "culprit_type_name", "describe", "step_name"]

_THREADS: Final = 'use backend="threads": nothing is pickled, every thread sees the same object'
_INIT: Final = (
    "create it in each worker: initializer=... with initargs=..., kept in a module-level "
    "variable the function reads"
)


@dataclass(frozen=True)
class Known:
    """What parmap knows about an object that cannot travel.

    Attributes:
        kind: a short category, e.g. ``"lock"``, ``"database connection"``.
        reason: why it cannot travel.
        fixes: what to do, most useful first.
    """

    kind: str
    reason: str
    fixes: tuple[str, ...]


# (module, dotted attribute) -> index into _KNOWLEDGE. Resolved in sys.modules at check time.
_TYPES: Final[tuple[tuple[str, str, str], ...]] = (
    ("_thread", "LockType", "lock"),
    ("_thread", "RLock", "lock"),
    ("threading", "Condition", "lock"),
    ("threading", "Semaphore", "lock"),
    ("threading", "Event", "lock"),
    ("threading", "Barrier", "lock"),
    ("multiprocessing.synchronize", "SemLock", "lock"),
    ("multiprocess.synchronize", "SemLock", "lock"),
    ("threading", "Thread", "thread"),
    ("subprocess", "Popen", "thread"),
    ("concurrent.futures", "Executor", "thread"),
    ("multiprocessing.process", "BaseProcess", "thread"),
    ("multiprocess.process", "BaseProcess", "thread"),
    ("multiprocessing.pool", "Pool", "thread"),
    ("multiprocess.pool", "Pool", "thread"),
    ("_thread", "_local", "thread-local"),
    ("socket", "socket", "socket"),
    ("sqlite3", "Connection", "database connection"),
    ("sqlite3", "Cursor", "database connection"),
    ("types", "GeneratorType", "generator"),
    ("types", "AsyncGeneratorType", "generator"),
    ("types", "CoroutineType", "coroutine"),
    ("asyncio", "AbstractEventLoop", "event loop"),
    ("queue", "Queue", "queue"),
    ("_queue", "SimpleQueue", "queue"),
    ("multiprocessing.queues", "Queue", "queue"),
    ("multiprocessing.queues", "SimpleQueue", "queue"),
    ("multiprocess.queues", "Queue", "queue"),
    ("multiprocess.queues", "SimpleQueue", "queue"),
    ("logging", "Handler", "log handler"),
    ("ctypes", "_Pointer", "pointer"),
    ("ctypes", "_CFuncPtr", "pointer"),
    ("ctypes", "c_void_p", "pointer"),
    ("ctypes", "c_char_p", "pointer"),
    ("ctypes", "c_wchar_p", "pointer"),
    ("ctypes", "Array", "ctypes array"),
    ("_weakref", "ReferenceType", "weak reference"),
    ("_weakref", "ProxyType", "weak reference"),
    ("_weakref", "CallableProxyType", "weak reference"),
    ("weakref", "WeakValueDictionary", "weak reference"),
    ("weakref", "WeakKeyDictionary", "weak reference"),
    ("_weakrefset", "WeakSet", "weak reference"),
    ("types", "ModuleType", "module"),
    ("builtins", "memoryview", "memoryview"),
    ("types", "FrameType", "frame"),
    ("types", "TracebackType", "frame"),
    ("mmap", "mmap", "memory map"),
    ("io", "IOBase", "file"),
)

_KNOWLEDGE: Final[dict[str, Known]] = {
    "lock": Known(
        "lock",
        "a lock works only inside the process that created it: a worker would hold an "
        "unrelated copy, which keeps nothing apart",
        (
            "create the lock where it is used: inside the function, or once per worker with "
            "initializer=",
            "if it only guards an object between threads, drop it in the class's __getstate__ "
            "and create a new one in __setstate__",
            _THREADS,
        ),
    ),
    "thread": Known(
        "running thread or process",
        "a running thread, process or pool belongs to the process that started it",
        ("start it in the worker, or keep it in the caller and send only the data", _THREADS),
    ),
    "thread-local": Known(
        "thread-local",
        "the values on a threading.local belong to one thread of this process",
        ("create the threading.local in the worker's module, or in initializer=", _THREADS),
    ),
    "socket": Known(
        "socket",
        "an open network connection belongs to the process that opened it",
        (
            "send the address (host, port) and connect in the worker: " + _INIT,
            "or connect inside the function, once per item",
            _THREADS,
        ),
    ),
    "database connection": Known(
        "database connection",
        "a database connection belongs to the process that opened it (an open file or "
        "socket, plus state held by the database library)",
        (
            "open the connection in each worker: initializer=connect, initargs=(path,), "
            "kept in a module-level variable the function reads",
            "or send the database path or URL and connect inside the function",
            _THREADS,
        ),
    ),
    "generator": Known(
        "generator",
        "a generator is a paused computation: its running frame cannot be copied to "
        "another process (and parmap never consumes it to find out)",
        (
            "send a list instead (list(gen), if it fits in memory)",
            "or send what creates it (a path, range bounds, …) and build the generator "
            "inside the function",
            "to map over a generator, pass it as the iterable: parallel_map(f, gen) reads it "
            "lazily",
        ),
    ),
    "coroutine": Known(
        "coroutine",
        "a coroutine is a paused computation: its frame cannot be copied to another process",
        (
            "send the coroutine function and its arguments, and run it in the function with "
            "asyncio.run(...)",
        ),
    ),
    "event loop": Known(
        "event loop",
        "an event loop owns this process's selector, sockets and callbacks",
        ("create the loop in the worker: asyncio.run(...) inside the function", _THREADS),
    ),
    "queue": Known(
        "queue",
        "a queue connects threads (or inherited processes) of this run: a pickled copy "
        "would be an unconnected, empty queue",
        (
            "return the values from the function instead: parallel_map collects the results "
            "in order",
            _THREADS,
        ),
    ),
    "log handler": Known(
        "log handler",
        "a log handler holds a lock and an open stream of this process (loggers themselves "
        "travel by name)",
        (
            "get the logger by name in the function (logging.getLogger(__name__)) and "
            "configure its handlers in initializer=",
            "drop the handler in the class's __getstate__ and look it up again in __setstate__",
        ),
    ),
    "pointer": Known(
        "ctypes pointer",
        "a raw memory address means nothing in another process",
        ("copy the data out (bytes(...), a number, a numpy array) and send that",),
    ),
    "ctypes array": Known(
        "ctypes array",
        "the type of a ctypes array (such as c_char * 16, or what create_string_buffer "
        "makes) is created at run time: it has no name a worker could import it by",
        (
            "copy the data out and send that: bytes(buf) (buf.raw for a char buffer), "
            "list(buf), or a numpy array",
            "or create the buffer inside the function, from a size or bytes sent instead",
        ),
    ),
    "weak reference": Known(
        "weak reference",
        "a weak reference does not own its target: a copy in the worker has no target "
        "that stays alive",
        (
            "send the target itself (a normal reference)",
            "or drop it in __getstate__ and rebuild the weak reference in __setstate__",
        ),
    ),
    "dead weak reference": Known(
        "dead weak reference",
        "the target of this weak reference no longer exists: a worker could only receive "
        "a reference that is dead too",
        ("leave it out of what is sent, or send None where a dead reference is expected",),
    ),
    "module": Known(
        "module",
        "pickle cannot store a module object",
        (
            "import the module inside the function (or at the top of its module) instead of "
            "passing it",
        ),
    ),
    "memoryview": Known(
        "memoryview",
        "a memoryview is a window onto another object's memory in this process",
        ("send bytes(view), or the object it views",),
    ),
    "frame": Known(
        "frame or traceback",
        "a frame or traceback is part of this process's running stack",
        ("send the text instead: traceback.format_exception(exc)",),
    ),
    "memory map": Known(
        "memory map",
        "a memory map is a mapping of this process",
        ("send the file path and map the file in the worker",),
    ),
    "file": Known(
        "open file",
        "an open file is a handle owned by this process; the worker needs its own",
        (
            "send the path and open the file inside the function (or once per worker with "
            "initializer=)",
            "to write results, return them and write them in the caller",
        ),
    ),
}

# How CPython shows a weak reference, or a proxy, whose target is gone (reading the
# repr runs no code of the target's, unlike any attribute of a proxy).
_DEAD: Final = re.compile(r"(; dead| to NoneType at 0x[0-9a-fA-F]+)>$")
_DB_MODULES: Final = frozenset(
    {"psycopg", "psycopg2", "pymysql", "MySQLdb", "pymongo", "redis", "sqlalchemy", "duckdb"}
)
_DB_WORDS: Final = ("Connection", "Cursor", "Engine", "Session", "Client", "Pool")


def culprit_type_name(obj: object, /) -> str:
    """Name a culprit's type, or a class culprit itself: ``app.Point`` rather than ``type``."""
    if is_a(obj, type):
        module = getattr(obj, "__module__", "") or ""
        qualname = str(getattr(obj, "__qualname__", "?"))
        return qualname if module in ("builtins", "") else f"{module}.{qualname}"
    return type_name(obj)


def step_name(obj: object, /) -> str:
    """Name what a path step reaches: ``function 'work'``, ``class 'Session'``, or its type."""
    if is_a(obj, (type, types.FunctionType)):
        what = "class" if is_a(obj, type) else "function"
        return f"{what} {getattr(obj, '__qualname__', '?')!r}"
    return type_name(obj)


def _resolve(module: str, attr: str) -> type | None:
    found: object = sys.modules.get(module)
    for part in attr.split("."):
        found = getattr(found, part, None) if found is not None else None
    return found if isinstance(found, type) else None


def describe(obj: object, /) -> Known | None:
    """Return what parmap knows about ``obj`` as a resource that cannot travel, if anything."""
    if is_a(obj, (type, types.FunctionType)):
        return None
    for module, attr, kind in _TYPES:
        cls = _resolve(module, attr)
        if cls is not None and issubclass(type(obj), cls):
            if kind == "file" and type(obj).__name__ in ("BytesIO", "StringIO"):
                continue
            if kind == "weak reference" and _DEAD.search(repr(obj)):
                return _KNOWLEDGE["dead weak reference"]
            return _KNOWLEDGE[kind]
    cls = type(obj)
    top = (getattr(cls, "__module__", "") or "").partition(".")[0]
    if top in _DB_MODULES and any(word in cls.__name__ for word in _DB_WORDS):
        return _KNOWLEDGE["database connection"]
    return None
