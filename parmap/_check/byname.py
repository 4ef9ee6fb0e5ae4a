"""Explain why a function or class that a serializer stores by name cannot be found by a worker.

Pickle stores every function and class by module and name; cloudpickle and dill
do too for those of imported modules. A worker then imports that module and
looks the name up, which fails for lambdas, local definitions, ``__main__``
under spawn or forkserver, and modules that only the caller has.
"""

from __future__ import annotations

import types

from parmap._check.hints import Known, step_name
from parmap._check.kinds import is_a
from parmap._names import type_name

__all__ = ["describe_callable", "describe_unimportable"]


def describe_callable(obj: object, /, *, portable: bool) -> Known | None:
    """Explain why pickle, which stores functions and classes by name, cannot store ``obj``."""
    if not is_a(obj, (type, types.FunctionType)):
        return None
    what = "class" if is_a(obj, type) else "function"
    qualname = str(getattr(obj, "__qualname__", ""))
    module = getattr(obj, "__module__", None)
    move = (
        f"move the {what} to module level in an importable module (a .py file next to your script)"
    )
    if what == "function" and getattr(obj, "__name__", "") == "<lambda>":
        reason = (
            "pickle stores a function by its module and name, and a lambda has no name a "
            "worker could import"
        )
        return Known("lambda", reason, (move + " with def",))
    if "<locals>" in qualname:
        reason = (
            f"pickle stores a {what} by its module and name, and {qualname!r} is defined "
            f"inside another function, so a worker cannot import it"
        )
        return Known(f"local {what}", reason, (move,))
    if module == "__main__" and portable:
        reason = (
            f"{qualname!r} is defined in __main__ (your script or notebook): pickle stores "
            f"it by name, and a worker started with spawn or forkserver cannot import it"
        )
        return Known(f"__main__ {what}", reason, (move,))
    return None


def describe_unimportable(obj: object, module: str, why: str, /, *, serializer: str) -> Known:
    """Explain an object stored by reference to a module a new worker cannot import."""
    what = step_name(obj) if is_a(obj, (type, types.FunctionType)) else f"this {type_name(obj)}"
    reason = (
        f"{what} belongs to the module {module!r}, which only this process has ({why}): "
        f"{serializer} stores it by that module's name, and a worker started with spawn "
        f"or forkserver cannot import the module"
    )
    return Known(
        "object of a module workers cannot import",
        reason,
        (
            f"put the code of {module!r} in a .py file on the import path (next to your "
            f"script) and import it from there",
            f"or have it copied by value: cloudpickle.register_pickle_by_value"
            f'(sys.modules[{module!r}]) before the run, with serializer="cloudpickle"',
        ),
    )
