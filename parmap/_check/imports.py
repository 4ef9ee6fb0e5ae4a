"""Find the modules a pickle names that a freshly started worker could not import.

Every serializer stores a function or class of an imported module by name, and
all three take "it is in ``sys.modules``" for "it can be imported". That holds
for a worker made by fork, which inherits the caller's modules, but not for one
started with spawn or forkserver: it imports each named module afresh, and a
module made at run time (``types.ModuleType``), one whose file is gone, or one
loaded from a file outside the import path is not there to import.
"""

from __future__ import annotations

import importlib.abc
import os
import pickle
import pickletools
import sys
from types import ModuleType
from typing import Final

__all__ = ["ModuleScan", "NotImportableError", "why_not_importable"]

_SKIP: Final = frozenset({"__main__", "__mp_main__"})  # the serializers handle these themselves
_STRING_OPS: Final = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}
)
_GET_OPS: Final = frozenset({"BINGET", "LONG_BINGET", "GET"})
_PUT_OPS: Final = frozenset({"BINPUT", "LONG_BINPUT", "PUT"})


class NotImportableError(pickle.PicklingError):
    """A pickle names a module that a worker started with spawn or forkserver cannot import.

    Attributes:
        module: the module's name.
        why: why it cannot be imported, e.g. ``"it was made at run time"``.
    """

    def __init__(self, module: str, why: str, /) -> None:
        super().__init__(
            f"the pickle refers to module {module!r} by name, which a new worker cannot "
            f"import: {why}"
        )
        self.module = module
        self.why = why

    def __reduce__(self) -> tuple[type[NotImportableError], tuple[str, str]]:
        return type(self), (self.module, self.why)


def _import_root(name: str, origin: str) -> str:
    """The directory that must be on the import path for ``name`` to load from ``origin``."""
    root = os.path.dirname(origin)
    if os.path.basename(origin).startswith("__init__."):
        root = os.path.dirname(root)
    for _ in range(name.count(".")):
        root = os.path.dirname(root)
    return os.path.normcase(os.path.abspath(root))


def _found_by_finders(name: str) -> bool:
    """Whether the import system would find ``name`` again without ``sys.modules``."""
    parent_name, _, _ = name.rpartition(".")
    search_path = None
    if parent_name:
        parent = sys.modules.get(parent_name)
        search_path = getattr(parent, "__path__", None)
        if search_path is None:
            return False
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            if find_spec(name, search_path) is not None:
                return True
        except Exception:  # noqa: BLE001 - a finder that fails finds nothing
            continue
    return False


def why_not_importable(name: str, module: object, /) -> str | None:
    """Say why a worker started with spawn or forkserver could not import ``module``.

    Returns:
        ``None`` when it can (or when parmap cannot tell, to raise no false alarm).
    """
    if name in _SKIP or not isinstance(module, ModuleType):
        return None
    spec = getattr(module, "__spec__", None)
    if spec is None:
        parent, _, _ = name.rpartition(".")
        if parent:
            # A package may register such a module while it is imported
            # (``typing.io``): importing the parent in the worker brings it back.
            return why_not_importable(parent, sys.modules.get(parent))
        return "it was made at run time and no file provides it"
    origin = getattr(spec, "origin", None)
    if not isinstance(spec.loader, importlib.abc.FileLoader) or not isinstance(origin, str):
        return None
    if not os.path.exists(origin):
        return f"its file {origin} no longer exists"
    paths = {os.path.normcase(os.path.abspath(entry or os.curdir)) for entry in sys.path}
    if _import_root(name, origin) in paths or _found_by_finders(name):
        return None
    return f"it was loaded from {origin}, which is not on the import path (sys.path)"


def _named_modules(data: bytes) -> set[str]:
    """The module names of the globals a pickle loads by name."""
    names: set[str] = set()
    recent: list[object] = []  # what the last ops pushed: strings, else None
    memo: dict[object, object] = {}
    for opcode, arg, _ in pickletools.genops(data):
        op = opcode.name
        if op in _STRING_OPS:
            recent.append(arg)
        elif op in _GET_OPS:
            recent.append(memo.get(arg))
        elif op in _PUT_OPS:
            memo[arg] = recent[-1] if recent else None
        elif op == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif op == "STACK_GLOBAL":
            if len(recent) >= 2 and isinstance(recent[-2], str):
                names.add(recent[-2])
            recent.append(None)
        elif op in ("GLOBAL", "INST"):
            names.add(str(arg).partition(" ")[0])
            recent.append(None)
        elif opcode.stack_after:
            recent.append(None)
        del recent[:-2]
    return names


class ModuleScan:
    """The caller's modules that a new worker could not import, looked up once per check."""

    def __init__(self) -> None:
        self._suspects: dict[str, str] | None = None

    def suspects(self) -> dict[str, str]:
        """Module name -> why it cannot be imported, for every such module in ``sys.modules``."""
        if self._suspects is None:
            found: dict[str, str] = {}
            for name, module in list(sys.modules.items()):
                why = why_not_importable(name, module)
                if why is not None:
                    found[name] = why
            self._suspects = found
        return self._suspects

    def failure(self, data: bytes) -> NotImportableError | None:
        """The error for the first module ``data`` names that a new worker cannot import."""
        suspects = self.suspects()
        # Cheap filter first: a module the payload does not even spell is not named in it.
        spelled = [name for name in suspects if name.encode() in data]
        if not spelled:
            return None
        named = _named_modules(data)
        for name in spelled:
            if name in named:
                return NotImportableError(name, suspects[name])
        return None
