"""Spot objects that a serializer copies "successfully" into something that misbehaves in a worker.

dill copies a write-mode file by reopening it by name (mode ``"w"`` empties the
file), a held lock into a new lock that is already held (so the worker waits
forever), and a weak reference together with a target that nothing else keeps
alive (so the reference is dead on arrival). This walk pickles nothing; it reads
the same parts the pickler would, with the same no-side-effect rules.
"""

from __future__ import annotations

import io
import weakref
from collections import deque
from typing import Final

from parmap._check_edges import groups

__all__ = ["find_harm"]

_ATOMS: Final = (str, bytes, bytearray, int, float, complex, bool, type(None))
_NODE_BUDGET: Final = 200_000
_MAX_NOTES: Final = 5
_WRITE_MODES: Final = frozenset("wax+")


def _file_note(path: str, obj: object) -> str | None:
    if not isinstance(obj, io.IOBase) or type(obj).__module__ not in ("_io", "io"):
        return None
    if obj.closed:
        return None
    mode = str(getattr(obj, "mode", ""))
    if not _WRITE_MODES.intersection(mode):
        return None
    name = getattr(obj, "name", "?")
    effect = "which empties the file" if "w" in mode else "so several workers write to it at once"
    return (
        f"{path} is a file open for writing ({name!r}, mode {mode!r}): the serializer reopens "
        f"it by name in each worker, {effect}; send the path instead and write results in "
        f"the caller"
    )


def _lock_note(path: str, obj: object) -> str | None:
    kind = type(obj).__name__
    if type(obj).__module__ != "_thread" or kind not in ("lock", "RLock"):
        return None
    held = repr(obj).startswith("<locked")
    if not held:
        return None
    return (
        f"{path} is a lock held right now: the copy each worker receives is a new lock "
        f"that is already held, so waiting for it there blocks forever; create the lock "
        f"in the worker instead"
    )


def find_harm(obj: object, /, *, subject: str, by_value: bool) -> list[str]:
    """Describe the parts of ``obj`` whose pickled copy would misbehave, one note each.

    Args:
        obj: the object that pickled.
        subject: the name of ``obj``, root of the paths in the notes.
        by_value: whether the serializer copied functions and classes by value.

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
        note = _file_note(path, node) or _lock_note(path, node)
        if note is not None:
            notes.append(note)
            continue
        if isinstance(node, weakref.ReferenceType):
            refs.append((path, node))
            continue
        try:
            for group in groups(node, by_value=by_value):
                for index, child in enumerate(group.items):
                    if isinstance(child, _ATOMS) or id(child) in seen:
                        continue
                    seen[id(child)] = child
                    queue.append((child, " -> ".join((path, *group.label(index)))))
        except Exception:  # noqa: BLE001 - a part that cannot be read cannot do harm either
            continue
    for path, ref in refs:
        target = ref()
        if target is not None and id(target) not in seen and len(notes) < _MAX_NOTES:
            notes.append(
                f"{path} is a weak reference whose target is sent nowhere else: in the "
                f"worker nothing keeps the copy of the target alive, so the reference is "
                f"dead on arrival; send the target itself"
            )
    return notes
