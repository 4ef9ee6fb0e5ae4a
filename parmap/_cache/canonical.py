"""Canonical byte encoding of item arguments: equal values give equal bytes in every process.

The cache key of an item is a hash of this encoding, so it must not depend on anything that
changes between processes: not on ``hash()`` (randomised by ``PYTHONHASHSEED``), not on object
ids, not on the start method. The encoding is a tagged, length-prefixed stream:

* ``None``, ``bool``, ``int``, ``float`` (its exact bits), ``complex``, ``str`` (UTF-8 with
  surrogates kept), ``bytes``, ``bytearray`` — each with its own tag, so ``1``, ``1.0``, ``True``
  and ``"1"`` never share a key.
* ``tuple`` and ``list`` in order; ``dict`` in insertion order (two dicts with the same items in
  another order get different keys — a function may iterate over them, so that is the safe side);
  ``set`` and ``frozenset`` sorted by the encoded bytes of their members, which is the only
  order that does not depend on string hashing.
* numpy arrays and numpy scalars (only when numpy is already imported; it is never imported
  here): dtype, shape and the C-ordered data; object arrays go through their elements.
* Functions and classes: a function's fingerprint (see :mod:`parmap._cache.fingerprint`), a class by
  module and qualified name.
* Anything else through its pickle reduction (``__reduce_ex__(4)``), walked by this same
  encoder: the reconstructor by name, then its arguments, state and items. Dataclasses and most
  plain objects land here, and a ``set`` inside one is still sorted.

Limits: an object whose reduction holds something nondeterministic (a memory address, a random
token, a timestamp) gets a new key in each process, so its items are recomputed; an object that
cannot be reduced raises :class:`TypeError`. Subclasses of the built-in types are encoded
through the reduction, so they keep their own class in the key. Cycles are encoded as
back-references, so self-referencing lists do not loop.
"""

from __future__ import annotations

import copyreg
import struct
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["encode", "encode_into", "global_name"]

_MAX_DEPTH = 200
_CALLABLE_TYPES = (types.FunctionType, types.BuiltinFunctionType, type, types.MethodType)
_pack_double = struct.Struct(">d").pack


def encode(obj: object, /, *, on_function: Callable[[Any], bytes]) -> bytes:
    """Return the canonical encoding of ``obj``, using ``on_function`` for functions and classes.

    (:func:`parmap._cache.fingerprint.encode` passes the one cache keys use:
    classes by name, functions by their code.)

    Raises:
        TypeError: ``obj`` holds something that has no stable encoding.
    """
    if type(obj) is tuple:
        flat = _encode_flat_tuple(obj)
        if flat is not None:
            return flat
    out: list[bytes] = []
    _Encoder(out, on_function=on_function).put(obj)
    return b"".join(out)


def _encode_flat_tuple(items: tuple[Any, ...]) -> bytes | None:
    """Encode a tuple of ints and short strings fast, or return None to use the general path.

    Produces exactly the bytes of the general encoder; the engine calls this once per item, so
    it skips the encoder object for the common case of scalar arguments.
    """
    parts = [b"(%d:" % len(items)]
    for item in items:
        kind = type(item)
        if kind is int:
            parts.append(b"i%x;" % item)
        elif kind is str:
            data = item.encode("utf-8", "surrogatepass")
            parts.append(b"s%d:%s" % (len(data), data))
        elif kind is float:
            parts.append(b"f" + _pack_double(item))
        else:
            return None
    return b"".join(parts)


def encode_into(out: list[bytes], obj: object, /, *, on_function: Callable[[Any], bytes]) -> None:
    """Append the encoding of ``obj`` to ``out``, using ``on_function`` for functions and classes.

    The function fingerprinter uses this to encode constants, defaults and closure values with
    its own treatment of the code objects it meets.
    """
    _Encoder(out, on_function=on_function).put(obj)


