"""Spot objects that a serializer copies "successfully" into something that misbehaves in a worker.

Each note is a fact about the serializer named, never a guess from the type
alone: dill rebuilds a file as ``open(name, mode)`` in the worker (mode ``"w"``
empties it) and a held lock as a new lock that is already held; cloudpickle
sends a file open for reading and writing as an in-memory snapshot (checked by
looking at the copy); a weak reference is noted only when its copy, made here,
is dead on arrival. The walk reads the parts the pickler would, with the same
no-side-effect rules, and never enters a function or class the serializer
stores by name, such as those of ``threading`` or ``logging``.
"""

from __future__ import annotations

import _thread
import io
import weakref
from collections import deque
from typing import Final

from parmap._check.edges import groups
from parmap._check.kinds import ATOMS, is_a

__all__ = ["UNSAFE_TO_LOAD", "find_harm"]

_NODE_BUDGET: Final = 200_000
_MAX_NOTES: Final = 5
_STREAMS: Final = frozenset({"<stdin>", "<stdout>", "<stderr>"})
#: Markers of dill payloads that reopen files (a write-mode file would be emptied) or
#: rebuild raw pointers: loading them in the caller would be the very harm warned about.
UNSAFE_TO_LOAD: Final = (b"_create_filehandle", b"_create_capsule")


def _copy(serializer: str, obj: object) -> object | None:
    """Round-trip ``obj`` here to look at the copy a worker gets; ``None`` if that is unsafe."""
    from parmap.serializers import dumps_with, loads_with

    try:
        data = dumps_with(serializer, obj)
        if serializer == "dill" and any(marker in data for marker in UNSAFE_TO_LOAD):
            return None
        copy: object = loads_with(serializer, data)
    except Exception:  # noqa: BLE001 - no copy, nothing observed, no claim
        return None
    return copy


def _dill_file_note(path: str, obj: io.IOBase, name: str, mode: str) -> str | None:
    # dill (its default file mode) rebuilds a file as open(name, mode) in the worker.
    if "w" in mode:
        effect = f"with mode {mode!r}, which empties the file"
    elif "x" in mode:
        effect = f"with mode {mode!r}, which fails there: the file exists by then"
    elif "a" in mode or "+" in mode:
        effect = f"(mode {mode!r}), so several workers write to it at once"
    else:
        return None
    return (
        f"{path} is a file open for writing ({name!r}): dill reopens it by name in each "
        f"worker {effect}; send the path instead and write results in the caller"
    )


def _file_note(path: str, obj: object, serializer: str) -> str | None:
    if not is_a(obj, io.IOBase) or type(obj).__module__ not in ("_io", "io"):
        return None
    if obj.closed:
        return None
    mode = str(getattr(obj, "mode", ""))
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or name in _STREAMS:
        return None  # standard streams arrive as the worker's own
    if serializer == "dill":
        return _dill_file_note(path, obj, name, mode)
    if serializer == "cloudpickle" and "+" in mode and is_a(_copy(serializer, obj), io.StringIO):
        return (
            f"{path} is a file open for writing ({name!r}, mode {mode!r}): cloudpickle sends "
            f"each worker a snapshot of its content (an io.StringIO), so what a worker writes "
            f"never reaches the file; return the results and write them in the caller"
        )
    return None


def _lock_note(path: str, obj: object, serializer: str) -> str | None:
    # dill rebuilds a lock as a new lock, acquired when the original was held. (An
    # RLock copy is held by the original owner's thread id, which a worker's thread
    # may happen to share: no claim is made for it.)
    if serializer != "dill" or type(obj) is not _thread.LockType:
        return None
    if not obj.locked():
        return None
    return (
        f"{path} is a lock held right now: the copy each worker receives is a new lock "
        f"that is already held, so waiting for it there blocks forever; create the lock "
        f"in the worker instead"
    )


def find_harm(
    obj: object, /, *, subject: str, by_value: bool, serializer: str = "dill"
) -> list[str]:
    """Describe the parts of ``obj`` whose pickled copy would misbehave, one note each.

    Args:
        obj: the object that pickled.
        subject: the name of ``obj``, root of the paths in the notes.
        by_value: whether the serializer copied functions and classes by value.
        serializer: the serializer that pickled it: each copies these objects its own way.

    Returns:
        Up to five notes, in the order found (breadth first).
    """
    notes: list[str] = []
    seen: dict[int, object] = {id(obj): obj}
    refs: list[tuple[str, weakref.ReferenceType[object]]] = []
    queue: deque[tuple[object, str]] = deque([(obj, subject)])
    budget = _NODE_BUDGET
    while queue and budget > 0 and len(notes) < _MAX_NOTES:
        node, path = queue.popleft()
        budget -= 1
        note = _file_note(path, node, serializer) or _lock_note(path, node, serializer)
        if note is not None:
            notes.append(note)
            continue
        if is_a(node, weakref.ReferenceType):
            refs.append((path, node))
            continue
        try:
            for group in groups(node, by_value=by_value):
                for index, child in enumerate(group.items):
                    if is_a(child, ATOMS) or id(child) in seen:
                        continue
                    seen[id(child)] = child
                    queue.append((child, " -> ".join((path, *group.label(index)))))
        except Exception:  # noqa: BLE001 - a part that cannot be read cannot do harm either
            continue
    for path, ref in refs:
        if serializer != "dill" or len(notes) >= _MAX_NOTES:
            break
        target = ref()
        if target is None or id(target) in seen:
            continue
        copy = _copy(serializer, ref)
        if is_a(copy, weakref.ReferenceType) and copy() is None:
            notes.append(
                f"{path} is a weak reference whose target is sent nowhere else: in the "
                f"worker nothing keeps the copy of the target alive, so the reference is "
                f"dead on arrival; send the target itself"
            )
    return notes
