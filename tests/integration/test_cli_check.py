"""``parmap check TARGET`` in a subprocess, and ``__main__`` globals checked from a real script."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"

SCRIPT = """
import sqlite3
import threading

LOCK = threading.Lock()
CONN = sqlite3.connect(":memory:")


def work(x):
    with LOCK:
        return x * 2


def query(x):
    return CONN.execute("select ?", (x,)).fetchone()


if __name__ == "__main__":
    print("MAIN BLOCK RAN")
"""


def parmap_check(*args: str, cwd: pathlib.Path = TESTS) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "parmap", "check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


@pytest.fixture
def script(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return path


def test_module_target_that_travels_exits_0() -> None:
    done = parmap_check("helpers_check:square")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("square travels: pickle round-trips it (verified).")


def test_dotted_attribute_with_a_named_serializer() -> None:
    done = parmap_check("helpers_check:Session.__init__", "--serializer", "cloudpickle")
    assert done.returncode == 0, done.stderr


def test_script_global_lock_with_cloudpickle_exits_1(script: pathlib.Path) -> None:
    done = parmap_check(f"{script}:work", "--serializer", "cloudpickle")
    assert done.returncode == 1, done.stderr
    assert "MAIN BLOCK RAN" not in done.stdout
    assert "work cannot travel with serializer='cloudpickle'." in done.stdout
    assert "-> __globals__ 'LOCK'  (_thread.lock)" in done.stdout
    assert "move the function and the global 'LOCK' into an importable module" in done.stdout


def test_script_function_with_pickle_is_a_main_function(script: pathlib.Path) -> None:
    done = parmap_check(f"{script}:work", "--serializer", "pickle")
    assert done.returncode == 1
    assert "'work' is defined in __main__" in done.stdout
    assert "move the function to module level" in done.stdout


def test_script_global_connection_fails_everywhere(script: pathlib.Path) -> None:
    done = parmap_check(f"{script}:query")
    assert done.returncode == 1
    assert "query cannot travel: pickle, cloudpickle and dill all fail." in done.stdout
    assert "-> __globals__ 'CONN'  (sqlite3.Connection)" in done.stdout
    assert "initializer=connect" in done.stdout


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("helpers_check", r"^parmap: bad target 'helpers_check': expected module:attr"),
        ("helpers_check:", r"^parmap: bad target"),
        ("no_such_module_xyz:f", r"^parmap: no module named 'no_such_module_xyz'"),
        ("helpers_check:nothing_here", r"^parmap: 'helpers_check' has no attribute 'nothing_here'"),
        ("missing_dir/job.py:work", r"^parmap: no such file: 'missing_dir/job.py'"),
    ],
)
def test_usage_errors_exit_2(target: str, message: str) -> None:
    done = parmap_check(target)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.match(message, done.stderr), done.stderr


def test_module_that_raises_while_importing_exits_2(tmp_path: pathlib.Path) -> None:
    (tmp_path / "broken_job.py").write_text("raise RuntimeError('no config file')\n")
    (tmp_path / "needs_dep.py").write_text("import not_installed_dep_xyz\n")
    done = parmap_check("broken_job:work", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "parmap: module 'broken_job' raised while importing: RuntimeError: no config file\n"
    )
    done = parmap_check("needs_dep:work", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "parmap: module 'needs_dep' raised while importing: ModuleNotFoundError"
    )


def test_main_globals_checked_from_a_running_script(tmp_path: pathlib.Path) -> None:
    """A script run as __main__ checks its own function: the verdict per serializer."""
    path = tmp_path / "run_check.py"
    path.write_text(
        SCRIPT.replace('print("MAIN BLOCK RAN")', "")
        + textwrap.dedent(
            """
            import json
            from parmap._check.check import check, explain
            out = {}
            for name in ("pickle", "cloudpickle", "dill", "auto"):
                report = check(work, serializer=name)
                out[name] = [report.ok, [p.path for p in report.problems]]
            out["fork"] = explain(work, subject="func", serializer="pickle", portable=False).ok
            print(json.dumps(out))
            """
        ).replace("\n", "\n    ")
    )
    done = subprocess.run(
        [sys.executable, str(path)],
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    verdicts = json.loads(done.stdout.strip().splitlines()[-1])
    assert verdicts["pickle"] == [False, ["func"]]
    assert verdicts["cloudpickle"] == [False, ["func -> __globals__ 'LOCK'"]]
    assert verdicts["dill"] == [True, []]  # dill copies the lock (a new, unrelated lock)
    assert verdicts["auto"] == [True, []]
    assert verdicts["fork"] is True  # fork workers share __main__: by reference is fine
