"""Decide whether an object travels to a worker and back, and explain why not: ``parmap.check``.

The verdict is a real round-trip (pickle, then unpickle) with the serializer in
question; with ``"auto"`` the first of pickle, cloudpickle and dill that
round-trips wins. Only a failure costs more: a search for the culprits
(:mod:`parmap._check.walk`) and their explanation (:mod:`parmap._check.text`).
"""

from __future__ import annotations

import functools
import pickle
import types
import warnings
from collections.abc import Callable
from typing import Final

from parmap._check.harm import UNSAFE_TO_LOAD, find_harm
from parmap._check.hints import describe
from parmap._check.imports import ModuleScan
from parmap._check.kinds import ATOMS, is_a
from parmap._check.report import CheckReport
from parmap._check.text import error_message, problem_of
from parmap._check.walk import Culprit, Failure, find_culprits
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
_ATOMS: Final = frozenset(ATOMS)
ROLES: Final = ("function", "initializer", "item", "result")


def round_trip(
    name: str, obj: object, /, *, portable: bool, scan: ModuleScan | None = None
) -> Failure | None:
    """Pickle then unpickle ``obj`` with one serializer; return how it failed, or ``None``.

    With ``portable`` and a ``scan``, a pickle that names a module a new worker
    cannot import fails too: it loads here only because this process has the module.
    """
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
    if portable and scan is not None:
        unimportable = scan.failure(data)
        if unimportable is not None:
            return Failure("pickle", unimportable)
    if name == "dill" and any(marker in data for marker in UNSAFE_TO_LOAD):
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
    scan = ModuleScan()
    trip = functools.partial(round_trip, portable=portable, scan=scan)
    failures: dict[str, Failure] = {}
    for name in names:
        failure = trip(name, obj)
        if failure is None:
            notes = () if name == "pickle" else tuple(_harm(obj, subject=subject, name=name))
            return CheckReport(True, name, (), subject, (name,), serializer, notes)
        failures[name] = failure
    alternatives: tuple[str, ...] = ()
    if serializer != "auto":
        alternatives = tuple(
            name for name in ORDER if name != serializer and trip(name, obj) is None
        )
    searched = "cloudpickle" if serializer == "auto" else serializer
    culprits = find_culprits(
        obj,
        failures[searched],
        test=functools.partial(trip, searched),
        by_value=searched != "pickle",
    )
    if searched == "pickle":
        culprits = _blocking_inside(culprits, trip)[:5]
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
    subject = "func" if is_a(obj, _FUNCTIONS) else "obj"
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
    error = UnpicklableError(error_message(obj, report, role=role, index=index), report=report)
    # The engine raises it while handling its own signal for the same failure, whose
    # text is this one: as with ``raise ... from None``, the traceback shows it once.
    error.__suppress_context__ = True
    return error


def _blocking_inside(
    culprits: list[Culprit], trip: Callable[[str, object], Failure | None]
) -> list[Culprit]:
    """Replace a function or class pickle names by what inside it stops every serializer.

    Pickle stores functions and classes by name, so its search stops at them.
    When what they hold (a lock, a socket, a connection …) fails with the
    serializers that copy them by value too, that part is the culprit: another
    serializer is no fix for it. Globals are not held: once the function lives in
    an importable module, pickle names it and each worker has its own globals.
    """
    refined: list[Culprit] = []
    seen: set[int] = set()
    for culprit in culprits:
        inner: list[Culprit] = []
        obj = culprit.obj
        by_value = trip("cloudpickle", obj) if is_a(obj, (type, types.FunctionType)) else None
        if by_value is not None:
            found = find_culprits(
                obj, by_value, test=functools.partial(trip, "cloudpickle"), by_value=True
            )
            inner = [
                part
                for part in found
                if part.steps
                and not any(step.startswith("__globals__ ") for step in part.steps)
                and (describe(part.obj) is not None or trip("dill", part.obj))
            ]
        if not inner:
            inner = [Culprit((), (), obj, culprit.failure, culprit.holder)]
        for part in inner:
            if id(part.obj) in seen:
                continue
            seen.add(id(part.obj))
            failure = trip("pickle", part.obj) or part.failure if part.steps else part.failure
            refined.append(
                Culprit(
                    culprit.steps + part.steps,
                    culprit.step_types + part.step_types[1:],
                    part.obj,
                    failure,
                    part.holder if part.steps else culprit.holder,
                )
            )
    return refined


def _harm(obj: object, *, subject: str, name: str) -> list[str]:
    notes = find_harm(obj, subject=subject, by_value=name != "pickle", serializer=name)
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


check.__module__ = "parmap"  # where users find it
