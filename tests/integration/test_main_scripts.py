"""Functions and classes defined in a script's __main__ work under every start method."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "main_functions.py"
ROOT = Path(__file__).parents[2]


def _python(*args: str) -> object:
    """Run a fresh interpreter from the project root; its JSON output."""
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


EXPECTED = {
    "lambda": [x * 2 for x in range(10)],
    "closure": [5, 6, 7, 8],
    "top_level": [100, 101, 102],
    "main_class": [3, 6],
    "returns_main_class": ["Point", "Point"],
}


@pytest.mark.parametrize(
    ("backend", "start_method"),
    [
        ("processes", "fork"),
        ("processes", "forkserver"),
        ("processes", "spawn"),
        ("threads", "-"),
        ("serial", "-"),
    ],
)
def test_main_script(backend: str, start_method: str) -> None:
    assert _python(str(SCRIPT), backend, start_method) == EXPECTED


NOTEBOOK_LIKE = """
import json, parmap
class Box:
    def __init__(self, v):
        self.v = v
def unbox(b):
    return b.v + 1
scale = 4
out = {
    "func": parmap.parallel_map(unbox, [Box(1), Box(2)], **OPTIONS),
    "global": parmap.parallel_map(lambda x: x * scale, range(3), **OPTIONS),
}
print(json.dumps(out))
"""


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_code_without_a_file_like_a_notebook(start_method: str) -> None:
    # `python -c` has no __main__ file for spawn to re-import, as in a notebook:
    # functions and classes must travel by value.
    options = {"workers": 2, "start_method": start_method, "inline": False}
    code = f"OPTIONS = {options!r}\n" + NOTEBOOK_LIKE
    assert _python("-c", code) == {"func": [2, 3], "global": [0, 4, 8]}
