"""The progress bar: on request, and by default in a terminal or a kernel once a run lasts."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import sys
import termios
import time
import types
from collections.abc import Iterator
from typing import TextIO

import pytest
import tqdm.auto  # noqa: F401 - chosen here, outside any fake kernel: the text bar

import parmap
from parmap._run import progress as _progress
from parmap._run.progress import ECHO_ROOM, Progress, in_kernel, shows_by_default


class _Pipe:
    """A stream that is no terminal."""

    def isatty(self) -> bool:
        return False


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """This process seen as an IPython kernel: ipykernel imported, a shell with a kernel."""
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    return shell


@pytest.fixture
def terminal() -> Iterator[tuple[TextIO, int]]:
    """A stream on a pseudo-terminal 60 columns wide, and the fd that reads what it shows.

    Tests put it in ``sys.stderr`` themselves: output capturing resets
    ``sys.stderr`` after fixtures are set up.
    """
    reader, writer = os.openpty()
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    stream = open(writer, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
    try:
        yield stream, reader
    finally:
        stream.close()
        os.close(reader)


def _read(fd: int) -> str:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


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


def test_progress_false_never_draws(capsys, kernel):
    bar = Progress(False, 10, "x")
    bar.update(10)
    bar.close()
    assert capsys.readouterr().err == ""


# -- where the default draws ---------------------------------------------------------


def test_no_kernel_without_ipykernel_and_ipython_is_not_imported_to_ask(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_kernel()
    assert "IPython" not in sys.modules


def test_a_kernel_shell_is_a_kernel(kernel):
    assert in_kernel()


def test_a_terminal_ipython_is_not_a_kernel(monkeypatch, kernel):
    shell = types.SimpleNamespace()  # TerminalInteractiveShell has no kernel
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert not in_kernel()


def test_ipython_imported_without_a_shell_is_not_a_kernel(monkeypatch, kernel):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not in_kernel()


def test_a_failing_get_ipython_is_not_a_kernel(monkeypatch, kernel):
    def broken() -> None:
        raise RuntimeError("half initialised")

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=broken))
    assert not in_kernel()


def test_ipykernel_imported_without_ipython_is_not_a_kernel(monkeypatch, kernel):
    monkeypatch.delitem(sys.modules, "IPython")
    assert not in_kernel()


def test_default_draws_in_a_kernel_though_stderr_is_no_terminal(kernel):
    assert shows_by_default(_Pipe())  # type: ignore[arg-type]


def test_default_draws_on_a_terminal(terminal):
    stream, _ = terminal
    assert shows_by_default(stream)


def test_default_stays_quiet_on_a_pipe_outside_a_kernel():
    assert not shows_by_default(_Pipe())  # type: ignore[arg-type]
    assert not shows_by_default(None)


def test_default_stays_quiet_in_a_process_multiprocessing_started(monkeypatch, kernel, terminal):
    # A worker running a nested map shares its caller's terminal or cell:
    # its bar would be a second one there.
    stream, _ = terminal
    monkeypatch.setattr(_progress.multiprocessing, "parent_process", object)
    assert not shows_by_default(stream)


def test_in_a_kernel_a_short_run_draws_nothing(capsys, kernel):
    bar = Progress(None, 3, "abs")
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err == ""


def test_in_a_kernel_a_run_past_the_delay_draws_the_bar(capsys, kernel, monkeypatch):
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.01)
    bar = Progress(None, 3, "abs")
    bar.update(1)
    time.sleep(0.15)  # past the delay and tqdm's minimum interval between redraws
    bar.update(2)
    bar.close()
    err = capsys.readouterr().err
    assert re.search(r"abs: 100%\|.*\| 3/3", err), err


# -- one bar, ended once -------------------------------------------------------------


def test_close_ends_the_bar_once(capsys):
    bar = Progress(True, 5, "x")
    bar.update(2)
    bar.close()
    err = capsys.readouterr().err
    bar.close()
    bar.update(3)
    assert capsys.readouterr().err == ""
    assert err.count("\n") == 1, err
    assert re.search(r"x:  40%\|.*\| 2/5 \[.*\]\n$", err), err


def test_an_interrupted_run_ends_its_bar_where_it_stood(capsys):
    def interrupted(x: int) -> int:
        if x == 3:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        parmap.parallel_map(interrupted, range(10), backend="serial", progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert re.search(r"interrupted:  30%\|.*\| 3/10 \[.*\]\n$", err), err


def test_a_terminal_bar_leaves_room_for_the_echoed_ctrl_c(monkeypatch, terminal):
    # The terminal echoes "^C" after the bar: on a full line it would wrap, and
    # the bar's final redraw would land on the next line, a second copy.
    stream, reader = terminal
    columns = 60
    monkeypatch.setattr(sys, "stderr", stream)
    bar = Progress(True, 1000, "a_long_description")
    for _ in range(10):
        bar.update(100)
    bar.close()
    lines = [text for text in re.split(r"[\r\n]", _read(reader)) if text]
    assert any(re.search(r"1000/1000", line) for line in lines), lines
    widest = max(len(line) for line in lines)
    assert widest == columns - ECHO_ROOM, lines
    assert widest + len("^C") < columns
