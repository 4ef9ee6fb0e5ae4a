"""``parmap.check`` says only what is true: notes, dead proxies, run-time modules, culprits."""

from __future__ import annotations

import ctypes
import functools
import io
import logging
import pathlib
import pickle
import queue
import re
import sys
import threading
import traceback
import types
import weakref
from collections.abc import Iterator

import cloudpickle
import dill
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_check as h

from parmap._check.check import check, explain, unpicklable_error
from parmap._transport.messages import Task
from parmap._transport.shipping import ItemNotShipped, explain_item
from parmap.errors import UnpicklableError

# --- notes about copies that misbehave: only what the serializer really does ----------------


@pytest.fixture
def hello(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "hello.txt"
    path.write_text("hello world")
    return path


def test_a_w_plus_file_under_cloudpickle_is_a_snapshot_not_an_emptied_file(
    hello: pathlib.Path,
) -> None:
    with open(hello, "w+") as handle:
        handle.write("hello world")
        handle.flush()
        handle.seek(0)
        report = check(handle)
        assert report.serializer == "cloudpickle"
        assert not any("empties" in note for note in report.notes)
        assert len(report.notes) == 1
        assert re.fullmatch(
            r"cloudpickle: obj is a file open for writing \('.*hello\.txt', mode 'w\+'\): "
            r"cloudpickle sends each worker a snapshot of its content \(an io\.StringIO\), so "
            r"what a worker writes never reaches the file; return the results and write them "
            r"in the caller",
            report.notes[0],
        )
        # What the note claims, observed: the copy reads the content and writes nowhere.
        copy = pickle.loads(cloudpickle.dumps(handle))
        assert isinstance(copy, io.StringIO)
        assert copy.read() == "hello world"
        copy.write("lost")
    assert hello.read_text() == "hello world"


@pytest.mark.parametrize("mode", ["w", "w+"])
def test_dill_reopening_a_write_mode_file_empties_it_as_the_note_says(
    hello: pathlib.Path, mode: str
) -> None:
    with open(hello, mode) as handle:
        handle.write("hello world")
        handle.flush()
        report = check(handle, serializer="dill")
        assert report.ok
        assert report.notes == (
            f"dill: obj is a file open for writing ({str(hello)!r}): dill reopens it by name "
            f"in each worker with mode {mode!r}, which empties the file; send the path instead "
            f"and write results in the caller",
        )
        assert hello.read_text() == "hello world"  # the check itself leaves it alone
        dill.loads(dill.dumps(handle)).close()  # what a worker does with the payload
    assert hello.read_text() == ""


@pytest.mark.parametrize("serializer", ["cloudpickle", "dill", "auto"])
def test_standard_streams_travel_without_a_note(
    serializer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a terminal: sys.stdout is the interpreter's own stream (pytest replaced it).
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    for stream in (sys.stdout, sys.stderr):
        report = check(stream, serializer=serializer)
        assert report.ok, str(report)
        assert report.notes == (), report.notes


def test_a_queue_has_no_note_from_the_threading_module() -> None:
    report = check(queue.Queue())
    assert report.ok
    assert report.notes == ()
    assert check(h.make_closure(queue.Queue()), serializer="dill").notes == ()


def test_a_log_handler_on_stderr_has_no_note() -> None:
    handler = logging.StreamHandler(sys.__stderr__)
    try:
        assert check(h.Holder(handler), serializer="dill").notes == ()
    finally:
        handler.close()


def test_a_held_rlock_gets_no_claim_that_is_not_certain() -> None:
    rlock = threading.RLock()
    with rlock:
        assert check(h.Holder(rlock), serializer="dill").notes == ()


def test_a_held_lock_is_still_noted_for_dill_only() -> None:
    lock = threading.Lock()
    with lock:
        notes = check(h.Holder(lock)).notes
        copy = dill.loads(dill.dumps(lock))
    assert len(notes) == 1
    assert re.match(r"dill: obj -> \.session is a lock held right now: the copy", notes[0])
    assert copy.locked()  # what the note claims, observed


def test_a_weak_reference_to_a_named_function_is_alive_on_arrival() -> None:
    report = check({"ref": weakref.ref(h.square)}, serializer="dill")
    assert report.ok
    assert report.notes == ()


def test_a_weak_reference_whose_copy_dies_is_still_noted() -> None:
    report = check({"ref": weakref.ref(h.KEEP_ALIVE)}, serializer="dill")
    assert len(report.notes) == 1
    assert re.match(r"dill: obj -> \['ref'\] is a weak reference whose target", report.notes[0])


# --- a dead weak proxy ------------------------------------------------------------------------


@pytest.fixture
def dead_proxy() -> object:
    target = h.Point(1, 2)
    proxy = weakref.proxy(target)
    del target
    return proxy


def test_check_of_a_dead_weak_proxy_reports(dead_proxy: object) -> None:
    report = check(dead_proxy)
    assert report.ok
    assert report.serializer == "dill"
    report = check([dead_proxy], serializer="pickle")
    assert not report.ok
    problem = report.problems[0]
    assert problem.path == "obj -> [0]"
    assert problem.type_name == "weakref.ProxyType"
    assert problem.reason == (
        "the target of this weak reference no longer exists: a worker could only receive a "
        "reference that is dead too"
    )
    assert problem.fixes == (
        "leave it out of what is sent, or send None where a dead reference is expected",
    )
    assert re.search(r"^  -> \[0\]  \(weakref\.ProxyType\)$", str(report), re.MULTILINE)


# --- modules that exist only in the caller -------------------------------------------------


@pytest.fixture
def made_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("parmap_test_made_module")
    exec(h.MODULE_SOURCE, module.__dict__)
    sys.modules[module.__name__] = module
    yield module
    sys.modules.pop(module.__name__, None)


def test_a_function_of_a_run_time_module_cannot_travel(made_module: types.ModuleType) -> None:
    report = check(made_module.twice)
    assert not report.ok
    assert report.serializer is None
    problem = report.problems[0]
    assert (problem.path, problem.type_name) == ("func", "function")
    assert problem.reason == (
        "function 'twice' belongs to the module 'parmap_test_made_module', which only this "
        "process has (it was made at run time and no file provides it): cloudpickle stores "
        "it by that module's name, and a worker started with spawn or forkserver cannot "
        "import the module"
    )
    assert problem.fixes == (
        "put the code of 'parmap_test_made_module' in a .py file on the import path (next "
        "to your script) and import it from there",
        "or have it copied by value: cloudpickle.register_pickle_by_value(sys.modules"
        "['parmap_test_made_module']) before the run, with serializer=\"cloudpickle\"",
    )
    # What the reason claims, observed: without the caller's module the pickle cannot load.
    payload = cloudpickle.dumps(made_module.twice)
    del sys.modules[made_module.__name__]
    with pytest.raises(ModuleNotFoundError, match="parmap_test_made_module"):
        pickle.loads(payload)


def test_the_error_for_a_run_time_module_says_so_first(made_module: types.ModuleType) -> None:
    error = unpicklable_error(made_module.twice, role="function", subject="func")
    assert str(error).splitlines()[0] == (
        "cannot send the function 'twice' to the workers: its module "
        "'parmap_test_made_module' exists only in this process"
    )
    error = unpicklable_error(
        [made_module.Box(1)], role="item", subject="args[4]", serializer="pickle", index=4
    )
    assert str(error).splitlines()[0] == (
        "cannot send item 4 to the workers: it contains the class 'Box'"
    )
    assert error.report is not None
    assert error.report.problems[0].type_name == "parmap_test_made_module.Box"


def test_fork_workers_inherit_a_run_time_module(made_module: types.ModuleType) -> None:
    assert explain(made_module.twice, subject="func", portable=False).ok


def test_registering_the_module_by_value_is_a_fix_that_works(
    made_module: types.ModuleType,
) -> None:
    cloudpickle.register_pickle_by_value(made_module)
    try:
        report = check(made_module.twice, serializer="cloudpickle")
        payload = cloudpickle.dumps(made_module.twice)
    finally:
        cloudpickle.unregister_pickle_by_value(made_module)
    assert report.ok, str(report)
    del sys.modules[made_module.__name__]  # as in a new worker
    assert pickle.loads(payload)(21) == 42


def test_a_module_loaded_from_outside_the_import_path(tmp_path: pathlib.Path) -> None:
    import importlib.util

    path = tmp_path / "parmap_test_outside.py"
    path.write_text(h.MODULE_SOURCE)
    spec = importlib.util.spec_from_file_location("parmap_test_outside", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["parmap_test_outside"] = module
    try:
        report = check(module.twice)
        sys.path.append(str(tmp_path))
        try:
            on_the_path = check(module.twice)
        finally:
            sys.path.remove(str(tmp_path))
    finally:
        del sys.modules["parmap_test_outside"]
    assert not report.ok
    assert re.search(
        r"which only this process has \(it was loaded from .*parmap_test_outside\.py, which "
        r"is not on the import path \(sys\.path\)\)",
        report.problems[0].reason,
    )
    assert on_the_path.ok
    assert on_the_path.serializer == "pickle"


# --- ctypes ------------------------------------------------------------------------------------


def test_a_ctypes_buffer_is_the_culprit_itself() -> None:
    error = unpicklable_error(
        (1, ctypes.create_string_buffer(1)), role="item", subject="args[0]", index=0
    )
    text = str(error)
    assert (
        text.splitlines()[0]
        == "cannot send item 0 to the workers: it contains a ctypes.c_char_Array_1"
    )
    assert "getset_descriptor" not in text
    assert error.report is not None
    problem = error.report.problems[0]
    assert problem.path == "args[0] -> [1]"
    assert problem.reason == (
        "the type of a ctypes array (such as c_char * 16, or what create_string_buffer makes) "
        "is created at run time: it has no name a worker could import it by"
    )
    assert re.match(r"copy the data out and send that: bytes\(buf\)", problem.fixes[0])


# --- with pickle, the culprit is what stops every serializer ----------------------------------


@pytest.mark.parametrize(
    "wrap", [lambda f: f, functools.partial], ids=["closure", "partial of a closure"]
)
def test_pickle_blames_the_lock_in_a_closure_not_the_function(wrap: object) -> None:
    func = wrap(h.make_closure(threading.Lock()))  # type: ignore[operator]
    error = unpicklable_error(func, role="function", subject="func", serializer="pickle")
    text = str(error)
    assert re.match(
        r"cannot send the (function 'work'|function 'partial\(work\)') to the workers: "
        r"it refers to a _thread\.lock\n",
        text,
    )
    assert error.report is not None
    assert re.fullmatch(r"func( -> \.func)? -> __closure__ 'conn'", error.report.problems[0].path)
    assert "use serializer=" not in text
    assert "module level" not in text


def test_pickle_blames_a_main_function_not_the_lock_it_reads_as_a_global() -> None:
    # Moved to an importable module, the function travels by name and each worker
    # has its own lock: the global is no blocker for pickle.
    namespace: dict[str, object] = {"__name__": "__main__", "LOCK": threading.Lock()}
    exec("def work(x):\n    with LOCK:\n        return x\n", namespace)
    report = check(namespace["work"], serializer="pickle")
    assert [p.path for p in report.problems] == ["func"]
    assert re.match(r"'work' is defined in __main__", report.problems[0].reason)


def test_pickle_still_blames_a_local_function_that_other_serializers_copy() -> None:
    report = check(h.make_closure(h.Point(1, 2)), serializer="pickle")
    problem = report.problems[0]
    assert problem.path == "func"
    assert re.search(r"defined inside another function", problem.reason)
    assert re.search(r'use serializer="cloudpickle" \(verified', problem.hint)


# --- the first failing item, named once ----------------------------------------------------


def test_two_instances_of_a_local_class_make_one_problem_at_the_first() -> None:
    first = h.make_local_instance(x=0)
    second = type(first)()  # the same local class
    second.__dict__["x"] = 1
    report = explain([first, second], subject="args", serializer="pickle")
    assert [p.path for p in report.problems] == ["args -> [0] -> .__class__"]
    # Each one alone is still reported.
    assert [p.path for p in explain([1, second], subject="args").problems] == []
    report = explain([1, second], subject="args", serializer="pickle")
    assert [p.path for p in report.problems] == ["args -> [1] -> .__class__"]


def test_the_first_item_that_cannot_be_shipped_is_named() -> None:
    local = h.make_local_instance(x=0)
    items = [1, local, type(local)(), 2]
    refused = explain_item(Task(0, 10, items), serializer="pickle", portable=True)
    assert refused.index == 11
    assert re.match(r"cannot send item 11 to the workers", str(refused.error))


def test_a_result_of_a_local_class_names_the_class() -> None:
    error = unpicklable_error(
        h.make_local_instance(x=1), role="result", subject="result", serializer="pickle", index=0
    )
    assert error.report is not None
    problem = error.report.problems[0]
    assert problem.path == "result -> .__class__"
    assert problem.type_name == "helpers_check.make_local_instance.<locals>.Local"
    lines = str(error).splitlines()
    assert lines[0] == (
        "cannot send back the result of item 0: it contains the class "
        "'make_local_instance.<locals>.Local'"
    )
    assert re.fullmatch(
        r"  -> \.__class__  \(class 'make_local_instance\.<locals>\.Local'\)", lines[2]
    )


def test_the_explanation_prints_once_in_a_traceback() -> None:
    task = Task(0, 0, [threading.Lock()])

    def ship() -> None:
        # As the engine does: the error is raised while handling its own signal.
        try:
            raise explain_item(task, serializer="pickle", portable=True)
        except ItemNotShipped as refused:
            raise refused.error

    with pytest.raises(UnpicklableError, match=r"^cannot send item 0 to the workers") as caught:
        ship()
    text = "".join(traceback.format_exception(caught.value))
    assert text.count("why: a lock works only inside the process") == 1
    assert "During handling of the above exception" not in text
