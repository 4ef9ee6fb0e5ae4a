"""The progress bar: drawn by the caller only, on by default when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import Any

#: The bar appears only once a run has lasted this long (short runs stay quiet).
DELAY_SECONDS = 1.0


class Progress:
    """Counts finished items; draws a tqdm bar when enabled.

    Args:
        enabled: True or False as the caller said; None means "when stderr is a terminal".
        total: number of items, when known.
        description: the bar's label.
    """

    def __init__(self, enabled: bool | None, total: int | None, description: str) -> None:
        automatic = enabled is None
        if enabled is None:
            enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                desc=description,
                unit="item",
                delay=DELAY_SECONDS if automatic else 0.0,
                dynamic_ncols=True,
                leave=True,
            )

    def update(self, count: int, /) -> None:
        """Record ``count`` more finished items."""
        if self._bar is not None and count:
            self._bar.update(count)

    def close(self) -> None:
        """Finish the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
