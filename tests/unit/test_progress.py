"""The progress bar: drawn on request, off by default when stderr is not a terminal."""

from __future__ import annotations

import re

import parmap
from parmap._progress import Progress


def test_progress_true_draws_a_bar_with_the_count(capsys):
    parmap.parallel_map(abs, range(-30, 0), backend="serial", progress=True)
    err = capsys.readouterr().err
    assert re.search(r"abs: 100%\|.*\| 30/30", err), err


def test_progress_works_without_a_length(capsys):
    parmap.parallel_map(abs, (x for x in range(12)), backend="threads", progress=True)
    err = capsys.readouterr().err
    assert re.search(r"abs: 12item", err), err


def test_progress_is_off_by_default_when_stderr_is_not_a_terminal(capsys):
    parmap.parallel_map(abs, range(50), backend="serial")
    assert capsys.readouterr().err == ""


def test_progress_false_never_draws(capsys):
    bar = Progress(False, 10, "x")
    bar.update(10)
    bar.close()
    assert capsys.readouterr().err == ""
