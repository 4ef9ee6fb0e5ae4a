"""Tracebacks that end at the user's call: parmap's own frames left out of what it re-raises.

An error from the user's function (in the caller, or from a worker with its
remote traceback as the cause), a Ctrl-C, or one of parmap's own errors
(:class:`~parmap.errors.ParmapError`) would otherwise show a dozen frames of
the scheduler between the user's call and the user's function. Any other
exception raised inside parmap keeps every frame: that is a bug to report.
"""

from __future__ import annotations

import os
import sysconfig
from types import TracebackType

from parmap.errors import ParmapError, RemoteTraceback

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # parmap/
_STDLIB = sysconfig.get_paths()["stdlib"] + os.sep


def _inside(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(_PACKAGE)


def without_parmap(tb: TracebackType | None, /) -> TracebackType | None:
    """``tb`` from its first frame outside parmap (a worker's loop is not the user's concern)."""
    while tb is not None and _inside(tb):
        tb = tb.tb_next
    return tb


def _in_stdlib(tb: TracebackType) -> bool:
    name = tb.tb_frame.f_code.co_filename
    return name.startswith(_STDLIB) or name.startswith("<frozen ")


def user_facing(exc: BaseException, /) -> BaseException:
    """``exc`` with parmap's frames dropped from its traceback, when it is the user's concern.

    Kept: the frames that lead to the user's call, and those parmap called
    last (the user's function, or the input's generator) unless they are the
    standard library's alone (a Ctrl-C that landed while parmap waited).
    Returns the same exception object, for ``raise user_facing(exc)``.
    """
    entries: list[TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if not entries:
        return exc
    ours = isinstance(exc, ParmapError | KeyboardInterrupt)
    remote = isinstance(exc.__cause__, RemoteTraceback)  # the worker's frames are in there
    if _inside(entries[-1]) and not (ours or remote):
        return exc  # raised by parmap itself, not on purpose: keep every frame
    inside = [i for i, entry in enumerate(entries) if _inside(entry)]
    if not inside:
        return exc
    lead, tail = entries[: inside[0]], entries[inside[-1] + 1 :]
    if all(_in_stdlib(entry) for entry in tail):
        tail = []
    kept = lead + tail
    head: TracebackType | None = None
    for entry in reversed(kept):
        entry.tb_next = head
        head = entry
    return exc.with_traceback(head)
