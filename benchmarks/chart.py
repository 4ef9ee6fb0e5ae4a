"""Draw a run's medians as a PNG: one panel per workload, one bar per contender."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.summary import Row
from benchmarks.workloads import WORKLOADS

X = "\u00d7"
PARMAP = "#d62728"
MAP = "#7f7f7f"
OTHER = "#1f77b4"


def draw(data: dict[str, Any], rows: list[Row], path: Path) -> None:
    """Write the chart to ``path``.

    Bars are median wall times on a log scale with whiskers from the fastest to the slowest
    run; the text after each bar is its ratio to builtin ``map`` (or, on the parmap-only
    workloads, to the first variant). Rows that failed or errored are named instead of drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = [w for w, _ in data["config"]["schedule"]]
    cols = 2
    nrows = math.ceil(len(workloads) / cols)
    heights = [
        max(len(_rows(rows, w)) for w in workloads[i * cols : i * cols + cols])
        for i in range(nrows)
    ]
    fig, axes = plt.subplots(
        nrows,
        cols,
        figsize=(13, 0.32 * sum(heights) + 1.1 * nrows + 0.8),
        gridspec_kw={"height_ratios": [h + 2 for h in heights]},
        squeeze=False,
    )
    sizes = data["config"]["sizes"]
    for ax, workload in zip(axes.flat, workloads, strict=False):
        _panel(ax, workload, _rows(rows, workload), sizes[workload])
    for ax in list(axes.flat)[len(workloads) :]:
        ax.set_visible(False)
    info = data["machine"]
    kind = "quick run" if data["config"]["quick"] else f"median of {data['config']['repeat']}"
    fig.suptitle(
        f"parmap benchmarks: wall time per call, {kind}, {data['config']['workers']} workers "
        f"({info['cpu']}, Python {info['python']}, {info['date']})\n"
        "bars: median, whiskers: fastest to slowest; right column: ratio to builtin map "
        "(parmap-only panels: to the first bar)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rows(rows: list[Row], workload: str) -> list[Row]:
    return [r for r in rows if r.workload == workload]


def _panel(ax: Any, workload: str, rows: list[Row], size: int) -> None:
    from matplotlib.ticker import NullFormatter

    work = WORKLOADS[workload]
    labels = [r.label if r.method == "-" else f"{r.label} [{r.method}]" for r in rows][::-1]
    rows = rows[::-1]
    ys = range(len(rows))
    drawn = [r for r in rows if r.median is not None]
    base = rows[-1].median if work.parmap_only else None
    for y, row in zip(ys, rows, strict=True):
        if row.median is None:
            # Axes coordinates across, data coordinates up: independent of the log scale.
            ax.text(
                0.01,
                y,
                row.status[:70],
                va="center",
                fontsize=7,
                color=PARMAP,
                transform=ax.get_yaxis_transform(),
            )
            continue
        color = (
            PARMAP
            if row.contender.startswith("parmap")
            else MAP
            if row.contender == "map"
            else OTHER
        )
        err = [[row.median - row.low], [row.high - row.median]]
        ax.barh(y, row.median, color=color, xerr=err, ecolor="black", capsize=2, height=0.7)
        ratio = row.median / base if base else row.vs_map
        ax.text(row.high, y, f" {_time(row.median)}", va="center", fontsize=7)
        if ratio is not None:
            # A right-aligned column, so that huge ratios never run off the panel.
            transform = ax.get_yaxis_transform()
            ax.text(
                0.99, y, _ratio(ratio), va="center", ha="right", fontsize=7, transform=transform
            )
    ax.set_xscale("log")
    # Minor labels collide when a panel spans less than a decade.
    ax.xaxis.set_minor_formatter(NullFormatter())
    if drawn:
        low = min(r.low for r in drawn)
        high = max(r.high for r in drawn)
        # Room on the right for the time label and the ratio column, in proportion to the
        # decades the panel spans on its log scale.
        decades = math.log10(high / low)
        ax.set_xlim(low / 2, high * 10 ** (0.35 * decades + 0.9))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.set_title(f"{workload}: {work.title.format(n=size)}", fontsize=9, loc="left")
    ax.set_xlabel("seconds (log)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3, which="both")


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"


def _ratio(value: float) -> str:
    return f"{value:.2f}{X}" if value < 10 else f"{value:,.0f}{X}"
