"""cloudpickle, with two repairs for what travels between a caller and its workers.

1. **Source locations.** cloudpickle names the file of every function it copies
   by value ``<dynamic-code>``, so a worker's traceback shows no file and no
   line of the user's code. Copied here, code objects keep their file name:
   the caller (which has the file) shows the user's file, line and source.
2. **Instances of copied classes with ``__slots__``.** cloudpickle rebuilds a
   class copied by value without its slots: in a worker the instances get a
   ``__dict__``, and pickled back their state is a ``__dict__`` that the
   caller's original class (which has none) cannot take. Such instances are
   reduced here to their slot values alone, which both classes accept.

Loaded only when a payload needs cloudpickle.
"""

from __future__ import annotations

import copyreg
import io
import types
from collections import ChainMap
from typing import Any

import cloudpickle

_DYNAMIC_FILE = "<dynamic-code>"
_code_reduce = getattr(cloudpickle.cloudpickle, "_code_reduce", None)


def _code_keeping_its_file(code: types.CodeType) -> Any:
    assert _code_reduce is not None
    rebuild, args = _code_reduce(code)
    args = tuple(code.co_filename if arg == _DYNAMIC_FILE else arg for arg in args)
    return rebuild, args


def _slotted_state(obj: Any, cls: type) -> Any:
    """``obj`` reduced to its slot values (plus a real ``__dict__``, if the class has one)."""
    names = copyreg._slotnames(cls)  # type: ignore[attr-defined]
    slots = {name: getattr(obj, name) for name in names if hasattr(obj, name)}
    own = getattr(obj, "__dict__", None)
    extra = {k: v for k, v in own.items() if k not in slots} if own else None
    return copyreg.__newobj__, (cls,), (extra or None, slots or None)  # type: ignore[attr-defined]


_PICKLING_HOOKS = (
    "__reduce_ex__",
    "__reduce__",
    "__getstate__",
    "__getnewargs_ex__",
    "__getnewargs__",
)


def _plain_slotted(cls: type) -> bool:
    """A class with ``__slots__`` whose instances pickle the default way."""
    own = [vars(c) for c in cls.__mro__ if c is not object]
    if not any("__slots__" in namespace for namespace in own):
        return False
    return not any(hook in namespace for namespace in own for hook in _PICKLING_HOOKS)


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    if _code_reduce is not None:
        dispatch_table = ChainMap(
            {types.CodeType: _code_keeping_its_file}, cloudpickle.Pickler.dispatch_table
        )

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls.__module__ != "builtins" and not isinstance(obj, type) and _plain_slotted(cls):
            return _slotted_state(obj, cls)
        return super().reducer_override(obj)


def dumps(obj: Any, /, *, protocol: int, buffer_callback: Any = None) -> bytes:
    """``cloudpickle.dumps`` with the repairs above."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=protocol, buffer_callback=buffer_callback).dump(obj)
    return buffer.getvalue()


__all__ = ["dumps"]
