"""Write a run's raw data as JSON and its summary as a Markdown report."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks import anchors, targets
from benchmarks.contenders import CONTENDERS, START_METHODS, cell
from benchmarks.summary import Row, summarize
from benchmarks.workloads import WORKLOADS

X = "\u00d7"

#: Contenders of the table by start method (the full table lists every one).
GLANCE = (
    "map",
    "pool",
    "ppe1",
    "joblib",
    "parmap",
    "parmap_workers",
    "parmap_held",
    "parmap_cold",
    "parmap_cached",
)

#: Markers around the table that ``--readme`` replaces in a README.
BEGIN = "<!-- results: written by python -m benchmarks --readme; do not edit -->"
END = "<!-- end of results -->"


def write(data: dict[str, Any], out: Path, readme: Path | None = None) -> list[Row]:
    """Write ``latest.json`` and ``latest.md`` into ``out`` and return the summary rows.

    With ``readme``, also replace that file's results section (see :func:`update_readme`).
    """
    data = upgrade(data)
    order = [(w, c) for w, cells in data["config"]["schedule"] for c in cells]
    rows = summarize(data["records"], order, _methods(data))
    verdicts = targets.judge(rows)
    lines = anchors.compare(rows)
    full = data | {
        "summary": [row.as_dict() for row in rows],
        "targets": [v.__dict__ for v in verdicts],
        "anchors": lines,
    }
    (out / "latest.json").write_text(json.dumps(full, indent=1) + "\n")
    (out / "latest.md").write_text(render(data, rows, verdicts, lines))
    if readme is not None:
        update_readme(readme, readme_block(data, rows, verdicts))
    return rows


def _methods(data: dict[str, Any]) -> list[str]:
    return data["config"]["start_methods"]


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Return a run saved before start methods were measured, with its cells named.

    Such runs measured every pool on the platform's default start method, fork on Linux.
    """
    if "start_methods" in data["config"]:
        return data

    def named(contender: str) -> str:
        return contender if CONTENDERS[contender].method else cell(contender, "fork")

    schedule = [(w, [named(c) for c in cells]) for w, cells in data["config"]["schedule"]]
    records = [r | {"cell": named(r["contender"])} for r in data["records"]]
    config = data["config"] | {"start_methods": ["fork"], "schedule": schedule}
    return data | {"config": config, "records": records}


