"""Write a run's raw data as JSON and its summary as a Markdown report."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks import anchors, targets
from benchmarks.summary import Row, summarize
from benchmarks.workloads import WORKLOADS

X = "\u00d7"


def write(data: dict[str, Any], out: Path) -> list[Row]:
    """Write ``latest.json`` and ``latest.md`` into ``out`` and return the summary rows."""
    order = [(w, c) for w, contenders in data["config"]["schedule"] for c in contenders]
    rows = summarize(data["records"], order)
    verdicts = targets.judge(rows)
    lines = anchors.compare(rows)
    full = data | {
        "summary": [row.as_dict() for row in rows],
        "targets": [v.__dict__ for v in verdicts],
        "anchors": lines,
    }
    (out / "latest.json").write_text(json.dumps(full, indent=1) + "\n")
    (out / "latest.md").write_text(render(data, rows, verdicts, lines))
    return rows


def render(
    data: dict[str, Any],
    rows: list[Row],
    verdicts: list[targets.Verdict],
    lines: list[dict[str, str]],
) -> str:
    """Return the Markdown report."""
    cfg, info = data["config"], data["machine"]
    kind = "Quick run (smaller sizes; not for comparison)" if cfg["quick"] else "Full run"
    probes = data["speed_probe_ms"]
    libs = ", ".join(f"{name} {version}" for name, version in info["libraries"].items())
    out = [
        "# parmap benchmarks",
        "",
        f"{kind}: `{cfg['command']}`, {info['date']}, {cfg['seconds']:.0f} s.",
        f"{cfg['repeat']} measurements per cell, {cfg['workers']} workers, each measurement in a "
        "fresh process, contenders interleaved round-robin. The time is the whole call as a "
        "user sees it: pool start-up and shutdown included, library import excluded. Every "
        "result list is checked against builtin `map`; a mismatch is `FAIL` and not timed.",
        "",
        f"- **Machine:** {info['cpu']}, {info['logical_cpus']} logical CPUs "
        f"({info['usable_cpus']} usable), {info['memory_gb']} GB RAM, {info['os']}",
        f"- **Python:** {info['implementation']} {info['python']}; {libs}; "
        f"tree at commit {info['commit'] or 'none'}",
        f"- **Noise:** a 20 ms CPU spin, timed before each workload of each repeat, took "
        f"{statistics.median(probes):.1f} ms median ({min(probes):.1f}-{max(probes):.1f} ms "
        f"over {len(probes)} probes); {_busy(data)} load average {info['load_before']} "
        f"before, {info['load_after']} after.",
        "",
        "## Results",
        "",
        "Median wall time (fastest-slowest in brackets); ratios are medians divided by builtin "
        f"`map`'s and `Pool.map`'s medians on the same workload in this run (below 1{X} is "
        "faster). Efficiency = CPU time the function itself used in the workers / (workers "
        f"{X} wall time); 100 % is the physical limit.",
        "",
        f"| workload | contender | median | range | {X} map | {X} Pool.map | efficiency | runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    sizes = cfg["sizes"]
    previous = None
    for row in rows:
        title = WORKLOADS[row.workload].title.format(n=sizes[row.workload])
        first = f"**{row.workload}**<br>{title}" if row.workload != previous else ""
        previous = row.workload
        label = f"**{row.label}**" if row.contender.startswith("parmap") else row.label
        out.append(f"| {first} | {label} | " + " | ".join(_cells(row)) + " |")
    out += [
        "",
        "## Targets",
        "",
        "Judged from this run only; each compares parmap with contenders measured alongside it. "
        "The cache and check ratios are medians of per-repeat ratios of the two variants, "
        "which run back to back; at about 20 ms a call, a 5 % difference is within noise.",
        "",
        "| workload | target | parmap | best other pool | status |",
        "| --- | --- | --- | --- | --- |",
    ]
    for v in verdicts:
        status = f"**{v.status}**" if v.status == "met" else v.status
        out.append(f"| {v.workload} | {v.target} | {v.measured} | {v.best_other} | {status} |")
    out += [
        "",
        "## Anchors (reference figures for today's pools)",
        "",
        "*agrees*: within ±30 % of the reference figure (the CPUs' own drift); *close*: within "
        "a factor of 2; *differs*: further off. Speed-ups are over a `map` timed in other "
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


def _cells(row: Row) -> list[str]:
    if row.median is None:
        status = row.status.replace("|", "\\|")
        return [status, "", "", "", "", f"0/{row.attempts}"]
    spread = _spread(row.low, row.high)
    vs_map = _ratio(row.vs_map)
    vs_pool = _ratio(row.vs_pool)
    eff = f"{row.efficiency:.0%}" if row.efficiency is not None else ""
    runs = f"{row.runs}/{row.attempts}"
    if row.status != "ok":
        runs += f" ({row.status})"
    return [_time(row.median), spread, vs_map, vs_pool, eff, runs]


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
