"""The progress bar: drawn by the caller only; by default in a terminal or a notebook."""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from typing import Any, TextIO

#: The bar appears only once a run has lasted this long (short runs stay quiet).
DELAY_SECONDS = 1.0

#: Columns a terminal bar leaves free at the end of its line. On Ctrl-C the
#: terminal echoes ``^C`` after the bar; a bar as wide as the line would push it
#: onto the next line, and the bar's final redraw would land there: a second copy.
ECHO_ROOM = 3


def in_kernel() -> bool:
    """Whether this process is an IPython kernel (Jupyter, VS Code, Colab).

    Only looks at modules already imported: importing IPython just to ask would
    cost every script a fraction of a second. A terminal IPython has a shell but
    no kernel.
    """
    if "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    if not callable(get_ipython):
        return False
    try:
        shell = get_ipython()
    except Exception:  # noqa: BLE001 - a half-initialised IPython is not a kernel
        return False
    return getattr(shell, "kernel", None) is not None


def shows_by_default(stream: TextIO | None) -> bool:
    """Whether ``progress=None`` draws a bar: on a terminal or in a kernel, in a top-level process.

    A process that multiprocessing started (a worker running a nested map, say)
    shares its parent's terminal or cell, where its bar would be a second one.
    """
    if multiprocessing.parent_process() is not None:
        return False
    return in_kernel() or _terminal_width(stream) is not None


def _terminal_width(stream: TextIO | None) -> int | None:
    """The width of the terminal ``stream`` writes to, or ``None`` when it is no terminal."""
    try:
        if stream is None or not stream.isatty():
            return None
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):  # no fileno, closed, or not a terminal
        return None


def _bar_class() -> Any:
    """tqdm's notebook widget in a kernel with ipywidgets, else its text bar."""
    with warnings.catch_warnings():
        # Without ipywidgets tqdm warns once and falls back to the text bar,
        # which a notebook shows well: not worth a warning on the user's first run.
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm
    return tqdm


class Progress:
    """Counts finished items; draws a tqdm bar when enabled.

    Args:
        enabled: True or False as the caller said; None means "in a terminal or a
            notebook, once the run has lasted :data:`DELAY_SECONDS`".
        total: number of items, when known.
        description: the bar's label.
    """

    def __init__(self, enabled: bool | None, total: int | None, description: str) -> None:
        automatic = enabled is None
        if enabled is None:
            enabled = shows_by_default(sys.stderr)
        self._bar: Any = None
        if enabled:
            width = _terminal_width(sys.stderr) or 0
            sizing: dict[str, Any] = (
                {"ncols": width - ECHO_ROOM} if width > 2 * ECHO_ROOM else {"dynamic_ncols": True}
            )
            self._bar = _bar_class()(
                total=total,
                desc=description,
                unit="item",
                delay=DELAY_SECONDS if automatic else 0.0,
                leave=True,
                **sizing,
            )

    def update(self, count: int, /) -> None:
        """Record ``count`` more finished items."""
        if self._bar is not None and count:
            self._bar.update(count)

    def close(self) -> None:
        """Finish the bar where it stands, once, however the run ended (idempotent)."""
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.close()
