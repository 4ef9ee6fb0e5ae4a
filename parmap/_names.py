"""Naming objects in messages, and the class attributes that say nothing of a class.

A leaf every side may import (the worker included): no parmap imports, only
the standard library.
"""

from __future__ import annotations

import reprlib
import types
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["CLASS_BOOKKEEPING", "code_names", "short_repr", "type_name"]

#: Attributes Python gives every class, which say nothing of how it behaves:
#: its namespace and weak references, where and how it is named and
#: documented, and (Python 3.13) the line it starts on and the attributes its
#: methods assign, which follow from their code.
CLASS_BOOKKEEPING: Final = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__doc__",
        "__qualname__",
        "__annotations__",
        "__firstlineno__",
        "__static_attributes__",
    }
)

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = 4
_SHORT.maxtuple = 4
_SHORT.maxdict = 4


def short_repr(obj: Any, /) -> str:
    """A repr of at most a line, safe on objects whose ``__repr__`` raises."""
    try:
        text = _SHORT.repr(obj)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(obj).__qualname__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def type_name(obj: object, /) -> str:
    """Name an object's type as a person would: ``sqlite3.Connection``, ``list``."""
    cls = type(obj)
    module = getattr(cls, "__module__", "") or ""
    qualname = getattr(cls, "__qualname__", cls.__name__)
    if module in ("builtins", "__builtin__"):
        return str(qualname)
    return f"{module}.{qualname}"


def code_names(code: types.CodeType, /) -> Iterator[str]:
    """The global and attribute names a code object uses, its nested functions' included."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from code_names(const)
