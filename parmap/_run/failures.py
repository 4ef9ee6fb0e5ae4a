"""The errors a run raises on its own account: worker deaths, timeouts, fatal events."""

from __future__ import annotations

import signal
from typing import Any

from parmap._names import short_repr
from parmap._run.input import Segment
from parmap._transport import remote as _remote
from parmap._transport.messages import Fatal, RemoteFailure, WorkerLost
from parmap.backends._startup import died_starting
from parmap.errors import UnpicklableError, WorkerDiedError

_CAUSES: dict[int, str] = {
    signal.SIGKILL: (
        "the system ran out of memory and the kernel's OOM killer stopped it "
        "(check `dmesg` or the job's memory limit), or something ran `kill -9` on it"
    ),
    signal.SIGSEGV: "a crash in native code: a C extension, ctypes, or a library bug",
    signal.SIGBUS: "a crash in native code, or a memory-mapped file that shrank",
    signal.SIGABRT: "native code called abort(): a failed assertion in a C library",
    signal.SIGTERM: "something outside parmap asked it to stop (SIGTERM)",
}


def _how(exitcode: int | None) -> tuple[str, str]:
    """Say how a process ended and what probably made it, from its exit code."""
    if exitcode is None:
        return "ended", "unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = _CAUSES.get(-exitcode) or "a signal sent by the system or another process"
        return f"was killed by {name} (exit code {exitcode})", cause
    cause = (
        "the function (or a library it called) ended the process with os._exit(), or a "
        "thread called sys.exit()"
    )
    if exitcode == 0:
        # A worker leaves its loop quietly when its pipe to the caller closes.
        cause += (
            ", or it closed the worker's pipe to the caller (closing descriptors it did not open)"
        )
    return f"exited with code {exitcode}", cause


def triage(
    event: WorkerLost, unreported: list[Segment | None], /
) -> tuple[list[Segment], list[tuple[int, Any]]]:
    """Sort out the items a lost worker held: what runs again, and which item is to blame.

    Args:
        event: the loss.
        unreported: for each task of ``event.task_ids``, its items not yet
            reported (None where the run no longer holds that task).

    Returns:
        The segments to run again (an item of unknown guilt alone), and the
        ``(index, item)`` the worker was running when it died, if known.
    """
    requeue: list[Segment] = []
    blamed: list[tuple[int, Any]] = []
    for position, segment in enumerate(unreported):
        if segment is None:
            continue
        first, args = segment.start, segment.args
        culprit = event.index
        if culprit is None and position == 0 and len(args) == 1:
            culprit = first  # the task it was running held only this item
        if culprit is not None and not first <= culprit < first + len(args):
            requeue.append(Segment(first, args))  # queued behind: blameless
            continue
        if culprit is None and position > 0:
            requeue.append(Segment(first, args))
            continue
        if culprit is None:
            # Which item killed the worker is unknown: run each alone.
            requeue.extend(Segment(first + i, [a], single=True) for i, a in enumerate(args))
            continue
        cut = culprit - first
        if cut:
            requeue.append(Segment(first, args[:cut]))
        if args[cut + 1 :]:
            requeue.append(Segment(culprit + 1, args[cut + 1 :]))
        blamed.append((culprit, args[cut]))
    return requeue, blamed


def start_failed(event: WorkerLost, /) -> BaseException:
    """The error for a worker that ended before it was ready."""
    how, cause = _how(event.exitcode)
    signalled = cause if event.exitcode is not None and event.exitcode < 0 else ""
    return died_starting(event.start_method, event.pid, how, signalled)


def lost(event: WorkerLost, index: int, item: Any, timeout: float | None, /) -> BaseException:
    """The error for the item a worker was running when it died or timed out."""
    shown = short_repr(item)
    if event.timed_out:
        return TimeoutError(
            f"item {index} ({shown}) ran longer than timeout={timeout} s; its worker was "
            "stopped and replaced. Raise `timeout`, or use on_error='collect' (or 'skip') "
            "or retries=N to keep the run going past such items."
        )
    how, cause = _how(event.exitcode)
    if event.exitcode is None and event.detail:
        cause = event.detail
    return WorkerDiedError(
        f"a worker (pid {event.pid}) {how} while running item {index} ({shown}).\n"
        f"Likely cause: {cause}.\n"
        "Only this item is to blame: to get every other result, use on_error='collect' "
        "(or 'skip'); to try it again, retries=N; with cache=DIR, finished results are "
        "kept on disk for the next run.",
        exitcode=event.exitcode,
        pid=event.pid,
        index=index,
    )


def fatal(event: Fatal, /) -> BaseException:
    """The exception that ends a run for a :class:`Fatal` event."""
    failure = event.failure
    exc = _remote.rebuild(failure) if isinstance(failure, RemoteFailure) else failure
    if event.context:
        exc.add_note(f"parmap: raised {event.context}")
    return exc


def unreadable(exc: BaseException, index: int, /, *, where: str) -> UnpicklableError:
    """The error for an item (``where="worker"``) or a result (``"caller"``) that would not load."""
    if where == "worker":
        text = f"cannot load item {index} in the worker: {type(exc).__name__}: {exc}"
        advice = (
            "It pickles here but does not unpickle there: its type or a function it refers "
            "to may not be importable in the worker (defined in __main__ under spawn, or in "
            "a module the worker cannot import), or its __reduce__/__setstate__ fails there."
        )
    else:
        text = f"cannot load the result of item {index} in the caller: {type(exc).__name__}: {exc}"
        advice = (
            "The worker pickled it, but it does not unpickle here: its type may exist only "
            "in the worker (defined in the worker's __main__, or in a module the caller "
            "cannot import), or its __setstate__ fails. Return plain data, or define the "
            "type in an importable module."
        )
    error = UnpicklableError(f"{text}\n{advice}")
    error.__cause__ = exc
    return error
