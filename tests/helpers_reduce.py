"""Importable mappers, reducers and worker functions for the map_reduce and Dask tests."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from tests.helpers import add, exit_on, fail_on, pid_of, slow_square, square  # noqa: F401 - one definition, used by name here too


def as_list(x: Any) -> list[Any]:
    return [x]


def as_text(x: int) -> str:
    return f"{x},"


def word_of(x: int) -> str:
    return f"w{x % 7}"


def count_into(counts: dict[str, int], word: str) -> dict[str, int]:
    """Count a word into a dict, in place (so each chunk needs its own start value)."""
    counts[word] = counts.get(word, 0) + 1
    return counts


def merge_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    merged = dict(a)
    for word, count in b.items():
        merged[word] = merged.get(word, 0) + count
    return merged


def fail_on37(x: int) -> int:
    return fail_on(x, 37)


def recorded(x: int, directory: str, bad: int | None = None) -> int:
    """Leave a marker file per call; raise once on ``bad`` (after the others had time to finish)."""
    with open(os.path.join(directory, f"call-{x}-{uuid.uuid4().hex}"), "w"):
        pass
    failed = os.path.join(directory, f"failed-{x}")
    if x == bad and not os.path.exists(failed):
        with open(failed, "w"):
            pass
        time.sleep(0.5)
        raise RuntimeError(f"interrupted at item {x}")
    return x


def calls(directory: str) -> list[int]:
    """The items ``recorded`` was called on, one entry per call."""
    return sorted(
        int(name.split("-")[1]) for name in os.listdir(directory) if name.startswith("call-")
    )


def note_pid(directory: str) -> None:
    """An initializer: one marker file per call, named after the process."""
    with open(os.path.join(directory, f"init-{os.getpid()}-{uuid.uuid4().hex}"), "w"):
        pass


def big(x: int) -> list[float]:
    """About 1 MB of floats per item."""
    return [float(x)] * 131_072


def total(values: list[float]) -> float:
    return sum(values)
