"""Turn raw measurements into one row per workload and contender: medians, spread, ratios.

A measurement counts only when it finished without error and its results digest matched
builtin ``map``'s; a mismatch makes the row ``FAIL`` and is never timed.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.contenders import CONTENDERS
from benchmarks.workloads import WORKLOADS


@dataclass
class Row:
    """The summary of one contender on one workload.

    Attributes:
        workload: Workload name.
        contender: Contender name.
        label: Contender label for reports.
        runs: Measurements that counted.
        attempts: Measurements taken.
        median: Median wall time in seconds, or ``None`` when nothing counted.
        low: Fastest wall time counted.
        high: Slowest wall time counted.
        vs_map: ``median`` divided by builtin ``map``'s median on the baseline workload.
        vs_pool: ``median`` divided by ``Pool.map``'s median on the baseline workload.
        efficiency: Median of CPU time in the function divided by (workers * wall), CPU-bound only.
        status: ``"ok"``, ``"FAIL"`` (results differ from ``map``) or an error text.
        by_repeat: Wall time of each counted measurement, keyed by its repeat.
    """

    workload: str
    contender: str
    label: str
    runs: int
    attempts: int
    median: float | None = None
    low: float | None = None
    high: float | None = None
    vs_map: float | None = None
    vs_pool: float | None = None
    efficiency: float | None = None
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


def summarize(records: list[dict[str, Any]], order: list[tuple[str, str]]) -> list[Row]:
    """Build the rows, in ``order`` (pairs of workload and contender names).

    Each record must carry ``verdict``: ``"ok"``, ``"FAIL"`` or ``"error"``.
    """
    rows = [
        _row(w, c, [r for r in records if (r["workload"], r["contender"]) == (w, c)])
        for w, c in order
    ]
    medians = {(row.workload, row.contender): row.median for row in rows}
    for row in rows:
        base = WORKLOADS[row.workload].baseline or row.workload
        if row.median is None:
            continue
        if medians.get((base, "map")):
            row.vs_map = row.median / medians[(base, "map")]
        if medians.get((base, "pool")):
            row.vs_pool = row.median / medians[(base, "pool")]
    return rows


def _row(workload: str, contender: str, records: list[dict[str, Any]]) -> Row:
    good = [r for r in records if r["verdict"] == "ok"]
    row = Row(workload, contender, CONTENDERS[contender].label, len(good), len(records))
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
    effs = [e for e in map(efficiency, good) if e is not None]
    # A cached rerun returns the CPU times recorded by the cold run: no efficiency there.
    if effs and WORKLOADS[workload].timed_results and contender != "parmap_cached":
        row.efficiency = statistics.median(effs)
    return row


def find(rows: list[Row], workload: str, contender: str) -> Row | None:
    """Return the row of ``contender`` on ``workload``, if it was measured."""
    for row in rows:
        if (row.workload, row.contender) == (workload, contender):
            return row
    return None


def paired_ratio(top: Row, bottom: Row) -> float | None:
    """Return the median over repeats of ``top``'s time divided by ``bottom``'s.

    Two contenders run one after the other within each repeat, so the ratio of each pair
    cancels most of the CPU drift that a ratio of two medians keeps.
    """
    common = sorted(set(top.by_repeat) & set(bottom.by_repeat))
    if not common:
        return None
    return statistics.median(top.by_repeat[r] / bottom.by_repeat[r] for r in common)
