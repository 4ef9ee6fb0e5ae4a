"""List what a serializer would pickle inside an object, each part named as a person would name it.

The parts are read the way a pickler reads them and no other way: instance
``__dict__`` and ``__slots__`` through the type's own descriptors, builtin
containers through the builtin methods (never an overridden ``__iter__`` or
``__getitem__``), ``__getstate__`` / ``__reduce_ex__`` exactly as the pickler
calls them. Properties are never read, user iterables never iterated and
generators never advanced.
"""

from __future__ import annotations

import copyreg
import functools
import sys
import types
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from parmap._check.kinds import copied_by_value, is_a
from parmap._names import CLASS_BOOKKEEPING, code_names

__all__ = ["Group", "groups", "key_repr"]

_PROTOCOL: Final = 5
# What every class carries, and its slot names (the slots' values are walked as attributes).
_CLASS_SKIP: Final = CLASS_BOOKKEEPING | {"__slots__"}
_SCALARS: Final = (str, bytes, int, float, bool, type(None))


@dataclass(frozen=True)
class Group:
    """Parts of one object that may be tested together, in pickling order.

    Attributes:
        items: the parts.
        label: names part ``i`` as one or more path steps.
    """

    items: Sequence[object]
    label: Callable[[int], tuple[str, ...]]


def key_repr(value: object, /, *, limit: int = 40) -> str:
    """Show a key without running user code: builtin scalars by repr, anything else by type."""
    if type(value) in _SCALARS or (
        type(value) is tuple and all(type(part) in _SCALARS for part in value)
    ):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return f"<{type(value).__qualname__}>"


def _fixed(labels: Sequence[tuple[str, ...]]) -> Callable[[int], tuple[str, ...]]:
    return lambda index: labels[index]


def _named(prefix: str, names: Sequence[str]) -> Callable[[int], tuple[str, ...]]:
    return lambda index: (f"{prefix}{names[index]}",)


def _function_groups(func: types.FunctionType) -> Iterator[Group]:
    code = func.__code__
    cells = [
        (name, cell.cell_contents)
        for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False)
        if _cell_is_full(cell)
    ]
    if cells:
        yield Group(
            [value for _, value in cells], _named("__closure__ ", [repr(n) for n, _ in cells])
        )
    module_globals = func.__globals__
    seen: dict[str, object] = {}
    for name in code_names(code):
        if name in module_globals and name not in seen:
            seen[name] = module_globals[name]
    if seen:
        yield Group(list(seen.values()), _named("__globals__ ", [repr(n) for n in seen]))
    defaults = func.__defaults__ or ()
    if defaults:
        params = code.co_varnames[code.co_argcount - len(defaults) : code.co_argcount]
        yield Group(list(defaults), _named("__defaults__ ", [repr(p) for p in params]))
    kwdefaults = func.__kwdefaults__ or {}
    if kwdefaults:
        yield Group(
            list(kwdefaults.values()), _named("__kwdefaults__ ", [repr(k) for k in kwdefaults])
        )
    yield from _attribute_groups(func.__dict__)


