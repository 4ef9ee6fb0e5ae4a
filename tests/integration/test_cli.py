"""The ``parmap`` command: usage errors, version, and the demo end to end."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import parmap


def _parmap(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parmap", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_no_command_prints_usage_and_exits_2():
    done = _parmap()
    assert done.returncode == 2
    assert "usage: parmap" in done.stderr
    assert "demo" in done.stderr


def test_version():
    done = _parmap("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"parmap {parmap.__version__}"


def test_unknown_command_is_a_usage_error():
    done = _parmap("frobnicate")
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr


@pytest.mark.slow
def test_demo_runs_every_part():
    done = _parmap("demo", timeout=110)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"speed-up: \d+\.\d\dx on \d+ CPU", out), out
    assert "UnpicklableError" in out
    assert "-> __closure__ 'conn'  (sqlite3.Connection)" in out
    kept = re.search(r"(\d+) of (\d+) results were already on disk", out)
    assert kept, out
    assert 0 < int(kept.group(1)) < int(kept.group(2)), "the interruption must come mid-run"
    assert "the result equals builtin map's" in out
