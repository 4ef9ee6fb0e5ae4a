"""What the benchmarks ran on: CPU, cores, memory, Python, library versions, load, CPU drift."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.workloads import SPIN_20MS, spin

LIBRARIES = (
    "parmap",
    "numpy",
    "joblib",
    "pathos",
    "mpire",
    "multiprocess",
    "dill",
    "cloudpickle",
)


def describe(root: Path) -> dict[str, Any]:
    """Return the machine, interpreter, library versions and the tree's commit."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "libraries": {name: _version(name, root) for name in LIBRARIES},
        "commit": _commit(root),
    }
    return info


def load_average() -> list[float] | None:
    """Return the 1, 5 and 15 minute load averages, where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def probe_speed() -> float:
    """Return the wall time, in milliseconds, of one 20 ms spin in this process.

    Taken between measurements, these probes show how much the CPU's speed drifted during
    the run.
    """
    start = time.perf_counter()
    spin(SPIN_20MS)
    return (time.perf_counter() - start) * 1000


def busy_elsewhere(seconds: float = 0.3) -> float | None:
    """Return the fraction of all CPUs that were busy over ``seconds`` while the runner idled.

    The runner sleeps meanwhile and no measurement runs, so this is what other programs
    took from the machine: the noise the measurements that follow will share.
    """
    try:
        import psutil
    except ImportError:
        return None
    return psutil.cpu_percent(interval=seconds) / 100


def wait_until_quiet(limit: float, patience: float) -> float | None:
    """Wait up to ``patience`` seconds for other programs' CPU use to fall below ``limit``.

    Returns:
        The last busy fraction seen (``None`` without psutil).
    """
    deadline = time.monotonic() + patience
    busy = busy_elsewhere()
    while busy is not None and busy > limit and time.monotonic() < deadline:
        busy = busy_elsewhere(1.0)
    return busy


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return round(psutil.virtual_memory().total / 2**30, 1)


def _version(name: str, root: Path) -> str:
    if name == "parmap":
        # The tree's own version, not whatever may be installed elsewhere.
        text = (root / "parmap" / "_version.py").read_text()
        return text.split("=", 1)[1].strip().strip("\"'") if "=" in text else "?"
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    if not commit:
        return None
    # The run measures the working tree: say when parmap/ differs from the commit.
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "parmap"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return commit + (" with uncommitted changes in parmap/" if status.stdout.strip() else "")
