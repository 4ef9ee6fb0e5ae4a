"""The table of ``parmap.check`` cases: verdict per serializer, path, culprit type and a fix."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import functools
import importlib.util
import io
import logging
import os
import pathlib
import queue
import re
import socket
import sqlite3
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_check as h

from parmap._check.check import check

SERIALIZERS = ("pickle", "cloudpickle", "dill", "auto")
Make = Callable[[contextlib.ExitStack, pathlib.Path], object]


@dataclasses.dataclass(frozen=True)
class Case:
    """One row: how to make the object and what check() must say about it.

    ``fails`` lists the serializers that must fail (``"auto"`` included when all
    three do). ``path`` / ``type`` / ``fix`` are regexes for the first problem;
    ``pickle_path`` overrides ``path`` for pickle, which stores functions and
    classes by name instead of copying them.
    """

    id: str
    make: Make
    fails: frozenset[str]
    path: str = "obj"
    type: str = ""
    fix: str = "."
    pickle_path: str | None = None
    pickle_type: str | None = None
    winner: str | None = None
    dill: tuple[str, str, str] | None = None  # path, type, fix when dill differs

    def expect(self, serializer: str) -> tuple[str, str, str]:
        """The path, type and fix regexes expected from ``serializer``."""
        if serializer == "dill" and self.dill is not None:
            return self.dill
        if serializer == "pickle" and self.pickle_path is not None:
            return self.pickle_path, self.pickle_type or self.type, r"module level"
        return self.path, self.type, self.fix


def case(
    id: str, make: Make, fails: str, path: str = "obj", type: str = "", fix: str = ".", **kw: Any
) -> Case:
    return Case(id, make, frozenset(fails.split()), path, type, fix, **kw)


ALL = "pickle cloudpickle dill auto"
NOT_DILL = "pickle cloudpickle"
LOCK_FIX = r"initializer="


def _closing(stack: contextlib.ExitStack, obj: object) -> object:
    stack.callback(obj.close)  # type: ignore[attr-defined]
    return obj


def _file(mode: str) -> Make:
    def make(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
        path = tmp / "data.txt"
        path.write_text("precious\n")
        return _closing(stack, open(path, mode))  # closed by the stack

    return make


def _sqlite_closure(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    work, conn = h.make_sqlite_closure()
    stack.callback(conn.close)
    return work


def _nested_sqlite(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    conn = _closing(stack, sqlite3.connect(":memory:"))
    return h.make_nested_closure(conn)


def _long_list(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    items: list[object] = list(range(10_000))
    items[7777] = threading.Lock()
    return items


def _recursive_list(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    items: list[object] = [1]
    items.append(items)
    items.append(threading.Lock())
    return items


def _recursive_object(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    holder = h.WithSocket(_closing(stack, socket.socket()))  # type: ignore[arg-type]
    holder.me = holder  # type: ignore[attr-defined]
    return {"root": holder}


def _object_array(value: object) -> Make:
    def make(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
        array = np.empty((2, 3), dtype=object)
        array[:] = 0
        array[1, 2] = value() if callable(value) else value
        return array

    return make


def _handler_holder(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    handler = logging.StreamHandler(io.StringIO())
    stack.callback(handler.close)
    return h.Holder(handler)


def _logger(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    logger = logging.getLogger("parmap.tests.check")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def _loop(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    return _closing(stack, asyncio.new_event_loop())


def _coroutine(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    return _closing(stack, asyncio.sleep(0))


def _traceback(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    try:
        raise ValueError("x")
    except ValueError as exc:
        return exc.__traceback__


def _weakref(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    target = h.Point(1, 2)
    stack.callback(lambda: target)  # keeps the target alive for the test
    return {"ref": weakref.ref(target)}


def _mp_lock(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    import multiprocess

    return multiprocess.Lock()


def _value(factory: Callable[[], object]) -> Make:
    return lambda stack, tmp: factory()


def _closure_over(make: Make) -> Make:
    return lambda stack, tmp: h.make_closure(make(stack, tmp))


def _dead_proxy(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
    target = h.Point(1, 2)
    proxy = weakref.proxy(target)
    del target
    return proxy


def _module_attr(stack: contextlib.ExitStack, module: types.ModuleType, attr: str) -> object:
    sys.modules[module.__name__] = module
    stack.callback(sys.modules.pop, module.__name__, None)
    return getattr(module, attr)


def _run_time_module(attr: str) -> Make:
    def make(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
        module = types.ModuleType(f"parmap_test_made_{tmp.name}")
        exec(h.MODULE_SOURCE, module.__dict__)
        return _module_attr(stack, module, attr)

    return make


def _file_module(*, delete: bool) -> Make:
    def make(stack: contextlib.ExitStack, tmp: pathlib.Path) -> object:
        name = f"parmap_test_plugin_{tmp.name}"
        path = tmp / "plugins" / f"{name}.py"  # a folder that is not on sys.path
        path.parent.mkdir()
        path.write_text(h.MODULE_SOURCE)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if delete:
            path.unlink()
            sys.path.append(str(path.parent))  # on the path now, but the file is gone
            stack.callback(sys.path.remove, str(path.parent))
        return _module_attr(stack, module, "twice")

    return make


CASES = [
    case(
        "lock", _value(threading.Lock), NOT_DILL, "obj", r"^_thread\.lock$", LOCK_FIX, winner="dill"
    ),
    case("rlock", _value(threading.RLock), NOT_DILL, "obj", r"^_thread\.RLock$", LOCK_FIX),
    case(
        "condition", _value(threading.Condition), NOT_DILL, "obj", r"threading\.Condition", LOCK_FIX
    ),
    case("multiprocess lock", _mp_lock, ALL, "obj", r"synchronize\.Lock", LOCK_FIX),
    case(
        "lock in deep dict",
        _value(lambda: {"a": {"b": [1, threading.Lock()]}}),
        NOT_DILL,
        r"obj -> \['a'\] -> \['b'\] -> \[1\]",
        r"_thread\.lock",
        LOCK_FIX,
    ),
    case(
        "lock deep in an argument",
        _value(lambda: h.Holder(h.Session())),
        NOT_DILL,
        r"obj -> \.session -> \._lock",
        r"_thread\.lock",
        r"__getstate__",
    ),
    case(
        "socket",
        lambda s, t: _closing(s, socket.socket()),
        ALL,
        "obj",
        r"^socket\.socket$",
        r"host, port",
    ),
    case(
        "file read text",
        _file("r"),
        "pickle",
        "obj",
        r"TextIOWrapper",
        r"open the file",
        winner="cloudpickle",
    ),
    case(
        "file write",
        _file("w"),
        "pickle cloudpickle",
        "obj",
        r"TextIOWrapper",
        r"write them in the caller",
    ),
    case("file read binary", _file("rb"), NOT_DILL, "obj", r"BufferedReader", r"send the path"),
    case(
        "sqlite connection",
        lambda s, t: _closing(s, sqlite3.connect(":memory:")),
        ALL,
        "obj",
        r"^sqlite3\.Connection$",
        r"initializer=connect",
    ),
    case(
        "sqlite cursor",
        lambda s, t: _closing(s, sqlite3.connect(":memory:")).cursor(),
        ALL,  # type: ignore[attr-defined]
        "obj",
        r"^sqlite3\.Cursor$",
        r"connect inside the function",
    ),
    case(
        "closure over sqlite",
        _sqlite_closure,
        ALL,
        r"func -> __closure__ 'conn'",
        r"^sqlite3\.Connection$",
        r"initializer=",
    ),
    case(
        "nested closures",
        _nested_sqlite,
        ALL,
        r"func -> __closure__ 'helper' -> __closure__ 'conn'",
        r"sqlite3\.Connection",
        r"connect inside",
    ),
    case(
        "closure over a lock",
        _value(lambda: h.make_closure(threading.Lock())),
        "pickle cloudpickle",
        r"func -> __closure__ 'conn'",
        r"_thread\.lock",
        LOCK_FIX,
    ),
    case("generator", _value(lambda: h.numbers(3)), ALL, "obj", r"^generator$", r"list"),
    case(
        "generator in a dict",
        _value(lambda: {"rows": h.numbers(3)}),
        ALL,
        r"obj -> \['rows'\]",
        r"^generator$",
        r"list\(gen\)",
    ),
    case(
        "local class instance",
        _value(lambda: h.make_local_instance(x=1)),
        "pickle",
        r"obj -> \.__class__",
        r"^helpers_check\.make_local_instance\.<locals>\.Local$",
        r"module level",
        winner="cloudpickle",
    ),
    case(
        "local class holding a lock",
        _value(lambda: h.make_local_instance(lock=threading.Lock())),
        NOT_DILL,
        r"obj -> \.lock",
        r"_thread\.lock",
        LOCK_FIX,
        pickle_path=r"obj -> \.__class__",
        pickle_type=r"^helpers_check\.make_local_instance\.<locals>\.Local$",
    ),
    case(
        "module-level lambda",
        _value(lambda: h.SQUARE_LAMBDA),
        "pickle",
        "func",
        r"^function$",
        r"module level",
    ),
    case(
        "bad item deep in a long list",
        _long_list,
        NOT_DILL,
        r"obj -> \[7777\]",
        r"_thread\.lock",
        LOCK_FIX,
    ),
    case(
        "raising __reduce__", _value(h.RaisingReduce), ALL, "obj", r"RaisingReduce", r"__reduce__"
    ),
    case(
        "__getstate__ returning a lock",
        _value(h.GetstateLock),
        ALL,
        r"obj -> __getstate__\(\)",
        r"_thread\.lock",
        LOCK_FIX,
        dill=("obj", "GetstateLock", r"__setstate__"),
    ),
    case(
        "__getstate__ dict with a lock",
        _value(h.GetstateDict),
        NOT_DILL,
        r"obj -> __getstate__\(\) -> \['lock'\]",
        r"_thread\.lock",
        LOCK_FIX,
    ),
    case("recursive list", _recursive_list, NOT_DILL, r"obj -> \[2\]", r"_thread\.lock", LOCK_FIX),
    case(
        "recursive object",
        _recursive_object,
        ALL,
        r"obj -> \['root'\] -> \.sock",
        r"socket\.socket",
        r"connect",
    ),
    case(
        "numpy object array with a lock",
        _object_array(threading.Lock),
        NOT_DILL,
        r"obj -> \[1, 2\]",
        r"_thread\.lock",
        LOCK_FIX,
    ),
    case(
        "numpy object array with a generator",
        _object_array(lambda: h.numbers(2)),
        ALL,
        r"obj -> \[1, 2\]",
        r"^generator$",
        r"list",
    ),
    case(
        "exception that fails to load",
        _value(lambda: h.BadInitError("/tmp/x", 3)),
        ALL,
        "obj",
        r"BadInitError",
        r"super\(\)\.__init__",
    ),
    case(
        "log handler in an object",
        _handler_holder,
        NOT_DILL,
        r"obj -> \.session",
        r"StreamHandler",
        r"getLogger",
    ),
    case("thread-local", _value(threading.local), ALL, "obj", r"_thread\._local", r"worker"),
    case(
        "ctypes pointer",
        _value(lambda: ctypes.pointer(ctypes.c_int(3))),
        ALL,
        "obj",
        r"LP_c_int",
        r"copy the data out",
    ),
    case("weakref", _weakref, NOT_DILL, r"obj -> \['ref'\]", r"weakref", r"target itself"),
    case(
        "module",
        _value(lambda: {"m": os}),
        "pickle",
        r"obj -> \['m'\]",
        r"^module$",
        r"import the module",
        winner="cloudpickle",
    ),
    case("asyncio loop", _loop, ALL, "obj", r"EventLoop", r"asyncio\.run"),
    case("coroutine", _coroutine, ALL, "obj", r"^coroutine$", r"asyncio\.run"),
    case(
        "queue.Queue", _value(queue.Queue), NOT_DILL, "obj", r"^queue\.Queue$", r"return the values"
    ),
    case(
        "memoryview",
        _value(lambda: memoryview(b"abc")),
        "pickle dill",
        "obj",
        r"^memoryview$",
        r"bytes\(view\)",
        winner="cloudpickle",
    ),
    case("traceback", _traceback, ALL, "obj", r"^traceback$", r"format_exception"),
    case(
        "__slots__ holding a socket",
        lambda s, t: h.Slotted(_closing(s, socket.socket())),
        ALL,
        r"obj -> \.lock",
        r"socket\.socket",
        r"host, port",
    ),
    case(
        "partial with a lock",
        _value(lambda: functools.partial(h.add, threading.Lock())),
        NOT_DILL,
        r"func -> \.args\[0\]",
        r"_thread\.lock",
        LOCK_FIX,
    ),
    case(
        "bound method of an object with a socket",
        lambda s, t: h.WithSocket(_closing(s, socket.socket())).method,
        ALL,  # type: ignore[arg-type]
        r"func -> \.__self__ -> \.sock",
        r"socket\.socket",
        r"host, port",
    ),
    case(
        "weak value dictionary",
        _value(lambda: weakref.WeakValueDictionary({1: h.KEEP_ALIVE})),
        ALL,
        "obj",
        r"WeakValueDictionary",
        r"target itself",
    ),
    case(
        "partial of a closure over a lock",
        _value(lambda: functools.partial(h.make_closure(threading.Lock()))),
        NOT_DILL,
        r"func -> \.func -> __closure__ 'conn'",
        r"^_thread\.lock$",
        LOCK_FIX,
    ),
    case(
        "closure over a socket",
        _closure_over(lambda s, t: _closing(s, socket.socket())),
        ALL,
        r"func -> __closure__ 'conn'",
        r"^socket\.socket$",
        r"host, port",
    ),
    case(
        "closure over a binary file",
        _closure_over(_file("rb")),
        NOT_DILL,
        r"func -> __closure__ 'conn'",
        r"BufferedReader",
        r"send the path",
    ),
    case(
        "partial of a closure over sqlite",
        lambda s, t: functools.partial(_sqlite_closure(s, t), 1),
        ALL,
        r"func -> \.func -> __closure__ 'conn'",
        r"^sqlite3\.Connection$",
        r"initializer=connect",
    ),
    case(
        "ctypes string buffer",
        _value(lambda: ctypes.create_string_buffer(1)),
        ALL,
        "obj",
        r"^ctypes\.c_char_Array_1$",
        r"bytes\(buf\)",
    ),
    case(
        "dead weak proxy",
        _dead_proxy,
        "pickle cloudpickle",
        "obj",
        r"ProxyType",
        r"leave it out",
        winner="dill",
    ),
    case(
        "function of a module made at run time",
        _run_time_module("twice"),
        ALL,
        "func",
        r"^function$",
        r"import path",
    ),
    case(
        "instance of a class of a module made at run time",
        lambda s, t: _run_time_module("Box")(s, t)(1),  # type: ignore[operator]
        ALL,
        r"obj -> \.__class__",
        r"^parmap_test_made_\w+\.Box$",
        r"import path",
    ),
    case(
        "function of a module loaded from outside the import path",
        _file_module(delete=False),
        ALL,
        "func",
        r"^function$",
        r"import path",
    ),
    case(
        "function of a module whose file is gone",
        _file_module(delete=True),
        ALL,
        "func",
        r"^function$",
        r"import path",
    ),
    # Controls: these travel with every serializer.
    case("int", _value(lambda: 42), "", winner="pickle"),
    case("dict of lists", _value(lambda: {"a": [1, 2], "b": {"c": (3, 4.5)}}), "", winner="pickle"),
    case("dataclass", _value(lambda: h.Point(1, 2)), "", winner="pickle"),
    case("namedtuple", _value(lambda: h.Pair(1, "x")), "", winner="pickle"),
    case("numpy array", _value(lambda: np.arange(1000.0).reshape(10, 100)), "", winner="pickle"),
    case(
        "numpy object array of ints",
        _value(lambda: np.array([1, "a", None], dtype=object)),
        "",
        winner="pickle",
    ),
    case(
        "partial of a module function",
        _value(lambda: functools.partial(h.add, 1)),
        "",
        winner="pickle",
    ),
    case("module-level function", _value(lambda: h.square), "", winner="pickle"),
    case("logger with a handler", _logger, "", winner="pickle"),
    case("bytes", _value(lambda: b"x" * 1_000_000), "", winner="pickle"),
]


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as resources:
        yield resources


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({row.id for row in CASES}) == len(CASES)


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("row", CASES, ids=[row.id for row in CASES])
def test_table(
    row: Case, serializer: str, stack: contextlib.ExitStack, tmp_path: pathlib.Path
) -> None:
    obj = row.make(stack, tmp_path)
    report = check(obj, serializer=serializer)
    should_fail = serializer in row.fails
    assert report.ok is (not should_fail), str(report)
    assert report.requested == serializer
    text = str(report)
    if not should_fail:
        assert report.problems == ()
        plain = type(obj) in (bytes, int)  # a dead proxy refuses isinstance
        assert (report.verified == ()) if plain else (report.serializer in report.verified)
        if serializer == "auto" and row.winner is not None:
            assert report.serializer == row.winner
        elif serializer != "auto":
            assert report.serializer == serializer
        assert re.search(r"travels: (\w+ round-trips it \(verified\)|it is plain data)", text)
        return
    assert report.serializer is None
    assert report.problems, text
    first = report.problems[0]
    path, expected_type, fix = row.expect(serializer)
    assert re.fullmatch(path, first.path), f"{first.path!r} !~ {path!r}\n{text}"
    assert re.search(expected_type, first.type_name), f"{first.type_name!r} !~ {expected_type!r}"
    assert first.reason
    assert first.fixes, text
    assert re.search(fix, first.hint), f"{first.hint!r} !~ {fix!r}"
    assert first.path.split(" -> ")[-1] in text
    assert "why: " in text
    assert "what to do:" in text
