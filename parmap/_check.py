"""Decide whether an object travels to a worker and back, and explain why not: ``parmap.check``.

The verdict is a real round-trip (pickle, then unpickle) with the serializer in
question; with ``"auto"`` the first of pickle, cloudpickle and dill that
round-trips wins. Only a failure costs more: a search for the culprits
(:mod:`parmap._check_walk`) and their explanation (:mod:`parmap._check_text`).
"""

from __future__ import annotations

import functools
import pickle
import types
import warnings
from typing import Final

from parmap._check_harm import find_harm
from parmap._check_text import error_message, problem_of
from parmap._check_walk import Failure, find_culprits
from parmap._report import CheckReport
from parmap.errors import PicklingWarning, UnpicklableError
from parmap.serializers import NAMES, dumps_with, is_plain_data, loads_with

__all__ = ["check", "explain", "unpicklable_error", "warn_if_harmful"]

ORDER: Final = ("pickle", "cloudpickle", "dill")
_FUNCTIONS: Final = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    functools.partial,
)
_ATOMS: Final = frozenset({bytes, bytearray, str, int, float, complex, bool, type(None)})
ROLES: Final = ("function", "initializer", "item", "result")
# dill payloads that reopen files (a write-mode file would be emptied) or rebuild raw
# pointers: loading them in the caller to "verify" would be the very harm we warn about.
_UNSAFE_TO_LOAD: Final = (b"_create_filehandle", b"_create_capsule")


def round_trip(name: str, obj: object, /, *, portable: bool) -> Failure | None:
    """Pickle then unpickle ``obj`` with one serializer; return how it failed, or ``None``."""
    if name == "pickle":
        try:
            if is_plain_data(obj, portable=portable):
                return None  # only built-in containers and scalars: it always loads
        except Exception as exc:  # noqa: BLE001 - any exception is the verdict
            return Failure("pickle", exc)
    # Large buffers (arrays) stay out of band and are handed back to the loader
    # as they are: the round trip rebuilds the object without copying its data.
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = dumps_with(name, obj, portable=portable, buffer_callback=buffers.append)
    except Exception as exc:  # noqa: BLE001 - any exception is the verdict
        return Failure("pickle", exc)
    if name == "dill" and any(marker in data for marker in _UNSAFE_TO_LOAD):
        return None
    try:
        loads_with(name, data, buffers)
    except Exception as exc:  # noqa: BLE001 - any exception is the verdict
        return Failure("unpickle", exc)
    return None


def _validate(serializer: str) -> None:
    if serializer not in NAMES:
        choices = ", ".join(repr(name) for name in NAMES)
        raise ValueError(f"`serializer` must be one of {choices}, got {serializer!r}")


def explain(
    obj: object, /, *, subject: str, serializer: str = "auto", portable: bool = True
) -> CheckReport:
    """Check ``obj`` like :func:`check`, naming the root of every path ``subject``.

    Args:
        obj: the object to send.
        subject: how the paths start, e.g. ``"func"``, ``"args[7777]"``, ``"result"``.
        serializer: ``"auto"`` or one of ``"pickle"``, ``"cloudpickle"``, ``"dill"``.
        portable: ``False`` when by-reference pickles of ``__main__`` objects are fine
            (fork workers share the caller's ``__main__``).

    Returns:
        The report; ``.problems`` is empty when the object round-trips.

    Raises:
        ValueError: ``serializer`` is not a known name.
    """
    _validate(serializer)
    if type(obj) in _ATOMS:
        # Builtin scalars round-trip with every serializer by construction: pickling a
        # 50 MB bytes object twice just to confirm that would be the only cost of a check.
        chosen = "pickle" if serializer == "auto" else serializer
        return CheckReport(True, chosen, (), subject, (), serializer)
    names = ORDER if serializer == "auto" else (serializer,)
    failures: dict[str, Failure] = {}
    for name in names:
        failure = round_trip(name, obj, portable=portable)
        if failure is None:
            notes = () if name == "pickle" else tuple(_harm(obj, subject=subject, name=name))
            return CheckReport(True, name, (), subject, (name,), serializer, notes)
        failures[name] = failure
    alternatives: tuple[str, ...] = ()
    if serializer != "auto":
        alternatives = tuple(
            name
            for name in ORDER
            if name != serializer and round_trip(name, obj, portable=portable) is None
        )
    searched = "cloudpickle" if serializer == "auto" else serializer
    culprits = find_culprits(
        obj,
        failures[searched],
        test=lambda part: round_trip(searched, part, portable=portable),
        by_value=searched != "pickle",
    )
    problems = tuple(
        problem_of(
            subject, culprit, serializer=searched, portable=portable, alternatives=alternatives
        )
        for culprit in culprits
    )
    return CheckReport(False, None, problems, subject, alternatives, serializer)