def render(
    data: dict[str, Any],
    rows: list[Row],
    verdicts: list[targets.Verdict],
    lines: list[dict[str, str]],
) -> str:
    """Return the Markdown report."""
    cfg = data["config"]
    out = [
        "# parmap benchmarks",
        "",
        *_about(data),
        "",
        "## By start method",
        "",
        *glance(data, rows),
        "",
        "## Targets",
        "",
        "Judged from this run only; each compares parmap with contenders measured alongside it "
        "on the same start method. The cache and check ratios are medians of per-repeat "
        "ratios of the two variants, which run back to back; at about 20 ms a call, a 5 % "
        "difference is within noise.",
        "",
        *_targets(verdicts),
        "",
        "## All results",
        "",
        "Median wall time (fastest-slowest in brackets); ratios are medians divided by builtin "
        f"`map`'s and `Pool.map`'s medians on the same workload in this run, `Pool.map` on the "
        f"same start method (below 1{X} is faster; for `map` and joblib, `Pool.map` on "
        f"{_methods(data)[0]}). Efficiency = CPU time the function itself used in the "
        f"workers / (workers {X} wall time); 100 % is the physical limit. *Exit* is the "
        "median time from the result to the measuring process's exit, outside the clock: "
        "the interpreter's shutdown, with the workers a library keeps for later calls and "
        "closes only at exit.",
        "",
        f"| workload | start method | contender | median | range | {X} map | {X} Pool.map "
        "| efficiency | exit | runs |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    sizes = cfg["sizes"]
    previous = None
    for row in _by_method(rows):
        title = WORKLOADS[row.workload].title.format(n=sizes[row.workload])
        first = f"**{row.workload}**<br>{title}" if row.workload != previous else ""
        previous = row.workload
        label = f"**{row.label}**" if row.contender.startswith("parmap") else row.label
        out.append(f"| {first} | {row.method} | {label} | " + " | ".join(_cells(row)) + " |")
    out += [
        "",
        "## Anchors (reference figures for today's pools)",
        "",
        "*agrees*: within ±30 % of the reference figure (the CPUs' own drift); *close*: within "
        "a factor of 2; *differs*: further off. The reference figures were taken on fork, so "
        "the fork rows are compared. Speed-ups are over a `map` timed in other "
        f"processes, so they carry the drift of both (above 2.0{X} on 2 workers means `map` "
        "met a slow moment); efficiencies do not. The big_args ratios to `map` depend on "
        "what the trivial function costs (here a full `sum`, about 1 ms per 8 MB array; the "
        "reference does not say which it used); their ratios to `Pool.map` do not.",
        "",
        "| workload | figure | reference | this run | agreement |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for line in lines:
        out.append(
            f"| {line['workload']} | {line['what']} | {line['reference']} | {line['measured']} "
            f"| {line['agreement']} |"
        )
    return "\n".join(out) + "\n"


def _about(data: dict[str, Any]) -> list[str]:
    cfg, info = data["config"], data["machine"]
    kind = "Quick run (smaller sizes; not for comparison)" if cfg["quick"] else "Full run"
    probes = data["speed_probe_ms"]
    libs = ", ".join(f"{name} {version}" for name, version in info["libraries"].items())
    return [
        f"{kind}: `{cfg['command']}`, {info['date']}, {cfg['seconds']:.0f} s.",
        f"{cfg['repeat']} measurement{'s' if cfg['repeat'] != 1 else ''} per cell, "
        f"{cfg['workers']} workers, start methods "
        f"{', '.join(_methods(data))}; each measurement in a fresh process, contenders "
        "interleaved round-robin. The time is the whole call as a user sees it (for the "
        "multi-call workloads, every call: a pool per call included): pool start-up and "
        "shutdown included, library import excluded. Every result list is checked against "
        "builtin `map`; a mismatch is `FAIL` and not timed.",
        "",
        f"- **Machine:** {info['cpu']}, {info['logical_cpus']} logical CPUs "
        f"({info['usable_cpus']} usable), {info['memory_gb']} GB RAM, {info['os']}",
        f"- **Python:** {info['implementation']} {info['python']}; {libs}; "
        f"tree at commit {info['commit'] or 'none'}",
        f"- **Noise:** a 20 ms CPU spin, timed before each workload of each repeat, took "
        f"{statistics.median(probes):.1f} ms median ({min(probes):.1f}-{max(probes):.1f} ms "
        f"over {len(probes)} probes); {_busy(data)} load average {info['load_before']} "
        f"before, {info['load_after']} after.",
    ]


def glance(data: dict[str, Any], rows: list[Row]) -> list[str]:
    """The table by start method: one row per contender, one column per start method.

    Each cell is the median wall time, its ratio to ``Pool.map`` on that start method and,
    on CPU-bound workloads, the efficiency. ``map`` and joblib start no worker the
    ``multiprocessing`` way: their one figure stands in every column, beside that column's
    ``Pool.map``.
    """
    methods = [m for m in START_METHODS if m in _methods(data)]
    sizes = data["config"]["sizes"]
    out = [
        "Median wall time of the whole call, its ratio to `Pool.map` on the same start "
        "method, and on CPU-bound workloads the efficiency (CPU time of the function / "
        f"(workers {X} wall)). forkserver is Linux's default from Python 3.14, fork before "
        "it, spawn on macOS and Windows. `map` runs in the caller and joblib starts its "
        "workers its own way (loky): their one figure is repeated in every column.",
        "",
        "| workload | contender | " + " | ".join(methods) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in methods) + " |",
    ]
    previous = None
    workloads = list(dict.fromkeys(row.workload for row in rows))
    for workload in workloads:
        mine = [r for r in rows if r.workload == workload and r.contender in GLANCE]
        pools = {r.method: r for r in rows if r.workload == workload and r.contender == "pool"}
        for contender in dict.fromkeys(r.contender for r in mine):
            same = {r.method: r for r in mine if r.contender == contender}
            first = ""
            if workload != previous:
                title = WORKLOADS[workload].title.format(n=sizes[workload])
                first = f"**{workload}**<br>{title}"
                previous = workload
            label = next(iter(same.values())).label
            own = next(iter(same)) if len(same) == 1 and next(iter(same)) not in methods else ""
            label = f"{label} ({own})" if own and own != "-" else label
            label = f"**{label}**" if contender.startswith("parmap") else label
            cells = [
                _glance_cell(same.get(m) or same.get(own), pools.get(m), workload) for m in methods
            ]
            out.append(f"| {first} | {label} | " + " | ".join(cells) + " |")
    return out


def _glance_cell(row: Row | None, pool: Row | None, workload: str) -> str:
    if row is None:
        return "-"
    if row.median is None:
        return "error" if row.status != "FAIL" else "FAIL"
    parts = [_time(row.median)]
    base = WORKLOADS[workload].baseline is None and pool is not None and pool.median
    if base and row.contender != "pool":
        parts.append(f"{_ratio(row.median / pool.median)} Pool.map")
    if row.efficiency is not None:
        parts.append(f"{row.efficiency:.0%}")
    return ", ".join(parts)


def _targets(verdicts: list[targets.Verdict]) -> list[str]:
    out = [
        "| workload | start method | target | parmap | best other pool | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for v in verdicts:
        status = f"**{v.status}**" if v.status == "met" else v.status
        out.append(
            f"| {v.workload} | {v.method} | {v.target} | {v.measured} | {v.best_other} | {status} |"
        )
    return out


def readme_block(data: dict[str, Any], rows: list[Row], verdicts: list[targets.Verdict]) -> str:
    """The README's results section: the run, the table by start method, the targets."""
    lines = [
        BEGIN,
        "",
        *_about(data),
        "",
        *glance(data, rows),
        "",
        *_targets(verdicts),
        "",
        END,
    ]
    return "\n".join(lines)


def update_readme(path: Path, block: str) -> None:
    """Replace the text between the markers of ``path`` with ``block``.

    Raises:
        ValueError: ``path`` lacks the markers.
    """
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no results section: add the two lines {BEGIN} and {END}")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(head + block + tail)


def _by_method(rows: list[Row]) -> list[Row]:
    """Rows by workload, then start method in report order, then contender."""
    rank = {"-": 0, **{m: i + 1 for i, m in enumerate(START_METHODS)}}
    workloads = list(dict.fromkeys(row.workload for row in rows))
    return sorted(
        rows,
        key=lambda r: (workloads.index(r.workload), rank.get(r.method, len(rank))),
    )


def _cells(row: Row) -> list[str]:
    if row.median is None:
        status = row.status.replace("|", "\\|")
        return [status, "", "", "", "", "", f"0/{row.attempts}"]
    spread = _spread(row.low, row.high)
    vs_map = _ratio(row.vs_map)
    vs_pool = _ratio(row.vs_pool)
    eff = f"{row.efficiency:.0%}" if row.efficiency is not None else ""
    runs = f"{row.runs}/{row.attempts}"
    if row.status != "ok":
        runs += f" ({row.status})"
    return [_time(row.median), spread, vs_map, vs_pool, eff, _time(row.exit), runs]


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.2f} s"


def _spread(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    if high < 1:
        return f"{low * 1000:.3g}-{high * 1000:.3g} ms"
    return f"{low:.2f}-{high:.2f} s" if low >= 1 else f"{_time(low)}-{_time(high)}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.01:
        return f"<0.01{X}"
    return f"{value:.2f}{X}" if value < 10 else f"{value:,.0f}{X}"


def _busy(data: dict[str, Any]) -> str:
    samples = [b for b in data.get("busy_elsewhere", []) if b is not None]
    if not samples:
        return ""
    return (
        f"other programs kept the CPUs {statistics.median(samples):.0%} busy "
        f"(median; up to {max(samples):.0%}) while the runner idled between workloads;"
    )
