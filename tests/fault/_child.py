"""A script under test, run in its own session, with its output read line by line with timeouts."""

from __future__ import annotations

import contextlib
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = pathlib.Path(__file__).resolve().parent / "scripts"


class Child:
    """A script of ``tests/fault/scripts`` started with ``start_new_session=True``.

    Its stdout is read by a thread into a queue, so that every wait has a
    timeout; its stderr goes to a file, which orphaned workers holding it
    open cannot turn into a blocking read.

    Args:
        script: the script's file name in ``tests/fault/scripts``.
        args: its command-line arguments.
        tmp: a directory for the stderr file.
        env: extra environment variables.
    """

    def __init__(
        self, script: str, args: list[str], tmp: pathlib.Path, env: dict[str, str] | None = None
    ) -> None:
        self._stderr_path = tmp / f"{script}.stderr"
        environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        with open(self._stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", str(SCRIPTS / script), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=ROOT,
                env=environment,
                start_new_session=True,
            )
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """Wait for a line starting with ``prefix``; fail, showing stderr, after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise AssertionError(
                    f"no line {prefix!r} within {timeout} s; saw {self.seen[-5:]}\n{self.stderr()}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"the script ended before printing {prefix!r}; saw {self.seen[-5:]}\n"
                    f"{self.stderr()}"
                )
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole session (clean-up after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
        for pid in session_members(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as ended)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the script's own session: itself and its workers)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; return those still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if running(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
