"""Adapters for the three serializers and the ``"auto"`` choice between them.

Payloads that travel between the caller and the workers are tagged with one
byte naming the serializer that wrote them, so the receiving side never has
to guess. ``"auto"`` tries, in order:

1. the C pickler (fastest by far on plain data), refusing to pickle by
   reference any function or class defined in ``__main__`` when the receiving
   process may not have it (spawn, forkserver, a warm pool, a cluster);
2. cloudpickle, which copies such functions, lambdas and closures by value;
3. dill, which handles a few more kinds of objects (for instance some
   generators' frames are still refused, but nested local classes work).

These payloads are for immediate transport between processes of one run,
not for long-term storage: the cache records the serializer and library
versions beside each entry for that reason.
"""

from __future__ import annotations

import io
import pickle
import sys
from collections.abc import Callable
from types import FunctionType
from typing import Any, Final

from parmap._transport import buffers as _buffers
from parmap._transport.buffers import Spill

__all__ = [
    "NAMES",
    "SerializationFailure",
    "dumps",
    "dumps_with",
    "is_plain_data",
    "loads",
    "loads_with",
    "serializer_of",
]

#: The accepted values of the ``serializer`` option.
NAMES: Final = ("auto", "pickle", "cloudpickle", "dill")

PROTOCOL: Final = 5

_TAGS: Final = {"pickle": b"P", "cloudpickle": b"C", "dill": b"D"}
_OUT_OF_BAND: Final = b"B"  # then the buffer files' header, then a tagged payload
_NAMES_BY_TAG: Final = {tag[0]: name for name, tag in _TAGS.items()}


class SerializationFailure(Exception):  # noqa: N818 - internal signal, never reaches users
    """No allowed serializer could pickle an object.

    Attributes:
        errors: the exception each serializer raised, by serializer name.
    """

    def __init__(self, errors: dict[str, BaseException], /) -> None:
        super().__init__("; ".join(f"{name}: {exc!r}" for name, exc in errors.items()))
        self.errors = errors


class _NotPortableError(pickle.PicklingError):
    """A ``__main__`` object would be pickled by reference where that cannot resolve."""


_MAIN_MODULES: Final = frozenset({"__main__", "__mp_main__"})


def _by_value_modules() -> frozenset[str]:
    """Modules the caller registered with ``cloudpickle.register_pickle_by_value``."""
    cloudpickle = sys.modules.get("cloudpickle")
    if cloudpickle is None:
        return frozenset()  # nothing can have been registered
    return frozenset(cloudpickle.list_registry_pickle_by_value())


