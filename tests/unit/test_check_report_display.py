"""A check report reads well wherever it is shown: repr, IPython's pretty printer, a notebook."""

from __future__ import annotations

import html
import importlib.util
import pathlib
import re
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_check as h

from parmap._check.check import check
from parmap._check.report import CheckReport


class FakePrinter:
    """Collects what ``_repr_pretty_`` prints, as IPython's ``PrettyPrinter`` would."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, obj: str) -> None:
        self.parts.append(obj)


@pytest.fixture
def failing() -> CheckReport:
    return check(h.make_closure(threading.Lock()), serializer="pickle")


def test_repr_is_one_short_line(failing: CheckReport) -> None:
    assert repr(failing) == (
        "<CheckReport ok=False serializer=None: 1 problem at func -> __closure__ 'conn' "
        "(_thread.lock)>"
    )
    assert repr(failing.problems[0]) == "<Problem at func -> __closure__ 'conn' (_thread.lock)>"
    assert repr(check([1, 2])) == "<CheckReport ok=True serializer='pickle'>"


def test_repr_counts_problems_and_notes() -> None:
    items: list[object] = [threading.Lock(), 1, h.numbers(1)]
    assert repr(check(items, serializer="pickle")) == (
        "<CheckReport ok=False serializer=None: 2 problems, first at obj -> [0] (_thread.lock)>"
    )
    lock = threading.Lock()
    with lock:
        report = check(h.Holder(lock))
    assert repr(report) == "<CheckReport ok=True serializer='dill': 1 note>"


def test_str_is_the_full_text(failing: CheckReport) -> None:
    text = str(failing)
    assert text.splitlines()[0] == (
        "func cannot travel with serializer='pickle'. It round-trips with dill (verified)."
    )
    assert re.search(r"^  -> __closure__ 'conn'  \(_thread\.lock\)$", text, re.MULTILINE)
    assert "what to do:" in text


def test_ipython_pretty_printer_shows_the_text(failing: CheckReport) -> None:
    printer = FakePrinter()
    failing._repr_pretty_(printer, False)
    assert printer.parts == [str(failing)]
    printer = FakePrinter()
    failing._repr_pretty_(printer, True)
    assert printer.parts == [repr(failing)]


@pytest.mark.skipif(importlib.util.find_spec("IPython") is None, reason="IPython not installed")
def test_ipython_pretty_prints_the_text(failing: CheckReport) -> None:
    from IPython.lib.pretty import pretty  # type: ignore[import-not-found]

    assert pretty(failing) == str(failing)


def test_notebook_html_is_escaped_and_complete(failing: CheckReport) -> None:
    page = failing._repr_html_()
    assert page.startswith('<div class="parmap-check-report parmap-problems">\n<p><strong>')
    assert page.endswith("</pre>\n</div>")
    assert "<locals>" not in page  # escaped, not a tag
    assert "make_closure.&lt;locals&gt;.work" in page
    assert (
        "<strong>func cannot travel with serializer=&#x27;pickle&#x27;. It round-trips "
        "with dill (verified).</strong>"
    ) in page
    shown = re.sub(r"<[^>]+>", "", page)
    for line in str(failing).splitlines():
        assert html.escape(line) in shown


def test_notebook_html_of_a_success() -> None:
    page = check({"a": 1})._repr_html_()
    assert page == (
        '<div class="parmap-check-report parmap-ok">\n'
        "<p><strong>obj travels: pickle round-trips it (verified).</strong></p>\n"
        "</div>"
    )
