"""The performance targets, judged from one run's rows.

Each target compares parmap with a contender measured in the same run (or states an
efficiency), so that the ±20-30 % drift of virtual CPUs between runs cancels out as far as
it can. A target without a parmap figure is ``no data``, never ``met``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.summary import Row, find, paired_ratio

X = "\u00d7"
OTHERS = ("pool", "imap1", "ppe1", "ppe", "joblib", "pathos", "mpire", "multiprocess")


@dataclass(frozen=True)
class Verdict:
    """One target and how this run fared against it.

    Attributes:
        workload: Workload name.
        target: The target as stated.
        measured: parmap's figure, in the target's terms.
        best_other: The best other pool's figure in the same terms, for context.
        status: ``"met"``, ``"not met"`` or ``"no data"``.
    """

    workload: str
    target: str
    measured: str
    best_other: str
    status: str


def _ok(row: Row | None) -> bool:
    return row is not None and row.median is not None


def _best(rows: list[Row], workload: str, key: Callable[[Row], float | None], high: bool) -> str:
    scored = [
        (value, row.label)
        for name in OTHERS
        if _ok(row := find(rows, workload, name)) and (value := key(row)) is not None
    ]
    if not scored:
        return "-"
    value, label = max(scored) if high else min(scored)
    return f"{_fmt(key, value)} ({label})"


def _fmt(key: Callable[[Row], float | None], value: float) -> str:
    if key is _eff:
        return f"{value:.0%}"
    if key is _throughput:
        return f"{value:.2f}{X} Pool.map"
    return f"{value:.2f}{X}"


def _eff(row: Row) -> float | None:
    return row.efficiency


def _throughput(row: Row) -> float | None:
    return 1 / row.vs_pool if row.vs_pool else None


def _vs_map(row: Row) -> float | None:
    return row.vs_map


def _vs_pool(row: Row) -> float | None:
    return row.vs_pool


def judge(rows: list[Row]) -> list[Verdict]:
    """Return one verdict per target, in their stated order."""
    verdicts = []
    workloads = ("tiny", "medium", "skewed", "big_args", "big_results", "startup")
    parmap = {w: find(rows, w, "parmap") for w in workloads}

    tiny = parmap["tiny"]
    target = f"{_le(2)} builtin map ({_le(0.4)} Pool.map)"
    if _ok(tiny) and tiny.vs_map is not None and tiny.vs_pool is not None:
        met = tiny.vs_map <= 2 and tiny.vs_pool <= 0.4
        text = f"{tiny.vs_map:.2f}{X} map, {tiny.vs_pool:.2f}{X} Pool.map"
        verdicts.append(Verdict("tiny", target, text, _best(rows, "tiny", _vs_map, False), _s(met)))
    else:
        verdicts.append(_no_data("tiny", target, tiny, _best(rows, "tiny", _vs_map, False)))

    for workload, floor in (("medium", 0.96), ("skewed", 0.93)):
        row = parmap[workload]
        target = f"{_ge(f'{floor:.0%}')} efficiency, cold"
        best = _best(rows, workload, _eff, True)
        if _ok(row) and row.efficiency is not None:
            verdicts.append(
                Verdict(
                    workload, target, f"{row.efficiency:.0%}", best, _s(row.efficiency >= floor)
                )
            )
        else:
            verdicts.append(_no_data(workload, target, row, best))

    for workload in ("big_args", "big_results"):
        row = parmap[workload]
        target = f"{_ge(2)} Pool.map's throughput, cold"
        best = _best(rows, workload, _throughput, True)
        if _ok(row) and row.vs_pool:
            throughput = 1 / row.vs_pool
            text = f"{throughput:.2f}{X} Pool.map"
            verdicts.append(Verdict(workload, target, text, best, _s(throughput >= 2)))
        else:
            verdicts.append(_no_data(workload, target, row, best))

    row = parmap["startup"]
    target = "\u2264 Pool.map's time"
    best = _best(rows, "startup", _vs_pool, False)
    if _ok(row) and row.vs_pool is not None:
        text = f"{row.vs_pool:.2f}{X} Pool.map ({row.median * 1000:.0f} ms)"
        verdicts.append(Verdict("startup", target, text, best, _s(row.vs_pool <= 1)))
    else:
        verdicts.append(_no_data("startup", target, row, best))

    verdicts.append(_pair(rows, "cache", "parmap_cached", "parmap_cold", 0.05, "the cold run"))
    verdicts.append(_pair(rows, "check", "parmap_check", "parmap_nocheck", 1.05, "check=False"))
    return verdicts


def _pair(rows: list[Row], workload: str, num: str, den: str, limit: float, what: str) -> Verdict:
    """Judge a ratio of two parmap variants run back to back in each repeat.

    The verdict uses the median of the per-repeat ratios (see ``paired_ratio``); the ratio
    of the two medians is shown alongside.
    """
    target = f"{_le(limit)} {what}"
    top, bottom = find(rows, workload, num), find(rows, workload, den)
    if _ok(top) and _ok(bottom) and (ratio := paired_ratio(top, bottom)) is not None:
        text = f"{ratio:.3f}{X} (paired); {top.median / bottom.median:.3f}{X} (medians)"
        return Verdict(workload, target, text, "-", _s(ratio <= limit))
    missing = top if not _ok(top) else bottom
    return _no_data(workload, target, missing, "-")


def _no_data(workload: str, target: str, row: Row | None, best: str) -> Verdict:
    reason = "not measured" if row is None else row.status
    return Verdict(workload, target, reason, best, "no data")


def _s(met: bool) -> str:
    return "met" if met else "not met"


def _le(value: float) -> str:
    return f"\u2264 {value}{X}"


def _ge(value: float | str) -> str:
    return f"\u2265 {value}" if isinstance(value, str) else f"\u2265 {value}{X}"
