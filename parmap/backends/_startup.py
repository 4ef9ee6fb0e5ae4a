"""Why worker processes cannot start, found before they start where that is possible.

Under spawn and forkserver every worker (or the fork server) first imports
the caller's main script, as ``multiprocessing`` does. Two scripts make every
worker fail before it runs a single item: one read from standard input (there
is no file to import), and one whose top-level code starts workers outside an
``if __name__ == "__main__":`` block (every worker would run that code again).
Both are seen in the caller before any worker starts; any other failure is
told apart from an item's by the worker's ready message (see :mod:`parmap._transport.worker`).
"""

from __future__ import annotations

import ast
import os
import sys
import tokenize
from types import FrameType, ModuleType

from parmap.errors import WorkerStartError

_FIX = "or use start_method='fork' where the platform has it"


def _main() -> tuple[ModuleType, str] | None:
    """The main module and the file workers would import, or None when they import none."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str):
        return None  # an interactive session, a notebook, python -c: nothing is imported
    return main, path


def _module_frame(main: ModuleType) -> FrameType | None:
    """The frame running the main script's top level, if this call comes from it."""
    frame: FrameType | None = sys._getframe(1)
    found = None
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            found = frame
        frame = frame.f_back
    return found


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and mains)


def _guarded(path: str, line: int) -> bool:
    """Whether ``line`` of the script lies inside an ``if __name__ == "__main__":`` block."""
    try:
        with tokenize.open(path) as source:
            tree = ast.parse(source.read(), path)
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: do not accuse the script
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body:
            end = node.body[-1].end_lineno or node.body[-1].lineno
            if node.body[0].lineno <= line <= end:
                return True
    return False


def preflight(start_method: str, /) -> None:
    """Raise when workers started with ``start_method`` from here would all fail at start-up.

    Raises:
        WorkerStartError: the main script was read from standard input, or this
            call runs at its top level outside the ``__main__`` guard.
    """
    if start_method == "fork":
        return  # forked workers import nothing
    found = _main()
    if found is None:
        return
    main, path = found
    if not os.path.isfile(path):
        raise WorkerStartError(
            f"cannot start worker processes with start method {start_method!r}: the main "
            f"script was not read from a file ({path!r}; piped on standard input?), and "
            f"each {start_method} worker first imports the main script from its file.\n"
            f"Save the script to a file and run `python yourscript.py`, {_FIX}."
        )
    frame = _module_frame(main)
    if frame is None or _guarded(path, frame.f_lineno):
        return
    raise WorkerStartError(
        f"cannot start worker processes with start method {start_method!r}: {path}, line "
        f"{frame.f_lineno}, starts them from the script's top level, outside an "
        '`if __name__ == "__main__":` block.\n'
        f"Each {start_method} worker first imports the script, so every worker would run "
        "that line again and start workers of its own.\n"
        'Put the script\'s top-level work under `if __name__ == "__main__":` '
        f"(definitions of functions and classes may stay outside it), {_FIX}."
    )


def start_error(start_method: str, exc: BaseException, /) -> WorkerStartError:
    """The error for a worker process that could not even be started."""
    extra = ""
    if start_method == "forkserver":
        extra = (
            " The fork server imports the main script when it starts; if it failed "
            "there, its traceback is printed above on stderr."
        )
    return WorkerStartError(
        f"cannot start a worker process with start method {start_method!r}: "
        f"{type(exc).__name__}: {exc}.{extra}\n"
        f"Fix the error shown, {_FIX}."
    )


def died_starting(
    start_method: str, pid: int | None, how: str, signalled: str, /
) -> WorkerStartError:
    """The error for a worker that ended before it was ready: no item is to blame.

    Args:
        start_method: the pool's start method.
        pid: the worker's process id.
        how: how it ended ("exited with code 1").
        signalled: the likely cause when a signal killed it, else empty.
    """
    found = _main()
    if start_method == "fork":
        where = "A forked worker starts from a copy of the caller and imports nothing"
    else:
        script = f"the main script {found[1]} and " if found is not None else ""
        where = f"A {start_method} worker first imports {script}the modules the function needs"
    cause = signalled or (
        "an error while the worker started; the worker printed its traceback above on "
        "stderr (an ImportError, say)"
    )
    return WorkerStartError(
        f"a worker (pid {pid}) {how} before it was ready: it failed while starting "
        f"(start method {start_method!r}), so no item is to blame.\n"
        f"Likely cause: {cause}.\n"
        f"{where}. Fix the error it printed, {_FIX}.",
        pid=pid,
    )
