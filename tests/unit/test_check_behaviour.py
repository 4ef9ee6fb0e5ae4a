"""``parmap.check`` beyond the table: no side effects, speed, error texts, harmful successes."""

from __future__ import annotations

import pathlib
import pickle
import re
import sqlite3
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_check as h

from parmap._check.check import check, explain, unpicklable_error, warn_if_harmful
from parmap._check.report import CheckReport, Problem
from parmap.errors import PicklingWarning, UnpicklableError

SERIALIZERS = ("pickle", "cloudpickle", "dill", "auto")


@pytest.fixture
def sqlite_closure() -> Iterator[object]:
    work, conn = h.make_sqlite_closure()
    yield work
    conn.close()


# --- no side effects ---------------------------------------------------------------------


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_check_never_consumes_a_generator(serializer: str) -> None:
    gen = h.numbers(5)
    holder = h.Holder({"rows": [gen]})
    assert not check(gen, serializer=serializer).ok
    report = check(holder, serializer=serializer)
    assert not report.ok
    assert re.fullmatch(r"obj -> \.session -> \['rows'\] -> \[0\]", report.problems[0].path)
    assert list(gen) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_check_never_reads_properties_nor_iterates(serializer: str) -> None:
    sneaky = h.Sneaky(threading.Lock())
    report = check(h.Holder(sneaky), serializer=serializer)
    assert report.ok is (serializer in ("dill", "auto"))
    assert "property" not in sneaky.calls
    assert "iter" not in sneaky.calls
    if not report.ok:
        assert report.problems[0].path == "obj -> .session -> .lock"


def test_check_of_a_write_mode_file_leaves_the_file_alone(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "results.txt"
    with open(path, "w") as handle:
        handle.write("precious\n")
        handle.flush()
        report = check({"out": handle})
        assert report.ok
        assert report.serializer == "dill"
        assert any(re.search(r"open for writing .*empties the file", n) for n in report.notes)
    assert path.read_text() == "precious\n"


# --- paths and several problems ------------------------------------------------------------


def test_several_culprits_are_reported_in_order() -> None:
    items: list[object] = list(range(100))
    items[10] = threading.Lock()
    items[90] = h.numbers(1)
    report = check(items, serializer="pickle")
    assert [p.path for p in report.problems] == ["obj -> [10]", "obj -> [90]"]
    assert [p.type_name for p in report.problems] == ["_thread.lock", "generator"]


def test_a_shared_culprit_is_reported_once() -> None:
    lock = threading.Lock()
    report = check({"a": lock, "b": lock}, serializer="pickle")
    assert [p.path for p in report.problems] == ["obj -> ['a']"]


def test_cycles_that_pickle_are_fine() -> None:
    data: dict[str, object] = {}
    data["self"] = data
    assert check(data).ok


def test_report_pickles_with_plain_pickle_and_reads_well() -> None:
    report = check({"conn": threading.Lock()}, serializer="cloudpickle")
    again = pickle.loads(pickle.dumps(report))
    assert again == report
    assert isinstance(again.problems[0], Problem)
    assert re.match(
        r"obj cannot travel with serializer='cloudpickle'\. It round-trips with dill", str(report)
    )
    assert re.search(r"^  -> \['conn'\]  \(_thread\.lock\)$", str(report), re.MULTILINE)


def test_unknown_serializer_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"`serializer` must be one of 'auto', .*got 'json'"):
        check(1, serializer="json")


# --- speed (measured for real in the report; asserted only generously) ----------------------


def test_bad_item_in_a_long_list_is_found_fast() -> None:
    items: list[object] = [{"id": i, "name": f"row {i}"} for i in range(10_000)]
    items[7777] = {"id": 7777, "session": h.Session()}
    started = time.perf_counter()
    report = explain(items, subject="args")
    elapsed = time.perf_counter() - started
    assert report.ok  # dill copies the lock ...
    started = time.perf_counter()
    report = explain(items, subject="args", serializer="cloudpickle")
    elapsed = max(elapsed, time.perf_counter() - started)
    assert report.problems[0].path == "args -> [7777] -> ['session'] -> ._lock"
    assert elapsed < 1.0


def test_fifty_megabytes_of_bytes_check_fast() -> None:
    blob = bytes(50 * 1024 * 1024)
    started = time.perf_counter()
    report = check(blob)
    elapsed = time.perf_counter() - started
    assert report.ok
    assert report.serializer == "pickle"
    assert elapsed < 1.0


# --- the error the engine raises ----------------------------------------------------------


