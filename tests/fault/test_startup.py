"""A worker that cannot start says why, and never blames an item.

Each case is a script run in a fresh interpreter, as users run them.
"""

from __future__ import annotations

import textwrap

import pytest

from tests import helpers

pytestmark = pytest.mark.timeout(60)

UNGUARDED = textwrap.dedent(
    """
    import parmap

    def double(x):
        return x * 2

    print(parmap.parallel_map(double, range(40), workers=2, start_method={method!r}, inline=False))
    """
)

GUARDED = textwrap.dedent(
    """
    import parmap

    def double(x):
        return x * 2

    if __name__ == "__main__":
        print(parmap.parallel_map(double, range(6), workers=2, start_method={method!r},
                                  inline=False))
    """
)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path, method: str) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED.format(method=method))
    done = helpers.run_python(str(script))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()
    assert last[-3] == (
        f"parmap.errors.WorkerStartError: cannot start worker processes with start method "
        f"{method!r}: {script}, line 7, starts them from the script's top level, outside an "
        '`if __name__ == "__main__":` block.'
    )
    assert 'Put the script\'s top-level work under `if __name__ == "__main__":`' in last[-1]
    assert "os._exit" not in done.stderr
    assert len(done.stderr.splitlines()) < 20, "no worker started, so none printed anything"


def test_the_same_script_with_the_guard_works(tmp_path) -> None:
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED.format(method="spawn"))
    done = helpers.run_python(str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 2, 4, 6, 8, 10]"


def test_a_guarded_call_inside_a_function_called_unguarded_is_caught(tmp_path) -> None:
    script = tmp_path / "via_main.py"
    script.write_text(
        textwrap.dedent(
            """
            import parmap

            def main():
                return parmap.parallel_map(abs, [-1, -2], workers=2, start_method="spawn",
                                           inline=False)

            main()
            """
        )
    )
    done = helpers.run_python(str(script))
    assert done.returncode == 1
    assert f"{script}, line 8, starts them from the script's top level" in done.stderr


def test_a_small_unguarded_job_that_runs_in_the_caller_still_works(tmp_path) -> None:
    script = tmp_path / "tiny.py"
    script.write_text(
        "import parmap\nprint(parmap.parallel_map(abs, [-1, -2], start_method='spawn'))\n"
    )
    done = helpers.run_python(str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2]"


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_script_piped_on_stdin_is_told_to_be_saved(method: str) -> None:
    done = helpers.run_python("-", stdin=GUARDED.format(method=method))
    assert done.returncode == 1
    assert (
        f"WorkerStartError: cannot start worker processes with start method {method!r}: the main "
        "script was not read from a file ('<stdin>'; piped on standard input?)"
    ) in done.stderr
    assert "Save the script to a file and run `python yourscript.py`" in done.stderr
    assert "item 0" not in done.stderr


def test_a_script_piped_on_stdin_works_under_fork() -> None:
    done = helpers.run_python("-", stdin=GUARDED.format(method="fork"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 2, 4, 6, 8, 10]"


def test_a_worker_that_fails_to_import_the_script_blames_no_item(tmp_path) -> None:
    script = tmp_path / "import_fails.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, parmap
            if os.environ.get("ONLY_IN_THE_CALLER") == "no":
                raise ImportError("only the caller can import this")

            def f(x):
                return x

            if __name__ == "__main__":
                os.environ["ONLY_IN_THE_CALLER"] = "no"
                parmap.parallel_map(f, range(4), workers=2, start_method="spawn", inline=False)
            """
        )
    )
    done = helpers.run_python(str(script))
    assert done.returncode == 1
    assert "ImportError: only the caller can import this" in done.stderr  # the worker's own
    assert (
        "before it was ready: it failed while starting (start method 'spawn'), so no item is "
        "to blame."
    ) in done.stderr
    assert f"A spawn worker first imports the main script {script}" in done.stderr
    assert "while running item" not in done.stderr
    assert "os._exit" not in done.stderr


def test_guard_detection_reads_the_script() -> None:
    from parmap.backends import _startup

    source = textwrap.dedent(
        """
        import parmap
        x = 1
        if __name__ == "__main__":
            y = 2
            z = 3
        if "__main__" == __name__:
            w = 4
        """
    )
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    lines = {number: _startup._guarded(f.name, number) for number in range(1, 10)}
    assert [n for n, inside in lines.items() if inside] == [5, 6, 8]
