"""Ask what an object is as a pickler does: by its real type; and is it named or copied?"""

from __future__ import annotations

import sys
from typing import Final, TypeGuard, TypeVar, overload

__all__ = ["ATOMS", "copied_by_value", "is_a"]

#: Types whose instances always pickle and hold nothing else.
ATOMS: Final = (str, bytes, bytearray, int, float, complex, bool, type(None))

_T = TypeVar("_T")
_U = TypeVar("_U")
_V = TypeVar("_V")


@overload
def is_a(obj: object, classes: type[_T], /) -> TypeGuard[_T]: ...
@overload
def is_a(obj: object, classes: tuple[type[_T], type[_U]], /) -> TypeGuard[_T | _U]: ...
@overload
def is_a(
    obj: object, classes: tuple[type[_T], type[_U], type[_V]], /
) -> TypeGuard[_T | _U | _V]: ...
@overload
def is_a(obj: object, classes: tuple[type, ...], /) -> bool: ...


def is_a(obj: object, classes: type | tuple[type, ...], /) -> bool:
    """``isinstance`` by the object's real type, as the pickler dispatches.

    ``isinstance`` also asks ``obj.__class__``, which a weak proxy forwards to its
    target (raising ``ReferenceError`` once the target is gone) and which any class
    may override; the pickler goes by ``type(obj)`` alone.
    """
    return issubclass(type(obj), classes)


def copied_by_value(obj: object, /) -> bool:
    """Whether cloudpickle and dill copy this function or class instead of naming it.

    Both store a function or class by name when its module is imported and the
    name leads back to the very object; otherwise (``__main__``, a local or
    lambda, a name that was rebound) they copy it with its globals.
    """
    module_name = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return True
    if module_name in ("__main__", "__mp_main__"):
        return True
    found: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        if found is None:
            return True
        found = getattr(found, part, None)
    return found is not obj