def test_error_for_a_closure_over_a_sqlite_connection(sqlite_closure: object) -> None:
    error = unpicklable_error(sqlite_closure, role="function", subject="func")
    assert isinstance(error, UnpicklableError)
    assert isinstance(error, pickle.PicklingError)
    lines = str(error).splitlines()
    assert lines[0] == (
        "cannot send the function 'work' to the workers: it refers to a sqlite3.Connection"
    )
    assert re.fullmatch(r"  func +\(function 'make_sqlite_closure.<locals>.work'\)", lines[1])
    assert re.fullmatch(r"  -> __closure__ 'conn' +\(sqlite3\.Connection\)", lines[2])
    assert lines[3].startswith("why: a database connection belongs to the process")
    assert re.search(r"initializer=connect", str(error))
    assert re.search(r"connect inside the function", str(error))
    assert isinstance(error.report, CheckReport)
    assert error.report.problems[0].path == "func -> __closure__ 'conn'"


def test_error_for_an_item_names_its_index_and_the_path() -> None:
    item = (h.Holder(h.Session()),)
    error = unpicklable_error(
        item, role="item", subject="args[7777]", serializer="pickle", index=7777
    )
    text = str(error)
    assert (
        text.splitlines()[0] == "cannot send item 7777 to the workers: it contains a _thread.lock"
    )
    assert re.search(
        r"args\[7777\]\s+\(tuple\)\n\s+-> \[0\] .*\n"
        r"\s+-> \.session .*\n\s+-> \._lock +\(_thread\.lock\)",
        text,
    )
    # dill round-trips the lock, but its copy guards nothing: never offered as a fix.
    assert 'use serializer="dill"' not in text
    assert "__getstate__" in text
    assert "__setstate__" in text


def test_error_for_a_generator_item() -> None:
    error = unpicklable_error(h.numbers(3), role="item", subject="args[2]", index=2)
    assert str(error).splitlines()[0] == "cannot send item 2 to the workers: it is a generator"
    assert "send a list instead" in str(error)
    assert "verified" not in str(error)


def test_error_for_a_result_names_the_item() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        error = unpicklable_error({"conn": conn}, role="result", subject="result", index=3)
    finally:
        conn.close()
    assert str(error).splitlines()[0] == (
        "cannot send back the result of item 3: it contains a sqlite3.Connection"
    )
    assert error.report is not None
    assert error.report.problems[0].path == "result -> ['conn']"


def test_error_for_a_lambda_with_pickle_offers_verified_serializers() -> None:
    error = unpicklable_error(h.SQUARE_LAMBDA, role="function", subject="func", serializer="pickle")
    text = str(error)
    assert (
        text.splitlines()[0] == "cannot send the function '<lambda>' to the workers: it is a lambda"
    )
    assert 'use serializer="cloudpickle" (verified' in text
    assert 'use serializer="dill" (verified' in text


def test_error_travels_back_from_a_worker_with_its_report(sqlite_closure: object) -> None:
    error = unpicklable_error(sqlite_closure, role="function", subject="func")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is UnpicklableError
    assert str(again) == str(error)
    assert again.report == error.report


def test_bad_role_is_refused() -> None:
    with pytest.raises(ValueError, match=r"`role` must be one of 'function'.*got 'items'"):
        unpicklable_error(1, role="items", subject="x")


# --- harmful successes ----------------------------------------------------------------------


def test_warns_once_for_a_write_mode_file(tmp_path: pathlib.Path) -> None:
    with open(tmp_path / "out.txt", "w") as handle, pytest.warns(PicklingWarning) as caught:
        warn_if_harmful(h.make_closure(handle), subject="func", serializer="dill")
    assert len(caught) == 1
    assert re.search(
        r"func -> __closure__ 'conn' is a file open for writing", str(caught[0].message)
    )


def test_warns_for_a_held_lock() -> None:
    lock = threading.Lock()
    with lock, pytest.warns(PicklingWarning, match=r"obj -> \.lock is a lock held right now"):
        warn_if_harmful(h.Slotted(lock), subject="obj", serializer="dill")


def test_warns_for_a_weakref_whose_target_is_not_sent() -> None:
    ref = weakref.ref(h.KEEP_ALIVE)
    with pytest.warns(PicklingWarning, match=r"obj -> \['ref'\] is a weak reference"):
        warn_if_harmful({"ref": ref}, subject="obj", serializer="dill")


def test_no_warning_when_the_weakref_target_travels_too() -> None:
    target = h.Point(1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_harmful(
            {"ref": weakref.ref(target), "target": target}, subject="obj", serializer="dill"
        )
        warn_if_harmful(h.Holder(threading.Lock()), subject="obj", serializer="dill")
