"""Run the benchmark suite: every measurement in a fresh process, repeated, interleaved.

Usage: ``python -m benchmarks [--quick] [--workloads a,b] [--contenders x,y]
[--start-methods fork,forkserver,spawn] [--repeat N] [--out DIR]``. Writes ``latest.json``,
``latest.md`` and ``latest.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.contenders import (
    CONTENDERS,
    GENERAL,
    OWN_CONTENDERS,
    START_METHODS,
    cell,
    split_cell,
)
from benchmarks.measure import MARKER
from benchmarks.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def plan(
    workloads: list[str], families: set[str] | None, methods: list[str] | None = None
) -> list[tuple[str, list[str]]]:
    """Return, per workload, the cells to run on it (in report order).

    A cell is a contender on one start method (see :func:`benchmarks.contenders.cell`):
    each process pool runs once per start method in ``methods`` (report order, whatever
    order they were given in); builtin ``map`` and joblib's loky, which start no worker the
    ``multiprocessing`` way, run once. The parmap-only workloads run on the first method.
    """
    methods = [m for m in START_METHODS if m in (methods or START_METHODS)]
    chosen = []
    for name in workloads:
        names = OWN_CONTENDERS.get(name, GENERAL)
        names = [c for c in names if families is None or _selected(c, families)]
        on = methods[:1] if WORKLOADS[name].parmap_only else methods
        cells = [
            cell(c, m) for c in names for m in ([None] if CONTENDERS[c].method is not None else on)
        ]
        if cells:
            chosen.append((name, cells))
    return chosen


def _selected(contender: str, families: set[str]) -> bool:
    return contender in families or CONTENDERS[contender].family in families


def measure_once(
    workload: str,
    name: str,
    size: int,
    workers: int,
    timeout: float,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Run one measurement of cell ``name`` in a fresh interpreter and return its record.

    The child runs in its own session so that, on a timeout, its pool's workers are killed
    along with it instead of lingering and skewing the next measurements.
    """
    contender, method = split_cell(name)
    cmd = [sys.executable, "-m", "benchmarks.measure", "--workload", workload]
    cmd += ["--contender", contender, "--size", str(size), "--workers", str(workers)]
    if method is not None:
        cmd += ["--start-method", method]
    if cache_dir is not None:
        cmd += ["--cache-dir", cache_dir]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")
    # Measure what an installed library costs: with its bytecode cached, not
    # compiled again by every fresh interpreter (see precompile()).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        exited_at = time.time()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return _failed(workload, name, size, workers, f"timeout after {timeout:.0f} s")
    lines = [line for line in out.splitlines() if line.startswith(MARKER)]
    if not lines:
        tail = err.strip().splitlines()[-1:] or ["no output"]
        reason = f"measurement process exited with {proc.returncode}: {tail[0]}"
        return _failed(workload, name, size, workers, reason[:200])
    record = json.loads(lines[-1][len(MARKER) :]) | {"cell": name}
    if "printed_at" in record:
        record["exit"] = round(exited_at - record.pop("printed_at"), 4)
    if proc.returncode != 0 and record["error"] is None:
        record["error"] = f"measurement process exited with {proc.returncode}"
    return record


def _failed(workload: str, name: str, size: int, workers: int, reason: str) -> dict:
    contender, method = split_cell(name)
    return {
        "workload": workload,
        "contender": contender,
        "start_method": method,
        "cell": name,
        "size": size,
        "workers": workers,
        "wall": None,
        "cpu": None,
        "digest": None,
        "error": reason,
    }


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Take every measurement and return the raw data of the run."""
    workloads = args.workloads or list(WORKLOADS)
    families = set(args.contenders) if args.contenders else None
    schedule = plan(workloads, families, args.start_methods)
    sizes = {w: WORKLOADS[w].quick_size if args.quick else WORKLOADS[w].size for w in workloads}
    started = time.time()
    load_before = machine.load_average()

    references: dict[str, dict[str, Any]] = {}
    for workload, _ in schedule:
        ref = measure_once(workload, "map", sizes[workload], args.workers, args.timeout)
        references[workload] = ref
        _say(f"reference  {workload:<13} map {_show(ref)}")

    records: list[dict[str, Any]] = []
    probes: list[float] = []
    busy: list[float | None] = []
    for rep in range(args.repeat):
        for workload, contenders in schedule:
            busy.append(machine.wait_until_quiet(args.quiet_below, args.quiet_wait))
            probes.append(machine.probe_speed())
            records += run_workload(args, workload, contenders, rep, sizes[workload], references)

    return {
        "config": {
            "quick": args.quick,
            "repeat": args.repeat,
            "workers": args.workers,
            "start_methods": [m for m in START_METHODS if m in args.start_methods],
            "sizes": sizes,
            "schedule": schedule,
            "command": " ".join(["python -m benchmarks", *args.argv]),
            "seconds": round(time.time() - started, 1),
        },
        "machine": machine.describe(ROOT)
        | {"load_before": load_before, "load_after": machine.load_average()},
        "speed_probe_ms": [round(p, 2) for p in probes],
        "busy_elsewhere": [None if b is None else round(b, 3) for b in busy],
        "references": {w: ref["digest"] for w, ref in references.items()},
        "records": records,
    }


def run_workload(
    args: argparse.Namespace,
    workload: str,
    contenders: list[str],
    rep: int,
    size: int,
    references: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Measure each contender once on ``workload`` (repeat ``rep``) and verify the results."""
    records = []
    # A cached rerun must follow the cold run that filled its cache: one fresh directory
    # per repeat, shared by the pair.
    cache_dir = tempfile.mkdtemp(prefix="parmap-bench-") if workload == "cache" else None
    try:
        for contender in _order(workload, contenders, rep):
            calm = None
            if args.quiet_wait > 0:
                calm = machine.wait_until_quiet(args.quiet_below, args.quiet_wait)
            record = measure_once(workload, contender, size, args.workers, args.timeout, cache_dir)
            record |= {"repeat": rep, "busy_before": calm}
            record["verdict"] = _verdict(record, references[workload])
            records.append(record)
            _say(f"[{rep + 1}/{args.repeat}] {workload:<13} {contender:<25} {_show(record)}")
    finally:
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return records


