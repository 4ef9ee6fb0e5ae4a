"""Function fingerprints: a digest of what a function computes, stable across processes.

The cache key of every item includes its function's fingerprint, so an edit that can change a
result must change the fingerprint, and an edit that cannot must not. The fingerprint covers:

* the code object: bytecode (``co_code``, which on CPython 3.11+ is the de-specialised form, so
  running the function does not change it), exception table, constants, names, argument counts
  and flags, recursively into nested code objects (lambdas, comprehensions, inner functions);
* defaults, keyword-only defaults and closure cell values;
* the globals the code reads (every name in ``co_names`` of the code and its nested code that is
  found in the function's module): functions and classes defined in the **same module** are
  fingerprinted recursively (cycle-safe: a function met again is a back-reference); modules by
  name; functions and classes from other modules by qualified name plus the top package's
  ``__version__``; plain values (numbers, strings, bytes, tuples, lists, dicts, sets, numpy
  arrays, and objects reducible like pickle does) by their canonical encoding; anything that
  cannot be encoded by its type name only;
* ``functools.partial`` as its function, arguments and keywords; bound methods as the function,
  the fingerprint of the owner's class and, when it can be encoded, the owner's state; callable
  instances as their class and state; builtins and other C callables by qualified name and
  module version;
* the interpreter's cache tag (``cpython-311``): bytecode differs between Python versions.

Left out on purpose: line numbers and the line table (``co_linetable``, ``co_firstlineno``),
the file name, the module name of the top function (a script run as ``__main__`` and imported as
a module keeps its entries), and class docstrings. So comments, blank lines and moving a
function within its file change nothing, and reverting an edit restores the old fingerprint.

Not seen (hence the ``version=`` override of :class:`parmap.cache.Cache`): code in other modules
of the user's project, data files, external services, and globals that are mutated while the
program runs (a global dict used as a memo changes the fingerprint each run; keep such state out
of module globals, or pass ``version=``). A function docstring is a constant of its code, so
editing one recomputes.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
from typing import Any

from parmap._cache import canonical
from parmap._cache.canonical import encode_into, global_name
from parmap._names import CLASS_BOOKKEEPING, code_names

__all__ = ["encode", "fingerprint"]

# Besides what every class carries, bookkeeping that Python fills in lazily (copyreg's
# __slotnames__ on first pickling, the ABC cache) would make a class's fingerprint change
# after its first use: leave it out.
_SKIPPED_CLASS_ATTRS = CLASS_BOOKKEEPING | {"__slotnames__", "_abc_impl"}
_LIBRARY_DIRS = ("site-packages", "dist-packages")


def fingerprint(func: Any, /) -> bytes:
    """Return the 32-byte SHA-256 fingerprint of a callable (see the module docstring)."""
    out: list[bytes] = [b"parmap-fingerprint-1\0", sys.implementation.cache_tag.encode(), b"\0"]
    _Fingerprinter(out).callable(func)
    return hashlib.sha256(b"".join(out)).digest()


def _function_in_an_item(obj: Any) -> bytes:
    """Encode a function or class met inside an item: classes by name, functions by code."""
    if isinstance(obj, type) or not isinstance(obj, types.FunctionType | types.MethodType):
        return global_name(obj).encode()
    return fingerprint(obj)


def encode(obj: object, /) -> bytes:
    """The canonical encoding of an item or constant for a cache key (functions by their code).

    Raises:
        TypeError: ``obj`` holds something that has no stable encoding.
    """
    return canonical.encode(obj, on_function=_function_in_an_item)


def _module_version(module_name: str | None) -> str:
    """Return ``module==version`` for the top package of ``module_name`` when it has one."""
    if not module_name:
        return ""
    top = module_name.partition(".")[0]
    version = getattr(sys.modules.get(top), "__version__", None)
    return f"{top}=={version}" if isinstance(version, str) else top


def _is_user_module(name: str | None) -> bool:
    """Tell whether ``name`` is the user's code (fingerprinted) or a library (named and versioned).

    ``__main__``, notebooks and modules outside the standard library and the installed packages
    are the user's; their code is walked. Library code is named with its version instead:
    walking it would be slow and would not see its C parts anyway.
    """
    if not name:
        return False
    if name == "__main__":
        return True
    if name.partition(".")[0] in sys.stdlib_module_names:
        return False
    path = getattr(sys.modules.get(name), "__file__", None) or ""
    return not any(part in path for part in _LIBRARY_DIRS)


class _Fingerprinter:
    """One fingerprinting pass: the output stream and the memo of callables already entered."""

    def __init__(self, out: list[bytes]) -> None:
        self._out = out
        self._memo: dict[int, int] = {}
        self._keep: list[Any] = []  # keeps memoised objects alive so their ids stay unique

    def _put(self, *parts: bytes) -> None:
        self._out.extend(parts)

    def _text(self, tag: bytes, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._out.append(b"%s%d:%s" % (tag, len(data), data))

    def _value(self, value: Any) -> None:
        """Encode a plain value, sending the functions and classes inside back here."""
        encode_into(self._out, value, on_function=self._nested)

    def _nested(self, obj: Any) -> bytes:
        saved = self._out
        self._out = []
        try:
            self.callable(obj)
            return b"".join(self._out)
        finally:
            self._out = saved

    def _enter(self, obj: Any) -> bool:
        index = self._memo.get(id(obj))
        if index is not None:
            self._put(b"@%d;" % index)
            return False
        self._memo[id(obj)] = len(self._memo)
        self._keep.append(obj)
        return True

    def callable(self, obj: Any) -> None:
        """Encode any callable (or class) the way the module docstring describes."""
        if isinstance(obj, types.FunctionType | type) and not _is_user_module(obj.__module__):
            self._external(obj)
        elif isinstance(obj, types.FunctionType):
            if self._enter(obj):
                self._function(obj)
        elif isinstance(obj, functools.partial):
            self._put(b"P")
            self.callable(obj.func)
            self._state(obj.args)
            self._state(dict(sorted(obj.keywords.items())))
        elif isinstance(obj, types.MethodType):
            self._put(b"B")
            self.callable(obj.__func__)
            owner = obj.__self__
            self.callable(owner if isinstance(owner, type) else type(owner))
            if not isinstance(owner, type):
                self._state(owner)
        elif isinstance(obj, type):
            if self._enter(obj):
                self._class(obj)
        elif isinstance(obj, types.BuiltinFunctionType | types.BuiltinMethodType):
            self._external(obj)
            owner = getattr(obj, "__self__", None)
            if owner is not None and not isinstance(owner, types.ModuleType):
                self._state(owner)
        elif hasattr(obj, "__objclass__") or type(obj).__module__ in {"numpy", "builtins"}:
            self._external(obj)  # method descriptors (str.upper), numpy ufuncs, ...
        else:
            self._put(b"I")  # a callable instance: its class and its state
            self.callable(type(obj))
            self._state(obj)

    def _external(self, obj: Any) -> None:
        module = getattr(obj, "__module__", None) or type(obj).__module__
        self._text(b"X", global_name(obj) + " " + _module_version(module))

    def _state(self, obj: Any) -> None:
        """Encode a value by content, or by its type name when it has no stable encoding."""
        out: list[bytes] = []
        try:
            encode_into(out, obj, on_function=self._nested)
        except (TypeError, ValueError, RecursionError):
            self._text(b"t", type(obj).__qualname__)
            return
        self._put(b"V", *out)

    def _code(self, code: types.CodeType) -> None:
        self._put(
            b"C%d,%d,%d,%d;"
            % (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
        )
        self._text(b"n", code.co_name)
        self._put(b"b%d:" % len(code.co_code), code.co_code)
        table = getattr(code, "co_exceptiontable", b"")
        self._put(b"e%d:" % len(table), table)
        for field in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
            self._value(field)
        self._put(b"k%d:" % len(code.co_consts))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._code(const)
            else:
                self._value(const)

    def _function(self, func: types.FunctionType) -> None:
        self._put(b"F")
        self._code(func.__code__)
        self._state(func.__defaults__)
        self._state(func.__kwdefaults__)
        cells = func.__closure__ or ()
        self._put(b"c%d:" % len(cells))
        for cell in cells:
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell: the variable is not bound yet
                self._put(b"E")
                continue
            if callable(contents):
                self.callable(contents)
            else:
                self._state(contents)
        namespace = func.__globals__
        for name in sorted(set(code_names(func.__code__))):
            if name in namespace:
                self._text(b"g", name)
                self._global(namespace[name], func.__module__)

    def _global(self, value: Any, module: str | None) -> None:
        """Encode a value the function reads from its module or its closure."""
        if isinstance(value, types.ModuleType):
            self._text(b"M", value.__name__)
        elif isinstance(value, types.FunctionType | type):
            if value.__module__ == module:
                self.callable(value)
            else:
                self._external(value)
        elif callable(value):
            self.callable(value)
        else:
            self._state(value)

    def _class(self, cls: type) -> None:
        self._text(b"K", cls.__qualname__)
        module = cls.__module__
        for base in cls.__bases__:
            if base.__module__ == module:
                self.callable(base)
            else:
                self._external(base)
        for name in sorted(vars(cls)):
            if name in _SKIPPED_CLASS_ATTRS or name.startswith("__dataclass"):
                continue
            attr = vars(cls)[name]
            self._text(b"a", name)
            if isinstance(attr, staticmethod | classmethod):
                attr = attr.__func__
            if isinstance(attr, property):
                for accessor in (attr.fget, attr.fset, attr.fdel):
                    self._global(accessor, module)
            else:
                self._global(attr, module)