def check(obj: object, /, *, serializer: str = "auto") -> CheckReport:
    """Tell whether ``obj`` can be sent to a worker (it round-trips); if not, why and what to do.

    With ``serializer="auto"`` the object passes when any of pickle, cloudpickle
    or dill round-trips it, and the report names the first that does, the one
    parmap would use. With a named serializer, the verdict is that serializer's.
    The check never iterates the object, reads properties or advances generators.

    Args:
        obj: the function, argument or item to check.
        serializer: ``"auto"``, ``"pickle"``, ``"cloudpickle"`` or ``"dill"``.

    Returns:
        A :class:`parmap.CheckReport`; ``str(report)`` explains it.

    Raises:
        ValueError: ``serializer`` is not a known name.

    Example:
        >>> import threading, parmap
        >>> parmap.check({"lock": threading.Lock()}, serializer="pickle").ok
        False
    """
    subject = "func" if isinstance(obj, _FUNCTIONS) else "obj"
    return explain(obj, subject=subject, serializer=serializer)


def unpicklable_error(
    obj: object,
    /,
    *,
    role: str,
    subject: str,
    serializer: str = "auto",
    portable: bool = True,
    index: int | None = None,
) -> UnpicklableError:
    """Build (not raise) the error raised when ``obj`` cannot be sent.

    Args:
        obj: the object that failed to pickle.
        role: ``"function"``, ``"initializer"``, ``"item"`` or ``"result"``.
        subject: the root of the paths, e.g. ``"func"``, ``"args[7777]"``, ``"result"``.
        serializer: the serializer option of the run.
        portable: as for :func:`explain`.
        index: the item's index, for ``"item"`` and ``"result"``; when omitted it is
            read from ``subject`` (``"args[7777]"``, ``"result of item 3"``).

    Returns:
        An :class:`parmap.UnpicklableError` whose ``.report`` explains the failure.

    Raises:
        ValueError: ``role`` or ``serializer`` is not a known name.
    """
    if role not in ROLES:
        raise ValueError(f"`role` must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
    report = explain(obj, subject=subject, serializer=serializer, portable=portable)
    return UnpicklableError(error_message(obj, report, role=role, index=index), report=report)


def _harm(obj: object, *, subject: str, name: str) -> list[str]:
    notes = find_harm(obj, subject=subject, by_value=name != "pickle")
    return [f"{name}: {note}" for note in notes]


def warn_if_harmful(obj: object, /, *, subject: str, serializer: str, stacklevel: int = 2) -> None:
    """Warn once when ``serializer`` pickles ``obj`` into a copy that misbehaves in a worker.

    The cases: a file open for writing (reopened, and emptied, in each worker),
    a lock that is held (the copy is held forever), a weak reference whose target
    is sent nowhere else (dead on arrival).

    Args:
        obj: the object that pickled.
        subject: the root of the paths in the warning.
        serializer: the serializer that pickled it.
        stacklevel: passed to :func:`warnings.warn`.
    """
    notes = _harm(obj, subject=subject, name=serializer)
    if notes:
        message = f"{subject} pickles, but the copy will not behave like the original:\n" + (
            "\n".join(f"- {note}" for note in notes)
        )
        warnings.warn(PicklingWarning(message), stacklevel=stacklevel + 1)