def _order(workload: str, contenders: list[str], rep: int) -> list[str]:
    """Round-robin: each repeat starts one contender later than the one before.

    The cache workload keeps its order: the cold run fills the cache the rerun reads.
    """
    if workload == "cache":
        return contenders
    shift = rep % len(contenders)
    return contenders[shift:] + contenders[:shift]


def _verdict(record: dict[str, Any], reference: dict[str, Any]) -> str:
    if record["error"] is None and reference["digest"] is None:
        # Without map's results nothing can be verified, so nothing is timed either.
        record["error"] = f"not verified: the reference run of map failed ({reference['error']})"
    if record["error"] is not None:
        return "error"
    return "ok" if record["digest"] == reference["digest"] else "FAIL"


def _show(record: dict[str, Any]) -> str:
    if record.get("error"):
        return f"error: {record['error']}"
    text = f"{record['wall']:.3f} s"
    if record.get("verdict") == "FAIL":
        text += "  FAIL (results differ from map)"
    return text


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--workloads", type=_names(WORKLOADS), help="comma-separated")
    parser.add_argument("--contenders", type=_names(CONTENDERS, families=True))
    parser.add_argument("--repeat", type=int, help="measurements per cell (default 5, quick 1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--start-methods",
        type=_names(dict.fromkeys(START_METHODS)),
        default=list(START_METHODS),
        metavar="M,M",
        help="start methods each process pool runs on (default: fork,forkserver,spawn)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per measurement")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="S",
        help="before each measurement, wait up to S seconds for other programs to calm down",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.15,
        metavar="F",
        help="what calm means for --quiet-wait: other programs' CPU use below F (0-1)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="measure nothing: redraw the reports from a latest.json written earlier",
    )
    parser.add_argument("--out", type=Path, help="default: benchmarks/results (quick: .../quick)")
    parser.add_argument(
        "--readme",
        nargs="?",
        type=Path,
        const=Path(__file__).resolve().parent / "README.md",
        metavar="FILE",
        help="also write the results section of FILE (default: benchmarks/README.md)",
    )
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    if args.out is None:
        args.out = RESULTS / "quick" if args.quick else RESULTS
    return args


def _names(known: dict[str, Any], families: bool = False) -> Any:
    choices = set(known) | ({c.family for c in CONTENDERS.values()} if families else set())

    def convert(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(choices), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise argparse.ArgumentTypeError(
                f"unknown name {unknown[0]!r}{hint}; choose from {', '.join(sorted(choices))}"
            )
        return names

    return convert


def precompile() -> None:
    """Write the bytecode of parmap and the benchmarks, as an installed package has it."""
    import compileall

    for folder in ("parmap", "benchmarks"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write the JSON, Markdown and PNG reports."""
    args = parse(argv)
    if args.from_json is not None:
        data = json.loads(args.from_json.read_text())
        data = {k: v for k, v in data.items() if k not in ("summary", "targets", "anchors")}
    else:
        precompile()
        data = run_suite(args)
    from benchmarks import chart, report

    args.out.mkdir(parents=True, exist_ok=True)
    summary = report.write(data, args.out, args.readme)
    chart.draw(data, summary, args.out / "latest.png")
    _say(f"wrote {args.out}/latest.md, latest.json, latest.png")
    probes = data["speed_probe_ms"]
    low, mid, high = min(probes), statistics.median(probes), max(probes)
    _say(f"20 ms speed probe: median {mid:.1f} ms, range {low:.1f}-{high:.1f} ms")
    return 0
