"""The messages exchanged between the scheduler and a backend: tasks, outcomes, events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Job:
    """What every task of one run shares: the function and the per-worker set-up.

    Attributes:
        func: the user's function.
        serializer: the ``serializer`` option (``"auto"``, ``"pickle"``, …).
        initializer: called once in each worker before its first item, or None.
        initargs: arguments of ``initializer``.
        timeout: seconds one item may run, or None.
        star: items are argument tuples to unpack (several iterables were
            zipped); otherwise each item is the single argument.
        check: explain a pickling failure in detail (the ``check`` option);
            when False, report the serializers' own errors only.
    """

    func: Callable[..., Any]
    serializer: str = "auto"
    initializer: Callable[..., Any] | None = None
    initargs: tuple[Any, ...] = ()
    timeout: float | None = None
    star: bool = False
    check: bool = True


@dataclass(frozen=True, slots=True)
class Task:
    """A chunk of items with consecutive indices, submitted as one unit.

    Attributes:
        task_id: unique within a run.
        start: index of the first item.
        args: the items (argument tuples when the job's ``star`` is set).
    """

    task_id: int
    start: int
    args: list[Any]


@dataclass(frozen=True, slots=True)
class Failure:
    """An item whose function call raised: what ``on_error="collect"`` returns in its place.

    Attributes:
        index: the item's index in the input.
        item: the item (the argument tuple when several iterables are zipped).
        exception: the exception, of the type the function raised.
    """

    index: int
    item: Any
    exception: BaseException

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Failure(index={self.index}, exception={self.exception!r})"


@dataclass(frozen=True, slots=True)
class RemoteFailure:
    """A worker's exception on its way back: the exception if it can travel, and its text.

    Attributes:
        payload: the pickled exception, or None when it cannot be pickled.
        type_name: ``module.QualName`` of the exception's type.
        message: ``str(exception)``.
        traceback: the formatted traceback, as the worker saw it.
        pid: the worker's process id.
    """

    payload: bytes | None
    type_name: str
    message: str
    traceback: str
    pid: int


@dataclass(slots=True)
class Results:
    """Event: the next items of a task finished (successfully or not).

    A worker runs a task's items in order and reports them in order, so the
    items a task has reported always form a prefix of it.

    Attributes:
        task_id: the task.
        offset: position in the task of the first item reported here.
        values: one result per item (None where the item failed).
        errors: position (relative to ``offset``) -> the failure, a
            :class:`RemoteFailure` or a local exception.
        busy: seconds the worker spent computing these items.
        done: no more items will be reported for this task.
        unreadable: set when these items' data could not be unpickled (their
            results here, or the chunk in the worker); ``values`` then holds
            one None per item, and each item is run again alone to tell which
            one is at fault.
        unreadable_in: ``"caller"`` or ``"worker"``: where unpickling failed.
        notes: why some results' copies will misbehave (only dill could copy
            them), for a warning.
    """

    task_id: int
    offset: int
    values: list[Any]
    errors: dict[int, Any]
    busy: float = 0.0
    done: bool = False
    unreadable: BaseException | None = None
    unreadable_in: str = "caller"
    notes: tuple[str, ...] = ()


@dataclass(slots=True)
class WorkerLost:
    """Event: a worker ended (died or was stopped for a timeout) while holding tasks.

    Attributes:
        task_ids: the tasks that worker held; their unreported items must be run again.
        index: the index of the item it was running, when known.
        exitcode: the process exit code (negative: killed by that signal), if any.
        pid: the worker's process id, if any.
        timed_out: the worker was stopped because ``index`` exceeded ``timeout``.
        detail: what the backend knows of the cause when there is no exit code.
        started: the worker had finished starting (False: it failed at
            start-up, and no item is to blame).
        start_method: how the worker was started, for messages.
    """

    task_ids: list[int]
    index: int | None
    exitcode: int | None
    pid: int | None
    timed_out: bool = False
    detail: str = ""
    started: bool = True
    start_method: str = ""


@dataclass(slots=True)
class Fatal:
    """Event: the run cannot go on (the initializer raised, results cannot be loaded).

    Attributes:
        failure: the exception, as it came back from the worker or as raised here.
        context: a note saying where it happened.
    """

    failure: RemoteFailure | BaseException
    context: str = ""


Event = Results | WorkerLost | Fatal

Failure.__module__ = "parmap"  # where users find it
