"""One measurement in a fresh interpreter: build the items, time one call, print one JSON line.

Run as ``python -m benchmarks.measure --workload tiny --contender pool``. It imports only
the workload module and the contender's library, so each measurement starts as cold as a
user's script. The result line starts with :data:`MARKER` so that anything a library prints
on stdout cannot be mistaken for it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

from benchmarks.contenders import CONTENDERS, START_METHODS, run_calls
from benchmarks.workloads import WORKLOADS, digest, split_timed

MARKER = "BENCH-RESULT "


def measure(
    workload: str,
    contender: str,
    size: int,
    workers: int,
    cache_dir: str | None,
    start_method: str | None = None,
) -> dict:
    """Time one call of ``contender`` on ``workload`` and describe it.

    A multi-call workload times all its calls together, one after the other, with whatever
    each contender pays per call (a pool per call, or one held across them).

    Returns:
        A dict with ``wall`` (seconds, whole call including pool start-up and shutdown),
        ``cpu`` (seconds the function spent in its own threads, for timed workloads),
        ``digest`` of the results with CPU times removed, ``import`` (seconds spent importing
        the library before the clock started) and ``error`` (``None`` or a one-line reason).
    """
    work = WORKLOADS[workload]
    spec = CONTENDERS[contender]
    record: dict[str, Any] = {
        "workload": workload,
        "contender": contender,
        "size": size,
        "workers": workers,
        "start_method": start_method,
        "pid": os.getpid(),
        "wall": None,
        "cpu": None,
        "digest": None,
        "import": None,
        "error": None,
    }
    options = dict(spec.options)
    if cache_dir is not None:
        options["cache"] = cache_dir
    if start_method is not None:
        options["start_method"] = start_method
    try:
        batches = work.batches(size)
        start = time.perf_counter()
        for module in spec.imports:
            importlib.import_module(module)
        record["import"] = time.perf_counter() - start

        start = time.perf_counter()
        if work.calls == 1:
            results = spec.runner(work.func, batches[0], workers, **options)
        else:
            per_call = run_calls(spec, work.func, batches, workers, **options)
        record["wall"] = time.perf_counter() - start
        if work.calls > 1:
            results = [result for call in per_call for result in call]
    except Exception as exc:  # noqa: BLE001 - any failure of a contender becomes its row's text
        record["error"] = _one_line(exc)
        record["traceback"] = traceback.format_exc(limit=-8)
        return record

    try:
        results = list(results)
        if work.timed_results:
            results, record["cpu"] = split_timed(results)
        record["digest"] = digest(results)
    except Exception as exc:  # noqa: BLE001 - malformed results are reported, not raised
        record["error"] = f"unexpected results: {_one_line(exc)}"
    return record


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:200]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure, print the result line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure")
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--contender", required=True, choices=sorted(CONTENDERS))
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir")
    parser.add_argument("--start-method", choices=START_METHODS)
    args = parser.parse_args(argv)
    record = measure(
        args.workload, args.contender, args.size, args.workers, args.cache_dir, args.start_method
    )
    sys.stdout.flush()
    # The runner subtracts this from the moment the process has exited: what the
    # interpreter's exit costs, pools closed at exit included (not part of the call).
    record["printed_at"] = time.time()
    print(MARKER + json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
