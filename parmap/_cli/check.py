"""The ``parmap check TARGET`` command: load an object by name and print its check report.

TARGET is ``module:attr`` or ``path/to/script.py:attr`` (``attr`` may be dotted:
``Model.predict``). A script is run the way ``python script.py`` would run it,
as ``__main__``, except for its top-level ``if __name__ == "__main__":`` blocks,
so its functions are checked exactly as a worker would receive them: its source
decoded as Python decodes it (a PEP 263 coding line, a UTF-8 BOM), ``sys.argv``
being ``[script]``. What it prints while importing is held back and passed on once
it imported; a script or module that exits while importing (``sys.exit``, an
argparse error) is a usage error (exit 2) that quotes what it printed, never a pass.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import io
import pathlib
import sys
import types
from collections.abc import Iterator
from typing import Any

from parmap._check.check import explain
from parmap.serializers import NAMES

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class TargetError(Exception):
    """The target could not be loaded; the message is for the user as it is."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check TARGET [--serializer S]`` to the ``parmap`` command."""
    parser = subparsers.add_parser(
        "check",
        help="tell whether a function or object can be sent to workers, and if not, why",
        description=(
            "Load TARGET and check that it round-trips with the serializer. "
            "Exit status: 0 it travels, 1 problems found, 2 usage error."
        ),
    )
    parser.add_argument("target", metavar="TARGET", help="module:attr or path/to/script.py:attr")
    parser.add_argument("--serializer", choices=NAMES, default="auto", help="default: auto")
    parser.set_defaults(func=run)


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    names = {side.id for side in sides if isinstance(side, ast.Name)}
    values = {side.value for side in sides if isinstance(side, ast.Constant)}
    return names == {"__name__"} and values == {"__main__"}


def _exit_call(code: object) -> str:
    return "sys.exit()" if code is None else f"sys.exit({code!r})"


@contextlib.contextmanager
def _importing(what: str, argv: list[str] | None = None) -> Iterator[None]:
    """Hold back what the code prints and turn its ``sys.exit`` into a :class:`TargetError`.

    ``argv``, when given, is ``sys.argv`` while the code runs (as ``python script.py`` sets
    it), so that a script's own argparse usage names the script, not parmap.
    """
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    if argv is not None:
        sys.argv = argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    except SystemExit as exc:
        printed = (err.getvalue() + out.getvalue()).strip()
        out, err = io.StringIO(), io.StringIO()  # quoted in the message, not printed again
        quoted = "".join(f"\n  | {line}" for line in printed.splitlines())
        raise TargetError(
            f"{what} called {_exit_call(exc.code)} while importing, so there is nothing to "
            f"check{' (its output follows)' if quoted else ''}: parmap runs its top level, "
            "as a worker would; move the code that exits (argument parsing included) under "
            f'`if __name__ == "__main__":`{quoted}'
        ) from None
    finally:
        sys.argv = saved
        sys.stdout.write(out.getvalue())
        sys.stderr.write(err.getvalue())


def _load_script(path: pathlib.Path) -> types.ModuleType:
    """Run a script as ``__main__`` without its main guard, and leave it in ``sys.modules``."""
    if not path.is_file():
        raise TargetError(f"no such file: {str(path)!r}")
    source = path.read_bytes()  # bytes: the parser honours a coding line and a BOM
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TargetError(
            f"{path} raised while importing: SyntaxError: {exc.msg} (line {exc.lineno})"
        ) from exc
    except ValueError as exc:  # an unknown coding, or NUL bytes
        raise TargetError(f"{path} cannot be read as Python source: {exc}") from exc
    tree.body = [node for node in tree.body if not _is_main_guard(node)]
    module = types.ModuleType("__main__")
    module.__file__ = str(path)
    # The command's own __main__ is replaced for good: the process ends after the check,
    # and objects from the script must resolve as __main__.<name> while being checked.
    sys.modules["__main__"] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        with _importing(str(path), argv=[str(path)]):
            exec(
                compile(tree, str(path), "exec"), module.__dict__
            )  # the user asked to run their own script
    except TargetError:
        raise
    except Exception as exc:
        raise TargetError(f"{path} raised while importing: {type(exc).__name__}: {exc}") from exc
    return module


def _load_module(name: str) -> types.ModuleType:
    if "" not in sys.path and str(pathlib.Path.cwd()) not in sys.path:
        sys.path.insert(0, "")
    try:
        with _importing(f"module {name!r}"):
            return importlib.import_module(name)
    except TargetError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise TargetError(f"no module named {exc.name!r} (looked for {name!r})") from exc
        raise TargetError(
            f"module {name!r} raised while importing: ModuleNotFoundError: {exc}"
        ) from exc
    except Exception as exc:
        raise TargetError(
            f"module {name!r} raised while importing: {type(exc).__name__}: {exc}"
        ) from exc


def load_target(target: str, /) -> Any:
    """Load the object TARGET names.

    Raises:
        TargetError: a malformed target, a missing module or attribute, or a module that
            raised while importing; the message says which.
    """
    where, colon, attr = target.rpartition(":")
    if (
        not colon
        or not where
        or not attr
        or not all(part.isidentifier() for part in attr.split("."))
    ):
        raise TargetError(
            f"bad target {target!r}: expected module:attr or path/to/script.py:attr, "
            f"e.g. mypackage.jobs:work or jobs.py:work"
        )
    module = _load_script(pathlib.Path(where)) if where.endswith(".py") else _load_module(where)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{where!r} has no attribute {attr!r}") from None
    return obj


def run(args: argparse.Namespace) -> int:
    """Check the target named on the command line; return the exit status."""
    try:
        obj = load_target(args.target)
    except TargetError as exc:
        print(f"parmap: {exc}", file=sys.stderr)
        return EXIT_USAGE
    subject = args.target.rpartition(":")[2]
    report = explain(obj, subject=subject, serializer=args.serializer)
    print(report)
    return EXIT_OK if report.ok else EXIT_PROBLEMS