def _registered(module: str, registered: frozenset[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in registered)


class _PortablePickler(pickle.Pickler):
    """The C pickler, refusing references that cannot resolve or must not be used.

    Refused: functions and classes defined in ``__main__`` (when ``portable``;
    the receiver may not share the caller's ``__main__``), and those of modules
    registered with ``cloudpickle.register_pickle_by_value`` (always: the
    caller asked for their current code and globals to travel).
    """

    def __init__(self, file: Any, *, portable: bool, registered: frozenset[str], **kw: Any) -> None:
        super().__init__(file, protocol=PROTOCOL, **kw)
        self._portable = portable
        self._by_value = registered

    def reducer_override(self, obj: Any) -> Any:
        # Called only for non-trivial objects: plain ints, strs, lists, dicts …
        # never reach here, so plain data keeps the C pickler's full speed.
        if isinstance(obj, (type, FunctionType)):
            module = getattr(obj, "__module__", None) or ""
            if self._portable and module in _MAIN_MODULES:
                raise _NotPortableError(
                    f"{obj.__qualname__} is defined in __main__ and would be pickled by reference"
                )
            if self._by_value and _registered(module, self._by_value):
                raise _NotPortableError(
                    f"{obj.__qualname__} is in module {module}, registered to be pickled by value"
                )
        return NotImplemented


BufferCallback = Callable[[pickle.PickleBuffer], Any] | None


class _Discard:
    """A file that forgets what is written to it."""

    def write(self, data: Any) -> None:
        """Forget ``data`` (bytes, or a PickleBuffer for a large buffer)."""


class _PlainProbe(_PortablePickler):
    """Pickles into nothing, noting whether anything but plain data was met."""

    def __init__(self, portable: bool) -> None:
        super().__init__(_Discard(), portable=portable, registered=_by_value_modules())
        self.plain = True

    def reducer_override(self, obj: Any) -> Any:
        # Never called for None, bools, ints, floats, str, bytes, and exact
        # lists, tuples, dicts, sets: anything reaching here may fail to load.
        self.plain = False
        return super().reducer_override(obj)


def is_plain_data(obj: Any, /, *, portable: bool = True) -> bool:
    """Whether the C pickler pickles ``obj`` using only built-in containers and scalars.

    Such a pickle always unpickles, so it needs no round trip to be verified.
    The pickling goes to a discarding writer: it costs one pass and no copy.

    Raises:
        Exception: whatever the pickler raises for an object it cannot pickle.
    """
    probe = _PlainProbe(portable)
    probe.dump(obj)
    return probe.plain


def _pickle_dumps(obj: Any, portable: bool, spill: BufferCallback = None) -> bytes:
    registered = _by_value_modules()
    if not portable and not registered:
        return pickle.dumps(obj, protocol=PROTOCOL, buffer_callback=spill)
    buffer = io.BytesIO()
    pickler = _PortablePickler(
        buffer, portable=portable, registered=registered, buffer_callback=spill
    )
    pickler.dump(obj)
    return buffer.getvalue()


def _cloudpickle_dumps(obj: Any, portable: bool, spill: BufferCallback = None) -> bytes:
    from parmap._transport import cloudpickler as _cloudpickler

    return _cloudpickler.dumps(obj, protocol=PROTOCOL, buffer_callback=spill)


def _dill_dumps(obj: Any, portable: bool, spill: BufferCallback = None) -> bytes:
    import dill

    # dill's pure-Python pickler gains nothing from out-of-band buffers.
    data: bytes = dill.dumps(obj, protocol=PROTOCOL, recurse=True)
    return data


_DUMPERS: Final[dict[str, Callable[[Any, bool, BufferCallback], bytes]]] = {
    "pickle": _pickle_dumps,
    "cloudpickle": _cloudpickle_dumps,
    "dill": _dill_dumps,
}


def dumps_with(
    name: str, obj: Any, /, *, portable: bool = True, buffer_callback: BufferCallback = None
) -> bytes:
    """Pickle ``obj`` with one named serializer, untagged.

    Args:
        name: ``"pickle"``, ``"cloudpickle"`` or ``"dill"``.
        obj: the object.
        portable: refuse by-reference pickles of ``__main__`` objects (pickle only).
        buffer_callback: receives large buffers to keep out of band (protocol 5).

    Raises:
        Exception: whatever the serializer raises.
    """
    return _DUMPERS[name](obj, portable, buffer_callback)


def loads_with(name: str, data: bytes | memoryview, /, buffers: list[Any] | None = None) -> Any:
    """Unpickle untagged ``data`` written by the named serializer."""
    if name == "dill":
        import dill

        return dill.loads(data)
    if name == "cloudpickle":
        import cloudpickle  # noqa: F401 - registers what its payloads need

    return pickle.loads(data, buffers=buffers)


def dumps(
    obj: Any, /, serializer: str = "auto", *, portable: bool = True, spill: Spill | None = None
) -> bytes:
    """Pickle ``obj`` into a tagged payload, choosing the serializer as ``serializer`` says.

    Args:
        obj: the object to ship.
        serializer: one of :data:`NAMES`.
        portable: whether by-reference pickles of ``__main__`` objects must be
            refused (the receiver may not share the caller's ``__main__``).
        spill: where large buffers go out of band (shared memory), or None.

    Raises:
        SerializationFailure: no allowed serializer could pickle ``obj``.
    """
    names = ("pickle", "cloudpickle", "dill") if serializer == "auto" else (serializer,)
    errors: dict[str, BaseException] = {}
    for name in names:
        try:
            body = _DUMPERS[name](obj, portable, spill)
        except Exception as exc:  # noqa: BLE001 - every failure means "try the next one"
            errors[name] = exc
            if spill is not None:
                spill.discard()
            continue
        if spill is not None and spill.files:
            return _OUT_OF_BAND + spill.header() + _TAGS[name] + body
        return _TAGS[name] + body
    raise SerializationFailure(errors)


def loads(data: bytes | memoryview, /) -> Any:
    """Unpickle a tagged payload written by :func:`dumps`."""
    view = memoryview(data)
    buffers = None
    if view[0] == _OUT_OF_BAND[0]:
        buffers, view = _buffers.read(view[1:])
    name = _NAMES_BY_TAG.get(view[0])
    if name is None:
        raise ValueError(f"not a parmap payload: unknown serializer tag {bytes(view[:1])!r}")
    return loads_with(name, view[1:].tobytes() if name == "dill" else view[1:], buffers)


def serializer_of(data: bytes | memoryview, /) -> str:
    """Name the serializer that wrote a tagged payload (``"pickle"`` when it spilled buffers).

    Only pickle and cloudpickle spill buffers out of band; both load with the
    standard unpickler, so a spilled payload is reported as ``"pickle"``.
    """
    tag = memoryview(data)[0]
    return "pickle" if tag == _OUT_OF_BAND[0] else _NAMES_BY_TAG[tag]
