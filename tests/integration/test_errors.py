"""A worker's exception reaches the caller as its own type, naming the item."""

from __future__ import annotations

import re
import threading

import pytest

import parmap
from tests import helpers

PLACES = [
    pytest.param({"backend": "serial"}, id="serial"),
    pytest.param({"backend": "threads", "workers": 2}, id="threads"),
    pytest.param({"backend": "processes", "workers": 2, "start_method": "fork"}, id="fork"),
    pytest.param({"backend": "processes", "workers": 2, "start_method": "spawn"}, id="spawn"),
]


@pytest.mark.parametrize("options", PLACES)
@pytest.mark.parametrize("inline", [None, False])
def test_value_error_keeps_its_type_and_names_the_item(options, inline):
    with pytest.raises(ValueError, match=r"bad item 3") as caught:
        parmap.parallel_map(helpers.fail_on, range(6), inline=inline, **options)
    notes = "\n".join(caught.value.__notes__)
    assert "item 3 (3)" in notes


def test_remote_traceback_is_the_cause():
    with pytest.raises(ValueError) as caught:
        parmap.parallel_map(helpers.fail_on, range(6), workers=2, start_method="fork", inline=False)
    cause = caught.value.__cause__
    assert isinstance(cause, parmap.RemoteTraceback)
    assert "fail_on" in str(cause)
    assert "worker pid" in "\n".join(caught.value.__notes__)


def test_exception_that_cannot_travel_arrives_as_stand_in():
    with pytest.raises(parmap.RemoteError, match=r"CustomInitError: code 7: custom failure"):
        parmap.parallel_map(
            helpers.raise_custom, range(4), workers=2, start_method="fork", inline=False
        )


def test_collect_returns_failures_in_place():
    got = parmap.parallel_map(
        helpers.fail_on, range(6), on_error="collect", workers=2, start_method="fork"
    )
    assert [g for g in got if not isinstance(g, parmap.Failure)] == [0, 1, 2, 4, 5]
    failure = got[3]
    assert isinstance(failure, parmap.Failure)
    assert failure.index == 3
    assert failure.item == 3
    assert isinstance(failure.exception, ValueError)


def test_skip_leaves_failures_out_with_a_warning():
    with pytest.warns(RuntimeWarning, match=r"1 item\(s\) failed"):
        got = parmap.parallel_map(
            helpers.fail_on, range(6), on_error="skip", backend="threads", workers=2
        )
    assert got == [0, 1, 2, 4, 5]


def test_unpicklable_item_is_named_before_work_starts():
    import threading

    items = [1, 2, threading.Lock(), 4]
    with pytest.raises(parmap.UnpicklableError, match=r"item 2") as caught:
        parmap.parallel_map(
            helpers.pid_of,
            items,
            serializer="pickle",
            workers=2,
            start_method="fork",
            inline=False,
        )
    assert caught.value.report is not None
    assert "lock" in caught.value.report.problems[0].type_name.lower()


def test_check_false_reports_the_serializers_error_only():
    import threading

    lock = threading.Lock()
    with pytest.raises(parmap.UnpicklableError, match=r"check=False") as caught:
        parmap.parallel_map(
            lambda x: lock,
            range(3),
            serializer="pickle",
            check=False,
            workers=2,
            start_method="fork",
            inline=False,
        )
    assert caught.value.report is None
    with pytest.raises(parmap.UnpicklableError, match=r"__closure__ 'lock'") as caught:
        parmap.parallel_map(
            lambda x: lock, range(3), serializer="cloudpickle", workers=2, start_method="fork"
        )
    assert caught.value.report is not None


def test_items_only_dill_can_copy_warn_when_the_copy_misbehaves():
    import threading

    held = threading.Lock()
    held.acquire()
    try:
        with pytest.warns(parmap.PicklingWarning, match=r"args.*lock"):
            got = parmap.parallel_map(
                lambda lock: lock.locked(),
                [held],
                workers=2,
                start_method="fork",
                inline=False,
            )
    finally:
        held.release()
    assert got == [True]  # the worker got a copy that stays locked forever


def test_check_false_still_names_the_unpicklable_item_under_collect():
    import threading

    items = [1, 2, threading.Lock(), 4]
    got = parmap.parallel_map(
        helpers.pid_of,
        items,
        serializer="pickle",
        check=False,
        on_error="collect",
        chunksize=4,
        workers=2,
        start_method="fork",
    )
    failures = [g for g in got if isinstance(g, parmap.Failure)]
    assert [f.index for f in failures] == [2]
    assert isinstance(failures[0].exception, parmap.UnpicklableError)
    assert re.search(r"cannot send item 2 to the workers", str(failures[0].exception))


def test_results_only_dill_can_copy_warn_once_when_the_copy_misbehaves():
    with pytest.warns(parmap.PicklingWarning, match=r"results .*lock held right now") as caught:
        got = parmap.parallel_map(
            helpers.held_lock, range(4), workers=2, start_method="fork", inline=False, chunksize=1
        )
    assert [lock.locked() for lock in got] == [True] * 4
    assert len([w for w in caught if issubclass(w.category, parmap.PicklingWarning)]) == 1


def _local_point_class() -> type:
    class LocalPoint:
        def __init__(self, x: int) -> None:
            self.x = x

    return LocalPoint


def _slow_x(point: object) -> int:
    import time

    time.sleep(0.3)  # slow enough that workers take over after the first item
    return point.x  # type: ignore[attr-defined, no-any-return]


def test_items_run_in_the_caller_are_named_beside_the_first_unshippable_one() -> None:
    point = _local_point_class()
    with pytest.raises(parmap.UnpicklableError) as caught:
        parmap.parallel_map(
            _slow_x, [point(0), point(1)], serializer="pickle", workers=2, start_method="fork"
        )
    error = caught.value
    assert str(error).startswith("cannot send item 1 to the workers: it contains the class")
    assert error.__notes__ == [
        "parmap: an earlier item ran in the caller, where nothing is pickled; it may hold "
        "the same kind of object"
    ]
    assert error.__context__ is None or error.__suppress_context__, "explained once"


def test_check_false_error_prints_once() -> None:
    import traceback

    with pytest.raises(parmap.UnpicklableError) as caught:
        parmap.parallel_map(
            helpers.identity,
            [threading.Lock()],
            serializer="pickle",
            check=False,
            workers=2,
            start_method="fork",
            inline=False,
        )
    text = "".join(traceback.format_exception(caught.value))
    assert "During handling of the above exception" not in text
    assert "ItemNotShipped" not in text
