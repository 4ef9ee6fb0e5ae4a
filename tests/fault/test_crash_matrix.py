"""The crash matrix: every way one item can fail on the processes backend, under two policies.

Each cell makes item 2 (or 3) fail at one stage of its trip — pickling it in the caller,
unpickling it in the worker, running the function, pickling the result in the worker,
unpickling it in the caller, ``sys.exit`` — or kills its worker (``os._exit``, SIGKILL, a
segfault). With ``on_error="raise"`` the run must end in the documented exception, naming the
item, within seconds; with ``on_error="collect"`` every other item's result must come back and
the failed one must be a :class:`parmap.Failure`. The autouse fixture of ``tests/conftest.py``
fails any cell that leaves a worker process behind.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import parmap
from tests import helpers, helpers_fault

#: Seconds any cell may take; the slowest (spawn) take well under one.
BOUND = 10.0


def _generator() -> Any:
    return (i for i in range(3))


@dataclass(frozen=True)
class Cell:
    """One failure: the function, a factory of the items, and what the caller must see."""

    func: Callable[..., Any]
    items: Callable[[], list[Any]]
    error: type[BaseException]
    pattern: str
    bad: int = 2
    options: dict[str, Any] = field(default_factory=dict)
    exitcode: int | None = None  # for WorkerDiedError
    cause: type[BaseException] | None = None  # the loading error, for a failed unpickling
    cause_text: str = "cannot load {bad}"  # its text
    report: bool = True  # an UnpicklableError carries a check report


_KILLED = r"\.\nLikely cause: "

CELLS: dict[str, Cell] = {
    "pickle-task": Cell(
        helpers_fault.identity,
        lambda: [0, 1, 2, _generator(), 4],
        parmap.UnpicklableError,
        r"^cannot send item 3 to the workers: it is a generator\n  args\[3\]  \(generator\)",
        bad=3,
    ),
    "unpickle-task": Cell(
        helpers_fault.identity,
        lambda: [0, 1, helpers_fault.LoadBomb(2), 3],
        parmap.UnpicklableError,
        r"^cannot load item 2 in the worker: RuntimeError: cannot load 2\n"
        r"It pickles here but does not unpickle there",
        cause=RuntimeError,
    ),
    "function": Cell(
        functools.partial(helpers.fail_on, bad=2),
        lambda: [0, 1, 2, 3],
        ValueError,
        r"^bad item 2$",
    ),
    "pickle-result-lock": Cell(
        helpers.return_lock,
        lambda: [0, 1, 2, 3],
        parmap.UnpicklableError,
        r"^cannot send back the result of item 2: it is a lock\n  result of item 2  ",
        options={"serializer": "pickle"},
    ),
    "pickle-result-generator": Cell(
        helpers_fault.return_generator,
        lambda: [0, 1, 2, 3],
        parmap.UnpicklableError,
        r"^cannot send back the result of item 2: it is a generator\n",
    ),
    "unpickle-result": Cell(
        helpers_fault.load_bomb_on,
        lambda: [0, 1, 2, 3],
        parmap.UnpicklableError,
        r"^cannot load the result of item 2 in the caller: RuntimeError: cannot load 2\n"
        r"The worker pickled it, but it does not unpickle here",
        cause=RuntimeError,
    ),
    "exception-custom-init": Cell(
        helpers.raise_custom,
        lambda: [0, 1, 2, 3],
        parmap.RemoteError,
        r"^tests\.helpers\.CustomInitError: code 7: custom failure$",
    ),
    "exception-unpicklable-attribute": Cell(
        # Plain pickle refuses the lock it carries; the serializer choice that
        # ships results (dill copies the lock) brings the exception back as itself.
        helpers_fault.raise_locked,
        lambda: [0, 1, 2, 3],
        helpers_fault.LockedError,
        r"^locked failure on 2$",
    ),
    "pickle-result-sys-exit": Cell(
        helpers_fault.exit_on_pickle_on,
        lambda: [0, 1, 2, 3],
        parmap.UnpicklableError,
        r"^cannot send back the result of item 2: pickling it raised SystemExit\(4\) ",
        report=False,
    ),
    "unpickle-result-sys-exit": Cell(
        # Unpickling calls sys.exit() in the caller: that item fails, the caller lives on.
        helpers_fault.exit_on_load_on,
        lambda: [0, 1, 2, 3],
        parmap.UnpicklableError,
        r"^cannot load the result of item 2 in the caller: SystemExit: 6\n",
        cause=SystemExit,
        cause_text="6",
    ),
    "sys-exit": Cell(
        # sys.exit() in the function fails that item as SystemExit (as map would),
        # instead of ending the worker.
        helpers_fault.sys_exit_on,
        lambda: [0, 1, 2, 3],
        SystemExit,
        r"^5$",
    ),
    "os-exit": Cell(
        helpers.exit_on,
        lambda: [0, 1, 2, 3],
        parmap.WorkerDiedError,
        r"^a worker \(pid \d+\) exited with code 3 while running item 2 \(2\)"
        + _KILLED
        + r"the function .* ended the process",
        exitcode=3,
    ),
    "sigkill": Cell(
        helpers.kill_self_on,
        lambda: [0, 1, 2, 3],
        parmap.WorkerDiedError,
        r"^a worker \(pid \d+\) was killed by SIGKILL \(exit code -9\) while running item 2 \(2\)"
        + _KILLED
        + r"the system ran out of memory",
        exitcode=-9,
    ),
    "segfault": Cell(
        helpers_fault.quiet_segfault_on,
        lambda: [0, 1, 2, 3],
        parmap.WorkerDiedError,
        r"^a worker \(pid \d+\) was killed by SIGSEGV \(exit code -11\) while running item 2 "
        + r"\(2\)"
        + _KILLED
        + r"a crash in native code",
        exitcode=-11,
    ),
}

#: The picklability cells and one death run on spawn as well.
SPAWN = (
    "pickle-task",
    "unpickle-task",
    "function",
    "pickle-result-lock",
    "unpickle-result",
    "exception-custom-init",
    "exception-unpicklable-attribute",
    "pickle-result-sys-exit",
    "segfault",
)


def _params() -> list[Any]:
    params = []
    for method in ("fork", "spawn"):
        for name in CELLS:
            if method == "spawn" and name not in SPAWN:
                continue
            params.append(pytest.param(name, method, id=f"{name}-{method}"))
    return params


def _run(cell: Cell, method: str, **extra: Any) -> tuple[list[Any], Any]:
    items = cell.items()
    options: dict[str, Any] = {
        "workers": 2,
        "start_method": method,
        "inline": False,
        "progress": False,
        **cell.options,
        **extra,
    }
    return items, functools.partial(parmap.parallel_map, cell.func, items, **options)


def _check_exception(cell: Cell, exc: BaseException, item: Any) -> None:
    assert type(exc) is cell.error, f"{type(exc).__name__}: {exc}"
    assert re.search(cell.pattern, str(exc)), str(exc)
    if isinstance(exc, parmap.WorkerDiedError):
        assert exc.index == cell.bad
        assert exc.exitcode == cell.exitcode
        assert exc.pid is not None
        assert exc.pid > 0
    elif isinstance(exc, parmap.RemoteError | ValueError | SystemExit):
        # The function's own failure: the worker's traceback as cause, a note naming the item.
        assert isinstance(exc.__cause__, parmap.RemoteTraceback)
        assert "Traceback (most recent call last)" in str(exc.__cause__)
        notes = "\n".join(getattr(exc, "__notes__", []))
        shown = re.escape(repr(item))
        assert re.search(rf"parmap: raised by item {cell.bad} \({shown}\) in worker pid \d+", notes)
    if isinstance(exc, parmap.RemoteError):
        assert exc.type_name.rsplit(".", 1)[-1] in ("CustomInitError", "LockedError")
        assert "could not be sent back as itself" in "\n".join(exc.__notes__)
    if cell.cause is not None:
        # Loading failed: the loader's own exception is the cause, with its message.
        assert type(exc.__cause__) is cell.cause
        assert str(exc.__cause__) == cell.cause_text.format(bad=cell.bad)
    elif isinstance(exc, parmap.UnpicklableError) and cell.report:
        # Pickling failed: the check report explains the culprit.
        assert exc.report is not None


@pytest.mark.parametrize(("name", "method"), _params())
def test_raise(name: str, method: str) -> None:
    cell = CELLS[name]
    items, call = _run(cell, method)
    began = time.monotonic()
    with pytest.raises(BaseException) as caught:
        call()
    assert time.monotonic() - began < BOUND
    _check_exception(cell, caught.value, items[cell.bad])


@pytest.mark.parametrize(("name", "method"), _params())
def test_collect(name: str, method: str) -> None:
    cell = CELLS[name]
    items, call = _run(cell, method, on_error="collect")
    began = time.monotonic()
    results = call()
    assert time.monotonic() - began < BOUND
    assert len(results) == len(items)
    failures = [r for r in results if isinstance(r, parmap.Failure)]
    assert [f.index for f in failures] == [cell.bad], failures
    failure = failures[0]
    assert not failure
    assert failure.item is items[cell.bad]
    _check_exception(cell, failure.exception, items[cell.bad])
    expected = [value for index, value in enumerate(items) if index != cell.bad]
    assert [r for index, r in enumerate(results) if index != cell.bad] == expected


def test_skip_omits_failed_items_with_a_warning() -> None:
    with pytest.warns(RuntimeWarning, match=r"^parmap: 2 item\(s\) failed and were left out"):
        results = parmap.parallel_map(
            helpers_fault.quiet_segfault_on,
            [0, 1, 2, 3, 2, 5],
            workers=2,
            start_method="fork",
            inline=False,
            on_error="skip",
        )
    assert results == [0, 1, 3, 5]


def test_skip_with_function_errors() -> None:
    with pytest.warns(RuntimeWarning, match=r"^parmap: 1 item\(s\) failed and were left out"):
        results = parmap.parallel_map(
            helpers.fail_on,
            range(6),
            workers=2,
            start_method="fork",
            inline=False,
            on_error="skip",
        )
    assert results == [0, 1, 2, 4, 5]


def test_death_blames_only_the_running_item() -> None:
    # Item 3 keeps worker B busy, so task 4 queues on worker A behind item 2, which kills A.
    func = functools.partial(helpers_fault.stall, naps={2: 0.3, 3: 0.6}, kill=2)
    results = parmap.parallel_map(
        func,
        range(8),
        workers=2,
        start_method="fork",
        inline=False,
        chunksize=1,
        on_error="collect",
    )
    failures = [r for r in results if isinstance(r, parmap.Failure)]
    assert [f.index for f in failures] == [2], failures
    assert [r for r in results if not isinstance(r, parmap.Failure)] == [0, 1, 3, 4, 5, 6, 7]


def test_death_of_a_chunk_reruns_its_other_items() -> None:
    # One chunk holds items 0..5; the worker dies on item 2; the rest are run again.
    results = parmap.parallel_map(
        helpers.kill_self_on,
        range(6),
        workers=2,
        start_method="fork",
        inline=False,
        chunksize=6,
        on_error="collect",
    )
    assert [type(r).__name__ for r in results].count("Failure") == 1
    assert results[2].index == 2
    assert isinstance(results[2].exception, parmap.WorkerDiedError)
    assert [r for i, r in enumerate(results) if i != 2] == [0, 1, 3, 4, 5]


def _kill_when_running(directory: pathlib.Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = list(directory.glob("running-*"))
        if found:
            pid = int(found[0].name.removeprefix("running-"))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


@pytest.mark.parametrize("policy", ["raise", "collect"])
def test_worker_killed_from_outside_mid_item(tmp_path: pathlib.Path, policy: str) -> None:
    # As the OOM killer would: another process SIGKILLs the worker running item 2.
    func = functools.partial(helpers_fault.announce_and_sleep_on, directory=str(tmp_path))
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_running, args=(tmp_path, killed))
    killer.start()
    began = time.monotonic()
    try:
        run = functools.partial(
            parmap.parallel_map,
            func,
            range(6),
            workers=2,
            start_method="fork",
            inline=False,
            on_error=policy,
        )
        if policy == "raise":
            pattern = r"^a worker \(pid \d+\) was killed by SIGKILL \(exit code -9\) while running"
            with pytest.raises(parmap.WorkerDiedError, match=pattern + r" item 2 \(2\)") as caught:
                run()
            assert caught.value.pid == killed[0]
        else:
            results = run()
            assert [r for i, r in enumerate(results) if i != 2] == [0, 1, 3, 4, 5]
            assert isinstance(results[2], parmap.Failure)
            assert isinstance(results[2].exception, parmap.WorkerDiedError)
            assert results[2].exception.pid == killed[0]
    finally:
        killer.join(timeout=30)
    assert time.monotonic() - began < BOUND
