"""The performance targets, judged from one run's rows.

Each target compares parmap with a contender measured in the same run, on the same start
method (or states an efficiency), so that the ±20-30 % drift of virtual CPUs between runs
cancels out as far as it can. A target without a parmap figure is ``no data``, never ``met``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.contenders import CONTENDERS, START_METHODS
from benchmarks.summary import Row, find, paired_ratio

X = "\u00d7"
OTHERS = ("pool", "imap1", "ppe1", "ppe", "joblib", "pathos", "mpire", "multiprocess")


@dataclass(frozen=True)
class Verdict:
    """One target and how this run fared against it.

    Attributes:
        workload: Workload name.
        method: The start method the target is judged on.
        target: The target as stated.
        measured: parmap's figure, in the target's terms.
        best_other: The best other pool's figure in the same terms, for context.
        status: ``"met"``, ``"not met"`` or ``"no data"``.
    """

    workload: str
    method: str
    target: str
    measured: str
    best_other: str
    status: str


def _ok(row: Row | None) -> bool:
    return row is not None and row.median is not None


def pool_row(rows: list[Row], workload: str, name: str, method: str) -> Row | None:
    """Return the row of pool ``name`` on ``method`` (joblib: its only row)."""
    # joblib starts its workers its own way: it stands beside every start method.
    own = CONTENDERS[name].method is not None
    return find(rows, workload, name) if own else find(rows, workload, name, method)


def _best(
    rows: list[Row],
    workload: str,
    key: Callable[[Row], float | None],
    high: bool,
    method: str,
) -> str:
    scored = [
        (value, row.label + (f" ({row.method})" if row.method != method else ""))
        for name in OTHERS
        if _ok(row := pool_row(rows, workload, name, method)) and (value := key(row)) is not None
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


def _methods(rows: list[Row]) -> list[str]:
    seen = {row.method for row in rows}
    return [m for m in START_METHODS if m in seen]


def judge(rows: list[Row]) -> list[Verdict]:
    """Return one verdict per target and start method, in their stated order."""
    methods = _methods(rows)
    verdicts = []
    for method in methods:
        verdicts += _repeated(rows, "parmap", method)
    for method in methods:
        verdicts += _repeated(rows, "parmap_held", method)
    for workload, floor in (("medium", 0.96), ("skewed", 0.95)):
        for method in methods:
            verdicts.append(_efficiency(rows, workload, method, floor, "cold"))
    for method in methods:
        limit = 1.0 if method == "fork" else 0.5
        verdicts.append(_startup(rows, method, limit))
    for method in methods:
        verdicts.append(_tiny(rows, method))
    for workload in ("big_args", "big_results"):
        for method in methods:
            verdicts.append(_big(rows, workload, method))
    lead = methods[0] if methods else "fork"
    verdicts.append(
        _pair(rows, "cache", "parmap_cached", "parmap_cold", 0.05, "the cold run", lead)
    )
    verdicts.append(
        _pair(rows, "check", "parmap_check", "parmap_nocheck", 1.05, "check=False", lead)
    )
    return verdicts


def _repeated(rows: list[Row], name: str, method: str) -> list[Verdict]:
    """Repeated calls: an efficiency floor, and on forkserver and spawn, ahead of joblib."""
    floor = 0.90 if method == "fork" else 0.85
    shown = "repeated" if name == "parmap" else "repeated, one backend held"
    verdict = _efficiency(rows, "repeated", method, floor, "over the 10 calls", name, shown)
    if method == "fork":
        return [verdict]
    row, joblib = find(rows, "repeated", name, method), find(rows, "repeated", "joblib")
    target = "faster than joblib (warm loky)"
    if _ok(row) and _ok(joblib):
        ratio = row.median / joblib.median
        text = f"{_seconds(row.median)}, {ratio:.2f}{X} joblib's {_seconds(joblib.median)}"
        return [verdict, Verdict(shown, method, target, text, "-", _s(ratio < 1))]
    missing = row if not _ok(row) else joblib
    return [verdict, _no_data(shown, method, target, missing, "-")]


def _efficiency(
    rows: list[Row],
    workload: str,
    method: str,
    floor: float,
    what: str,
    name: str = "parmap",
    shown: str | None = None,
) -> Verdict:
    row = find(rows, workload, name, method)
    target = f"{_ge(f'{floor:.0%}')} efficiency, {what}"
    best = _best(rows, workload, _eff, True, method)
    shown = shown or workload
    if _ok(row) and row.efficiency is not None:
        status = _s(row.efficiency >= floor)
        return Verdict(shown, method, target, f"{row.efficiency:.0%}", best, status)
    return _no_data(shown, method, target, row, best)


def _startup(rows: list[Row], method: str, limit: float) -> Verdict:
    row = find(rows, "startup", "parmap", method)
    target = f"{_le(limit)} Pool.map's time" if limit != 1 else "\u2264 Pool.map's time"
    best = _best(rows, "startup", _vs_pool, False, method)
    if _ok(row) and row.vs_pool is not None:
        text = f"{row.vs_pool:.2f}{X} Pool.map ({_seconds(row.median)})"
        return Verdict("startup", method, target, text, best, _s(row.vs_pool <= limit))
    return _no_data("startup", method, target, row, best)


def _tiny(rows: list[Row], method: str) -> Verdict:
    row = find(rows, "tiny", "parmap", method)
    target = f"{_le(2)} builtin map ({_le(0.4)} Pool.map)"
    best = _best(rows, "tiny", _vs_map, False, method)
    if _ok(row) and row.vs_map is not None and row.vs_pool is not None:
        met = row.vs_map <= 2 and row.vs_pool <= 0.4
        text = f"{row.vs_map:.2f}{X} map, {row.vs_pool:.2f}{X} Pool.map"
        return Verdict("tiny", method, target, text, best, _s(met))
    return _no_data("tiny", method, target, row, best)


def _big(rows: list[Row], workload: str, method: str) -> Verdict:
    row = find(rows, workload, "parmap", method)
    target = f"{_ge(2)} Pool.map's throughput, cold"
    best = _best(rows, workload, _throughput, True, method)
    if _ok(row) and row.vs_pool:
        throughput = 1 / row.vs_pool
        text = f"{throughput:.2f}{X} Pool.map"
        return Verdict(workload, method, target, text, best, _s(throughput >= 2))
    return _no_data(workload, method, target, row, best)


def _pair(
    rows: list[Row], workload: str, num: str, den: str, limit: float, what: str, method: str
) -> Verdict:
    """Judge a ratio of two parmap variants run back to back in each repeat.

    The verdict uses the median of the per-repeat ratios (see ``paired_ratio``); the ratio
    of the two medians is shown alongside.
    """
    target = f"{_le(limit)} {what}"
    top, bottom = find(rows, workload, num, method), find(rows, workload, den, method)
    if _ok(top) and _ok(bottom) and (ratio := paired_ratio(top, bottom)) is not None:
        text = f"{ratio:.3f}{X} (paired); {top.median / bottom.median:.3f}{X} (medians)"
        return Verdict(workload, method, target, text, "-", _s(ratio <= limit))
    missing = top if not _ok(top) else bottom
    return _no_data(workload, method, target, missing, "-")


def _no_data(workload: str, method: str, target: str, row: Row | None, best: str) -> Verdict:
    reason = "not measured" if row is None else row.status
    return Verdict(workload, method, target, reason, best, "no data")


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _s(met: bool) -> str:
    return "met" if met else "not met"


def _le(value: float) -> str:
    return f"\u2264 {value}{X}"


def _ge(value: float | str) -> str:
    return f"\u2265 {value}" if isinstance(value, str) else f"\u2265 {value}{X}"
