"""The anchor figures (reference measurements of today's pools), and how this run compares.

The reference run measured today's pools on a 2-core machine (whole call, pool start-up included,
median of 5 fresh processes). Reproducing those figures shows the harness measures what the
reference run measured before parmap is compared against them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.summary import Row
from benchmarks.targets import OTHERS, pool_row

#: The start method of the reference run.
METHOD = "fork"

X = "\u00d7"


@dataclass(frozen=True)
class Anchor:
    """One reference figure.

    Attributes:
        workload: Workload it belongs to.
        what: What the figure is.
        reference: The reference value.
        unit: ``"ms"``, ``"x"`` (a ratio or speed-up) or ``"%"``.
        measure: Returns this run's value and a note (which contender), or ``None``.
    """

    workload: str
    what: str
    reference: float
    unit: str
    measure: Callable[[list[Row]], tuple[float, str] | None]


def _median_ms(workload: str, contender: str) -> Callable[[list[Row]], tuple[float, str] | None]:
    def get(rows: list[Row]) -> tuple[float, str] | None:
        row = pool_row(rows, workload, contender, METHOD)
        return (row.median * 1000, "") if row and row.median is not None else None

    return get


def _vs_map(workload: str, contender: str) -> Callable[[list[Row]], tuple[float, str] | None]:
    def get(rows: list[Row]) -> tuple[float, str] | None:
        row = pool_row(rows, workload, contender, METHOD)
        return (row.vs_map, "") if row and row.vs_map is not None else None

    return get


def _speedup(workload: str, contender: str) -> Callable[[list[Row]], tuple[float, str] | None]:
    def get(rows: list[Row]) -> tuple[float, str] | None:
        row = pool_row(rows, workload, contender, METHOD)
        return (1 / row.vs_map, "") if row and row.vs_map else None

    return get


def _extreme(
    workload: str, value: Callable[[Row], float | None], high: bool
) -> Callable[[list[Row]], tuple[float, str] | None]:
    """The highest or lowest ``value`` over the pools other than parmap."""

    def get(rows: list[Row]) -> tuple[float, str] | None:
        scored = [
            (v, row.label)
            for name in OTHERS
            if (row := pool_row(rows, workload, name, METHOD)) is not None
            and (v := value(row)) is not None
        ]
        if not scored:
            return None
        return max(scored) if high else min(scored)

    return get


def _percent(row: Row) -> float | None:
    return row.efficiency * 100 if row.efficiency is not None else None


def _speed(row: Row) -> float | None:
    return 1 / row.vs_map if row.vs_map else None


ANCHORS = [
    Anchor("tiny", "map time", 10, "ms", _median_ms("tiny", "map")),
    Anchor("tiny", "Pool.map vs map", 4.8, "x", _vs_map("tiny", "pool")),
    Anchor("tiny", "multiprocess Pool.map vs map", 21, "x", _vs_map("tiny", "multiprocess")),
    Anchor("tiny", "pathos vs map", 41, "x", _vs_map("tiny", "pathos")),
    Anchor("tiny", "joblib vs map", 76, "x", _vs_map("tiny", "joblib")),
    Anchor("tiny", "mpire vs map", 83, "x", _vs_map("tiny", "mpire")),
    Anchor("tiny", "Pool.imap, chunksize=1 vs map", 287, "x", _vs_map("tiny", "imap1")),
    Anchor(
        "medium",
        "best pool speed-up (PPE, chunksize=1)",
        1.77,
        "x",
        _extreme("medium", _speed, True),
    ),
    Anchor("medium", "Pool.map speed-up", 1.57, "x", _speedup("medium", "pool")),
    Anchor("medium", "joblib speed-up", 1.06, "x", _speedup("medium", "joblib")),
    Anchor(
        "medium",
        "best pool efficiency",
        94,
        "%",
        _extreme("medium", _percent, True),
    ),
    Anchor("skewed", "best pool speed-up", 1.73, "x", _extreme("skewed", _speed, True)),
    Anchor("skewed", "joblib speed-up", 1.00, "x", _speedup("skewed", "joblib")),
    Anchor(
        "skewed",
        "best pool efficiency",
        90,
        "%",
        _extreme("skewed", _percent, True),
    ),
    Anchor(
        "big_args", "fastest pool vs map", 58, "x", _extreme("big_args", lambda r: r.vs_map, False)
    ),
    Anchor(
        "big_args", "slowest pool vs map", 106, "x", _extreme("big_args", lambda r: r.vs_map, True)
    ),
    Anchor(
        "big_args",
        "best pool vs Pool.map (mpire)",
        0.64,
        "x",
        _extreme("big_args", lambda r: r.vs_pool, False),
    ),
    Anchor(
        "big_results",
        "best pool vs Pool.map (mpire)",
        0.52,
        "x",
        _extreme("big_results", lambda r: r.vs_pool, False),
    ),
    Anchor("startup", "Pool.map time", 18, "ms", _median_ms("startup", "pool")),
    Anchor("startup", "mpire time", 115, "ms", _median_ms("startup", "mpire")),
    Anchor("startup", "joblib time", 403, "ms", _median_ms("startup", "joblib")),
]


def agreement(reference: float, measured: float) -> str:
    """Classify how far a measured figure is from the reference figure.

    Within ±30 % (the CPUs' own drift) it ``agrees``; within a factor of 2 it is ``close``;
    further off it ``differs``.
    """
    factor = measured / reference
    if 1 / 1.3 <= factor <= 1.3:
        return "agrees"
    if 0.5 <= factor <= 2:
        return "close"
    return "differs"


def compare(rows: list[Row]) -> list[dict[str, str]]:
    """Return one line per anchor: the reference figure, this run's, and the agreement."""
    lines = []
    for anchor in ANCHORS:
        got = anchor.measure(rows)
        line = {
            "workload": anchor.workload,
            "what": anchor.what,
            "reference": _fmt(anchor.reference, anchor.unit),
            "measured": "-",
            "agreement": "not measured",
        }
        if got is not None:
            value, note = got
            line["measured"] = _fmt(value, anchor.unit) + (f" ({note})" if note else "")
            line["agreement"] = agreement(anchor.reference, value)
        lines.append(line)
    return lines


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "%":
        return f"{value:.0f} %"
    return f"{value:.2f}{X}" if value < 10 else f"{value:.0f}{X}"