def _cell_is_full(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises ValueError
    except ValueError:
        return False
    return True


def _attribute_groups(state: object) -> Iterator[Group]:
    if is_a(state, dict) and state:
        keys = list(dict.keys(state))
        yield Group(list(dict.values(state)), _named(".", [str(k) for k in keys]))


def _sequence_groups(values: list[object] | tuple[object, ...]) -> Iterator[Group]:
    if type(values) in (list, tuple):
        yield Group(values, lambda index: (f"[{index}]",))
        return
    # A subclass may override __iter__ / __getitem__: read the builtin storage instead.
    items = list(list.__iter__(values) if isinstance(values, list) else tuple.__iter__(values))
    fields = type(values).__dict__.get("_fields")
    if is_a(values, tuple) and isinstance(fields, tuple) and len(fields) == len(items):
        yield Group(items, _named(".", [str(field) for field in fields]))
    else:
        yield Group(items, lambda index: (f"[{index}]",))
    yield from _attribute_groups(_instance_state(values))


def _mapping_groups(mapping: dict[Any, Any]) -> Iterator[Group]:
    keys = list(dict.keys(mapping))
    yield Group(list(dict.values(mapping)), lambda index: (f"[{key_repr(keys[index])}]",))
    yield Group(keys, lambda index: (f"key {key_repr(keys[index])}",))


def _numpy_group(array: Any) -> Group | None:
    numpy = sys.modules.get("numpy")
    if numpy is None or not is_a(array, numpy.ndarray):
        return None
    if not array.dtype.hasobject or array.dtype.fields is not None:
        # Plain numbers hold nothing that could fail; a structured dtype with object
        # fields is reported as a whole.
        return Group((), lambda index: (f"[{index}]",))
    flat = array.reshape(-1)
    shape = array.shape

    def label(index: int) -> tuple[str, ...]:
        where = numpy.unravel_index(index, shape)
        return ("[" + ", ".join(str(int(i)) for i in where) + "]",)

    return Group(flat, label)


def _instance_state(obj: object) -> dict[str, object]:
    """Read ``__dict__`` and ``__slots__`` through the type's own descriptors only."""
    state: dict[str, object] = {}
    instance_dict = getattr(obj, "__dict__", None) if hasattr(type(obj), "__dict__") else None
    if is_a(instance_dict, dict):
        state.update(instance_dict)
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            descriptor = klass.__dict__.get(name)
            if isinstance(descriptor, types.MemberDescriptorType):
                try:
                    state[name] = descriptor.__get__(obj, klass)
                except AttributeError:
                    continue
    return state


def _reduce_groups(obj: object) -> Iterator[Group]:
    """Follow what the pickler would call: the copyreg table, then ``__reduce_ex__``.

    Raises:
        Exception: whatever the object's reduction raises (the culprit is then ``obj``).
    """
    cls = type(obj)
    reducer = copyreg.dispatch_table.get(cls)
    rv = reducer(obj) if reducer is not None else cls.__reduce_ex__(obj, _PROTOCOL)
    if not is_a(rv, tuple):
        return
    default = (
        reducer is None
        and cls.__reduce_ex__ is object.__reduce_ex__
        and (cls.__reduce__ is object.__reduce__)
    )
    if not default:
        parts = [
            ("__reduce__() callable",),
            *((f"__reduce__() arg {i}",) for i in range(len(rv[1]))),
        ]
        values = [rv[0], *rv[1]]
        if len(rv) > 2 and rv[2] is not None:
            parts.append(("__reduce__() state",))
            values.append(rv[2])
        yield Group(values, _fixed(parts))
        return
    args = rv[1] if len(rv) > 1 else ()
    if args and is_a(args[0], type):
        yield Group([args[0]], lambda _: (".__class__",))
        if len(args) > 1 and getattr(rv[0], "__name__", "") == "__newobj__":
            yield Group(list(args[1:]), lambda index: (f"__getnewargs__() [{index}]",))
    state = rv[2] if len(rv) > 2 else None
    if getattr(cls, "__getstate__", None) is not object.__getstate__:
        if state is not None:
            yield Group([state], lambda _: ("__getstate__()",))
        return
    if is_a(state, tuple) and len(state) == 2:
        for part in state:
            yield from _attribute_groups(part)
    else:
        yield from _attribute_groups(state)


def groups(obj: object, /, *, by_value: bool) -> Iterator[Group]:
    """Yield the parts a serializer pickles inside ``obj``, grouped, in pickling order.

    Args:
        obj: the object.
        by_value: whether the serializer copies functions and classes by value
            (cloudpickle, dill) rather than storing them by name (pickle).

    Raises:
        Exception: the object's own reduction failed; ``obj`` is then the culprit.
    """
    if type(obj) in weakref.ProxyTypes:
        return  # a proxy forwards every read to its target (or raises when it is dead)
    if is_a(obj, (list, tuple)):
        yield from _sequence_groups(obj)
        return
    if is_a(obj, dict):
        yield from _mapping_groups(obj)
        if type(obj) is not dict:
            factory = (
                getattr(obj, "default_factory", None)
                if hasattr(type(obj), "default_factory")
                else None
            )
            if factory is not None:
                yield Group([factory], lambda _: (".default_factory",))
            yield from _attribute_groups(_instance_state(obj))
        return
    if is_a(obj, (set, frozenset)):
        members = list(set.__iter__(obj) if isinstance(obj, set) else frozenset.__iter__(obj))
        yield Group(members, lambda index: (f"element {key_repr(members[index])}",))
        return
    if is_a(obj, functools.partial):
        yield Group([obj.func], lambda _: (".func",))
        yield Group(list(obj.args), lambda index: (f".args[{index}]",))
        yield Group(
            list(obj.keywords.values()), _named(".keywords", [f"[{k!r}]" for k in obj.keywords])
        )
        return
    if is_a(obj, (types.MethodType, types.BuiltinMethodType)):
        owner = obj.__self__
        if owner is not None and not is_a(owner, types.ModuleType):
            yield Group([owner], lambda _: (".__self__",))
        if is_a(obj, types.MethodType):
            yield Group([obj.__func__], lambda _: (".__func__",))
        return
    # A function or class that the serializer names (it is importable) is not
    # copied: its globals and methods never enter the pickle.
    if is_a(obj, types.FunctionType):
        if by_value and copied_by_value(obj):
            yield from _function_groups(obj)
        return
    if is_a(obj, type):
        if by_value and copied_by_value(obj):
            names = [n for n in obj.__dict__ if n not in _CLASS_SKIP]
            yield Group([obj.__dict__[n] for n in names], _named(".", names))
            yield Group(list(obj.__bases__), lambda index: (f"__bases__[{index}]",))
        return
    numpy_group = _numpy_group(obj)
    if numpy_group is not None:
        yield numpy_group
        return
    if is_a(obj, (types.ModuleType, types.CodeType, types.CellType)):
        return
    yield from _reduce_groups(obj)
