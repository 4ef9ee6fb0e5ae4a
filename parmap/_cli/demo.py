"""``parmap demo``: a real job on the Python standard library's own source files.

It shows, in well under a minute on two cores: the progress bar and the
speed-up over builtin ``map``; the explanation parmap gives for a function
that cannot be pickled; and a cached run that is interrupted, then resumed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path
from types import CodeType

#: How many source files the demo reads (the largest ones first is not
#: needed: a fixed, sorted selection keeps runs comparable).
FILES = 1000


def source_files(limit: int = FILES) -> list[str]:
    """The standard library's ``.py`` files, sorted, at most ``limit``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        str(path)
        for path in root.rglob("*.py")
        if not {"site-packages", "test", "tests", "idlelib"} & set(path.parts)
    )
    return files[:limit]


def _instructions(code: CodeType) -> int:
    count = len(code.co_code) // 2
    for const in code.co_consts:
        if isinstance(const, CodeType):
            count += _instructions(const)
    return count


def analyse(path: str) -> tuple[int, int]:
    """Compile one source file: its number of lines and of bytecode instructions."""
    source = Path(path).read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return source.count(b"\n"), 0
    return source.count(b"\n"), _instructions(code)


def _say(text: str) -> None:
    print(text, flush=True)


def _speedup(files: list[str]) -> None:
    import parmap

    _say(f"1. Compiling {len(files)} standard-library modules with builtin map, then parallel_map")
    started = time.perf_counter()
    expected = list(map(analyse, files))
    serial = time.perf_counter() - started
    started = time.perf_counter()
    results = parmap.parallel_map(analyse, files, progress=True)
    parallel = time.perf_counter() - started
    assert results == expected, "parallel_map must return what map returns"
    lines = sum(r[0] for r in results)
    instructions = sum(r[1] for r in results)
    workers = parmap.backends.usable_cpus()
    _say(
        f"   {lines:,} lines -> {instructions:,} bytecode instructions\n"
        f"   map: {serial:.2f} s   parallel_map: {parallel:.2f} s   "
        f"speed-up: {serial / parallel:.2f}x on {workers} CPU(s)\n"
    )


def _diagnosis() -> None:
    import sqlite3

    import parmap

    _say("2. A function that cannot travel to a worker: a closure over a sqlite3 connection")
    conn = sqlite3.connect(":memory:")

    def lookup(key: int) -> object:
        return conn.execute("select ?", (key,)).fetchone()

    try:
        parmap.parallel_map(lookup, range(3))
    except parmap.UnpicklableError as error:
        text = "\n".join("   " + line for line in str(error).splitlines())
        _say(f"   parallel_map raised UnpicklableError before any work started:\n{text}\n")
    finally:
        conn.close()


_CHILD = """
import sys
import parmap
from parmap._cli.demo import analyse, source_files
print("started", flush=True)
parmap.parallel_map(analyse, source_files(), cache=sys.argv[1], workers=1, chunksize=1)
"""


def _wait_for_entries(directory: str, wanted: int, child: subprocess.Popen[str]) -> None:
    """Wait until the child's cache holds ``wanted`` entries (or it ended, or 30 s passed)."""
    import parmap

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if parmap.Cache(directory).info().entries >= wanted:
                return
        except FileNotFoundError:
            pass  # no entry stored yet
        time.sleep(0.1)


def _resume(files: list[str]) -> None:
    import parmap

    _say("3. A cached run interrupted with Ctrl-C, then run again")
    with tempfile.TemporaryDirectory(prefix="parmap-demo-") as directory:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, directory],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert child.stdout is not None
        child.stdout.readline()
        began = time.perf_counter()
        _wait_for_entries(directory, len(files) // 3, child)
        waited = time.perf_counter() - began
        os.killpg(child.pid, signal.SIGINT)
        try:
            _, errors = child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            _, errors = child.communicate(timeout=10)
        # The interrupted script's last words: KeyboardInterrupt, and what the cache kept.
        said = [line for line in errors.strip().splitlines()[-2:] if line] or ["(no message)"]
        kept = parmap.Cache(directory).info().entries
        shown = "".join(f"\n     {line}" for line in said)
        _say(
            f"   Ctrl-C after {waited:.1f} s; the interrupted run said:{shown}\n"
            f"   {kept} of {len(files)} results were already on disk"
        )
        started = time.perf_counter()
        results = parmap.parallel_map(analyse, files, cache=directory)
        elapsed = time.perf_counter() - started
        assert results == list(map(analyse, files))
        _say(
            f"   the same call again: {kept} results read back, {len(files) - kept} computed, "
            f"in {elapsed:.2f} s; the result equals builtin map's\n"
        )


def main() -> int:
    """Run the three parts of the demo; returns the exit code."""
    files = source_files()
    _speedup(files)
    _diagnosis()
    _resume(files)
    _say("Done. Try it on your own function: parmap.parallel_map(func, items)")
    return 0
