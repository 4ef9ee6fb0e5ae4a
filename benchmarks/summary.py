"""Turn raw measurements into one row per workload and contender: medians, spread, ratios.

A measurement counts only when it finished without error and its results digest matched
builtin ``map``'s; a mismatch makes the row ``FAIL`` and is never timed.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.contenders import CONTENDERS, START_METHODS, cell, method_of, split_cell
from benchmarks.workloads import WORKLOADS


@dataclass
class Row:
    """The summary of one contender on one workload.

    Attributes:
        workload: Workload name.
        contender: Contender name.
        cell: The contender and its start method, as the schedule names it (``pool@spawn``).
        method: The start method as reports show it (``"-"`` for ``map``, ``"loky"``).
        label: Contender label for reports.
        runs: Measurements that counted.
        attempts: Measurements taken.
        median: Median wall time in seconds, or ``None`` when nothing counted.
        low: Fastest wall time counted.
        high: Slowest wall time counted.
        vs_map: ``median`` divided by builtin ``map``'s median on the baseline workload.
        vs_pool: ``median`` divided by ``Pool.map``'s median on the baseline workload, on the
            same start method (for ``map`` and joblib: on the run's first start method).
        efficiency: Median of CPU time in the function divided by (workers * wall), CPU-bound only.
        exit: Median seconds from the result to the measuring process's exit: the
            interpreter's shutdown, with whatever pools or workers are closed at exit.
        status: ``"ok"``, ``"FAIL"`` (results differ from ``map``) or an error text.
        by_repeat: Wall time of each counted measurement, keyed by its repeat.
    """

    workload: str
    contender: str
    cell: str
    method: str
    label: str
    runs: int
    attempts: int
    median: float | None = None
    low: float | None = None
    high: float | None = None
    vs_map: float | None = None
    vs_pool: float | None = None
    efficiency: float | None = None
    exit: float | None = None
    status: str = "ok"
    by_repeat: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the row as plain JSON-ready data."""
        return asdict(self)


def efficiency(record: dict[str, Any]) -> float | None:
    """Return the function's CPU time divided by (workers * wall time) for one measurement."""
    if record.get("cpu") is None or not record.get("wall"):
        return None
    workers = record["workers"] if CONTENDERS[record["contender"]].parallel else 1
    return record["cpu"] / (workers * record["wall"])


def summarize(
    records: list[dict[str, Any]], order: list[tuple[str, str]], methods: list[str] | None = None
) -> list[Row]:
    """Build the rows, in ``order`` (pairs of workload and cell names).

    Each record must carry ``verdict``: ``"ok"``, ``"FAIL"`` or ``"error"``. ``methods`` are
    the run's start methods; the first gives ``map``'s and joblib's ratio to ``Pool.map``.
    """
    rows = [
        _row(w, c, [r for r in records if (r["workload"], _cell_of(r)) == (w, c)]) for w, c in order
    ]
    lead = (methods or list(START_METHODS))[0]
    medians = {(row.workload, row.cell): row.median for row in rows}
    for row in rows:
        base = WORKLOADS[row.workload].baseline or row.workload
        if row.median is None:
            continue
        method = split_cell(row.cell)[1] or lead
        if medians.get((base, "map")):
            row.vs_map = row.median / medians[(base, "map")]
        pool = medians.get((base, cell("pool", method))) or medians.get((base, "pool"))
        if pool:
            row.vs_pool = row.median / pool
    return rows


def _cell_of(record: dict[str, Any]) -> str:
    # Records written before start methods were a dimension name only their contender.
    return record.get("cell") or cell(record["contender"], record.get("start_method"))


def _row(workload: str, name: str, records: list[dict[str, Any]]) -> Row:
    good = [r for r in records if r["verdict"] == "ok"]
    contender = split_cell(name)[0]
    label = CONTENDERS[contender].label
    row = Row(workload, contender, name, method_of(name), label, len(good), len(records))
    failed = [r for r in records if r["verdict"] == "FAIL"]
    errors = [r for r in records if r["verdict"] == "error"]
    if failed:
        row.status = f"FAIL: results differ from map in {len(failed)} of {len(records)} runs"
    elif errors:
        row.status = (
            errors[0]["error"]
            if len(errors) == len(records)
            else (f"{len(errors)} of {len(records)} runs failed: {errors[0]['error']}")
        )
    if failed or not good:
        return row
    walls = [r["wall"] for r in good]
    row.by_repeat = {r.get("repeat", i): r["wall"] for i, r in enumerate(good)}
    row.median, row.low, row.high = statistics.median(walls), min(walls), max(walls)
    exits = [r["exit"] for r in good if r.get("exit") is not None]
    row.exit = statistics.median(exits) if exits else None
    effs = [e for e in map(efficiency, good) if e is not None]
    # A cached rerun returns the CPU times recorded by the cold run: no efficiency there.
    if effs and WORKLOADS[workload].timed_results and contender != "parmap_cached":
        row.efficiency = statistics.median(effs)
    return row


def find(rows: list[Row], workload: str, contender: str, method: str | None = None) -> Row | None:
    """Return the row of ``contender`` on ``workload`` and start method ``method``, if measured.

    ``method=None`` finds a contender that has no start method of its own (``map``,
    joblib), or else the contender on the first start method measured.
    """
    if method is not None:
        name = cell(contender, method)
        return next((r for r in rows if (r.workload, r.cell) == (workload, name)), None)
    return next((r for r in rows if (r.workload, r.contender) == (workload, contender)), None)


def paired_ratio(top: Row, bottom: Row) -> float | None:
    """Return the median over repeats of ``top``'s time divided by ``bottom``'s.

    Two contenders run one after the other within each repeat, so the ratio of each pair
    cancels most of the CPU drift that a ratio of two medians keeps.
    """
    common = sorted(set(top.by_repeat) & set(bottom.by_repeat))
    if not common:
        return None
    return statistics.median(top.by_repeat[r] / bottom.by_repeat[r] for r in common)
