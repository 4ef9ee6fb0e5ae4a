"""Turn culprits into report problems and the error text, in the user's words.

The first line names the user's object and what it refers to, then comes the
path one step a line with each step's type, then why, then what to do. A fix
is called "verified" only when parmap tried it and the object round-tripped.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Sequence

from parmap._check.byname import describe_callable, describe_unimportable
from parmap._check.hints import Known, culprit_type_name, describe
from parmap._check.imports import NotImportableError, why_not_importable
from parmap._check.kinds import is_a
from parmap._check.report import CheckReport, Problem
from parmap._check.walk import Culprit
from parmap._names import type_name

__all__ = ["error_message", "problem_of"]

_BY_VALUE_FIX = (
    'serializer="cloudpickle" or "dill" would copy it by value, but they fail on it too (tried)'
)


def _error_text(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _generic(culprit: Culprit, serializer: str) -> tuple[str, list[str]]:
    """Explain a culprit parmap has no specific knowledge of, from the exception it raised."""
    failure, obj = culprit.failure, culprit.obj
    cls_name = type(obj).__qualname__
    if failure.stage == "unpickle":
        reason = f"it pickles, but unpickling fails with {_error_text(failure.error)}"
        if is_a(obj, BaseException):
            reason += (
                f"; an exception is rebuilt by calling {cls_name}(*self.args), and its "
                f"__init__ expects other arguments"
            )
            return reason, [
                f"in {cls_name}.__init__, pass every argument on: super().__init__(a, b, ...)",
                f"or give {cls_name} a __reduce__ returning (type(self), (a, b, ...))",
            ]
        return reason, [
            f"give {cls_name} a __reduce__ (or __getstate__/__setstate__) that rebuilds it "
            f"from what it pickles",
        ]
    reason = f"{serializer} raised {_error_text(failure.error)}"
    custom = type(obj).__reduce__ is not object.__reduce__ or (
        type(obj).__reduce_ex__ is not object.__reduce_ex__
    )
    if custom and not is_a(obj, (type, types.FunctionType)):
        return reason + f" (from the pickling methods of {cls_name})", [
            f"fix {cls_name}'s __reduce__ / __getstate__ so it returns only picklable parts",
        ]
    return reason, [
        f"leave the {cls_name} out of what is sent: create it inside the function, or once "
        f"per worker with initializer=",
    ]


def _contextual(culprit: Culprit, fixes: list[str]) -> list[str]:
    """Fixes that depend on where the culprit sits, not on what it is."""
    extra: list[str] = []
    holder, steps = culprit.holder, culprit.steps
    last = steps[-1] if steps else ""
    owner = type(holder)
    user_class = holder is not None and owner.__module__ not in ("builtins", "functools")
    attribute = last.startswith(".") and last != ".__class__"
    plain = not is_a(holder, (type, types.ModuleType))
    if user_class and attribute and plain and not any("__getstate__" in f for f in fixes):
        extra.append(
            f"drop {last[1:]!r} in {owner.__qualname__}.__getstate__ and recreate it "
            f"in {owner.__qualname__}.__setstate__"
        )
    for step in steps:
        if step.startswith("__globals__ "):
            name = step.removeprefix("__globals__ ")
            extra.append(
                f"move the function and the global {name} into an importable module: the "
                f"function then travels by name and each worker gets its own {name}"
            )
            break
    return extra


def problem_of(
    subject: str,
    culprit: Culprit,
    /,
    *,
    serializer: str,
    portable: bool,
    alternatives: Sequence[str],
) -> Problem:
    """Build the report's problem for one culprit found with ``serializer``."""
    obj = culprit.obj
    error = culprit.failure.error
    known: Known | None
    if isinstance(error, NotImportableError):
        known = describe_unimportable(obj, error.module, error.why, serializer=serializer)
        resource = None
    else:
        known = resource = describe(obj)
    if known is None and serializer == "pickle":
        known = describe_callable(obj, portable=portable)
    if known is not None:
        reason, fixes = known.reason, list(known.fixes)
    else:
        reason, fixes = _generic(culprit, serializer)
    fixes[1:1] = _contextual(culprit, fixes)
    if resource is None:
        # A resource (lock, file, socket …) that another serializer "copies"
        # still does not work in a worker: offering it would contradict the reason.
        fixes.extend(
            f'use serializer="{name}" (verified: parmap round-tripped {subject} with it)'
            for name in alternatives
        )
    by_name = serializer == "pickle" and is_a(obj, (type, types.FunctionType))
    unimportable = isinstance(error, NotImportableError)
    if by_name and not alternatives and known is not None and not unimportable:
        fixes.append(_BY_VALUE_FIX)
    steps = (subject, *culprit.steps)
    return Problem(
        path=" -> ".join(steps),
        type_name=culprit_type_name(obj),
        reason=reason,
        hint="\n".join(fixes),
        steps=steps,
        step_types=culprit.step_types,
    )


_CALLABLES = (type, types.FunctionType, types.MethodType, types.BuiltinFunctionType)


def _display_name(obj: object) -> str:
    if is_a(obj, functools.partial):
        return f"partial({_display_name(obj.func)})"
    name = getattr(obj, "__qualname__", None) if is_a(obj, _CALLABLES) else None
    # "make.<locals>.work" reads as "work" to the person who wrote it.
    return name.rpartition("<locals>.")[2] if isinstance(name, str) else type_name(obj)


def _first_line(obj: object, report: CheckReport, *, role: str, index: int | None) -> str:
    number = str(index) if index is not None else None
    if role == "initializer" and report.subject not in ("initializer", "func"):
        what = f"cannot send {report.subject} of the initializer to the workers"
    elif role in ("function", "initializer"):
        what = f"cannot send the {role} {_display_name(obj)!r} to the workers"
    elif role == "result":
        what = (
            f"cannot send back the result of item {number}"
            if number
            else (f"cannot send back {report.subject}")
        )
    else:
        what = (
            f"cannot send item {number} to the workers"
            if number
            else (f"cannot send {report.subject} to the workers")
        )
    if not report.problems:
        return what
    problem = report.problems[0]
    if len(problem.steps) <= 1:
        known = describe(obj) or describe_callable(obj, portable=True)
        module = str(getattr(obj, "__module__", "")) if is_a(obj, _CALLABLES) else ""
        if known is not None:
            summary = f"it is a {known.kind}"
        elif module and why_not_importable(module, sys.modules.get(module)) is not None:
            summary = f"its module {module!r} exists only in this process"
        else:
            summary = problem.reason
    else:
        verb = "refers to" if role in ("function", "initializer") else "contains"
        summary = f"it {verb} a {problem.type_name}"
        leaf = problem.step_types[-1] if problem.step_types else ""
        if leaf.startswith(("class ", "function ")):
            summary = f"it {verb} the {leaf}"
    return f"{what}: {summary}"


def error_message(obj: object, report: CheckReport, /, *, role: str, index: int | None) -> str:
    """Write the text of the :class:`UnpicklableError` for ``obj``, explained by ``report``."""
    lines = [_first_line(obj, report, role=role, index=index)]
    if report.ok:
        lines.append(
            f"(pickling it failed once, but a fresh check round-trips it with "
            f"{report.serializer}: it may change while it is being pickled)"
        )
    for problem in report.problems:
        lines.append(problem.render())
    if len(report.problems) > 1:
        lines.insert(1, f"{len(report.problems)} problems, outermost first:")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)