def global_name(obj: Any, /) -> str:
    """Return ``module:qualname`` for a function, class or builtin, as pickle would find it."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        qualname = type(obj).__qualname__
    return f"{module}:{qualname}"


def _length(n: int) -> bytes:
    return str(n).encode("ascii") + b":"


class _Encoder:
    """One encoding pass: holds the output list and the cycle memo."""

    __slots__ = ("_active", "_on_function", "_out")

    def __init__(self, out: list[bytes], *, on_function: Callable[[Any], bytes]) -> None:
        self._out = out
        self._active: dict[int, int] = {}
        self._on_function = on_function

    def put(self, obj: Any, depth: int = 0) -> None:
        out = self._out
        kind = type(obj)
        if kind is int:
            out.append(b"i%x;" % obj)
        elif kind is str:
            data = obj.encode("utf-8", "surrogatepass")
            out.append(b"s%d:%s" % (len(data), data))
        elif obj is None:
            out.append(b"N")
        elif kind is bool:
            out.append(b"T" if obj else b"F")
        elif kind is float:
            out.append(b"f" + _pack_double(obj))
        elif kind is bytes:
            out.append(b"b" + _length(len(obj)) + obj)
        elif kind is tuple:
            # A tuple can only be part of a cycle through a mutable member, which is memoised
            # itself, so tuples skip the memo (they are the hot case: every item is one).
            if depth > _MAX_DEPTH:
                self._enter(obj, depth)
            out.append(b"(%d:" % len(obj))
            for member in obj:
                self.put(member, depth + 1)
        elif kind is list:
            self._sequence(b"[", obj, depth)
        else:
            self._other(obj, kind, depth)

    def _enter(self, obj: object, depth: int) -> bool:
        """Mark ``obj`` as being encoded; on a cycle write a back-reference and return False."""
        if depth > _MAX_DEPTH:
            msg = (
                f"cannot make a cache key: the item is nested more than {_MAX_DEPTH} levels "
                f"deep (at a {type(obj).__qualname__}); pass cache=None or flatten the item"
            )
            raise TypeError(msg)
        index = self._active.get(id(obj))
        if index is not None:
            self._out.append(b"@" + _length(index))
            return False
        self._active[id(obj)] = len(self._active)
        return True

    def _leave(self, obj: object) -> None:
        del self._active[id(obj)]

    def _sequence(self, tag: bytes, items: list[Any] | tuple[Any, ...], depth: int) -> None:
        if not self._enter(items, depth):
            return
        self._out.append(tag + _length(len(items)))
        for item in items:
            self.put(item, depth + 1)
        self._leave(items)

    def _sorted_members(self, members: Iterable[Any], depth: int) -> list[bytes]:
        """Encode each member on its own (same cycle memo) and sort the encodings."""
        saved = self._out
        encoded = []
        try:
            for member in members:
                self._out = []
                self.put(member, depth + 1)
                encoded.append(b"".join(self._out))
        finally:
            self._out = saved
        encoded.sort()
        return encoded

    def _other(self, obj: Any, kind: type, depth: int) -> None:
        out = self._out
        if kind is dict:
            if self._enter(obj, depth):
                out.append(b"{" + _length(len(obj)))
                for key, value in obj.items():
                    self.put(key, depth + 1)
                    self.put(value, depth + 1)
                self._leave(obj)
        elif kind is set or kind is frozenset:
            if self._enter(obj, depth):
                members = self._sorted_members(obj, depth)
                out.append((b"S" if kind is set else b"Z") + _length(len(members)))
                out.extend(members)
                self._leave(obj)
        elif kind is complex:
            out.append(b"c" + _pack_double(obj.real) + _pack_double(obj.imag))
        elif kind is bytearray:
            out.append(b"B" + _length(len(obj)) + bytes(obj))
        elif kind is memoryview:
            data = obj.tobytes()
            out.append(b"m" + _length(len(data)) + data)
        elif _is_numpy(obj):
            self._numpy(obj, depth)
        elif isinstance(
            obj, types.FunctionType | types.BuiltinFunctionType | type | types.MethodType
        ):
            data = self._on_function(obj)
            out.append(b"g" + _length(len(data)) + data)
        elif isinstance(obj, types.ModuleType):
            name = obj.__name__.encode()
            out.append(b"M" + _length(len(name)) + name)
        else:
            self._reduced(obj, kind, depth)

    def _numpy(self, obj: Any, depth: int) -> None:
        numpy = sys.modules["numpy"]
        array = numpy.asarray(obj)
        dtype = str(array.dtype.descr if array.dtype.fields else array.dtype.str).encode()
        shape = repr(tuple(array.shape)).encode()
        self._out.append(b"A" + _length(len(dtype)) + dtype + _length(len(shape)) + shape)
        if array.dtype.hasobject:
            self.put(array.tolist(), depth + 1)
        else:
            data = numpy.ascontiguousarray(array).tobytes()
            self._out.append(_length(len(data)) + data)

    def _reduced(self, obj: Any, kind: type, depth: int) -> None:
        reducer = copyreg.dispatch_table.get(kind)
        try:
            reduced = reducer(obj) if reducer is not None else obj.__reduce_ex__(4)
        except Exception as exc:
            msg = (
                f"cannot make a cache key for an item holding a {kind.__module__}."
                f"{kind.__qualname__} object: it cannot be reduced like pickle does ({exc}); "
                "pass cache=None, or give the class a __reduce__ or a stable __getstate__"
            )
            raise TypeError(msg) from exc
        if isinstance(reduced, str):
            name = f"{kind.__module__}:{reduced}".encode()
            self._out.append(b"G" + _length(len(name)) + name)
            return
        if not self._enter(obj, depth):
            return
        parts = list(reduced) + [None] * (6 - len(reduced))
        func, args, state, list_items, dict_items = parts[:5]
        # The reconstructor is named, never walked: it is a loader, not the item's data.
        name = global_name(func).encode()
        self._out.append(b"R" + _length(len(name)) + name)
        self.put(tuple(args) if args is not None else None, depth + 1)
        self.put(state, depth + 1)
        self.put(list(list_items) if list_items is not None else None, depth + 1)
        self.put(dict(dict_items) if dict_items is not None else None, depth + 1)
        self._leave(obj)


def _is_numpy(obj: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray | numpy.generic)
