"""``parmap check script.py:attr`` on scripts that exit, parse arguments or declare an encoding."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

FUNCTION = "\n\ndef work(x):\n    return x * 2\n"


def parmap_check(target: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parmap", "check", target],
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("exit_call", "shown"),
    [
        ("sys.exit(0)", "sys.exit(0)"),
        ("sys.exit(3)", "sys.exit(3)"),
        ("sys.exit()", "sys.exit()"),
        ("sys.exit('bye')", "sys.exit('bye')"),
    ],
)
def test_script_that_exits_at_import_is_a_usage_error(
    tmp_path: pathlib.Path, exit_call: str, shown: str
) -> None:
    (tmp_path / "job.py").write_text(f"import sys{FUNCTION}{exit_call}\n")
    done = parmap_check("job.py:work", tmp_path)
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert re.match(
        rf"parmap: job.py called {re.escape(shown)} while importing, so there is nothing to check: "
        r"parmap runs its top level, as a worker would; move the code that exits .* under "
        r"`if __name__ == \"__main__\":`\n$",
        done.stderr,
    ), done.stderr


def test_module_that_exits_at_import_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "job_module.py").write_text(f"import sys{FUNCTION}sys.exit(0)\n")
    done = parmap_check("job_module:work", tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("parmap: module 'job_module' called sys.exit(0) while importing")


def test_script_argparse_usage_is_quoted_as_the_scripts(tmp_path: pathlib.Path) -> None:
    (tmp_path / "job.py").write_text(
        "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('data')\n"
        f"args = parser.parse_args(){FUNCTION}"
    )
    done = parmap_check("job.py:work", tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith(
        "parmap: job.py called sys.exit(2) while importing, so there is "
        "nothing to check (its output follows)"
    )
    assert lines[1:] == [
        "  | usage: job.py [-h] data",
        "  | job.py: error: the following arguments are required: data",
    ]


def test_output_at_import_is_passed_on(tmp_path: pathlib.Path) -> None:
    (tmp_path / "job.py").write_text(f"print('loading'){FUNCTION}")
    done = parmap_check("job.py:work", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("loading\nwork travels")


@pytest.mark.parametrize(
    ("header", "encoding"),
    [("# -*- coding: latin-1 -*-\n", "latin-1"), ("", "utf-8-sig"), ("", "utf-8")],
    ids=["coding cookie", "BOM", "plain utf-8"],
)
def test_script_source_is_decoded_as_python_decodes_it(
    tmp_path: pathlib.Path, header: str, encoding: str
) -> None:
    source = f"{header}GREETING = 'héllo'{FUNCTION}\ndef greet():\n    return GREETING\n"
    (tmp_path / "job.py").write_bytes(source.encode(encoding))
    done = parmap_check("job.py:work", tmp_path)
    assert done.returncode == 0, done.stderr
    check = subprocess.run(
        [sys.executable, "-c", "import runpy; print(runpy.run_path('job.py')['GREETING'])"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert check.stdout.strip() == "héllo"  # what `python job.py` sees, for comparison
