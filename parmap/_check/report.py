"""The result of a picklability check: what cannot travel, where it sits, and what to do.

Both classes hold only strings, booleans and tuples of them, so a report pickles
with the plain pickler: a worker sends it back to the caller inside an
:class:`parmap.UnpicklableError`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CheckReport", "Problem"]


class _PrettyPrinter(Protocol):
    """The part of IPython's pretty printer a report uses."""

    def text(self, obj: str) -> None: ...


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


@dataclass(frozen=True)
class Problem:
    """One object that stops its container from travelling.

    Attributes:
        path: the way from the checked object down to the culprit, steps joined
            by ``" -> "``, e.g. ``"func -> __closure__ 'conn'"``.
        type_name: the culprit's type, e.g. ``"sqlite3.Connection"``.
        reason: why it cannot travel, in one or two sentences.
        hint: what to do; one fix per line, most useful first.
        steps: the same path as :attr:`path`, one step per element.
        step_types: the type name of the object reached at each step.
    """

    path: str
    type_name: str
    reason: str
    hint: str
    steps: tuple[str, ...] = ()
    step_types: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<Problem at {self.path} ({self.type_name})>"

    @property
    def fixes(self) -> tuple[str, ...]:
        """The fixes of :attr:`hint`, one per element."""
        return tuple(line for line in self.hint.splitlines() if line)

    def render(self, *, indent: str = "  ") -> str:
        """Format the path one step a line with each step's type, then why and what to do."""
        steps = self.steps or tuple(self.path.split(" -> "))
        types = self.step_types if len(self.step_types) == len(steps) else ("",) * len(steps)
        labels = [steps[0], *(f"-> {step}" for step in steps[1:])]
        width = max(len(label) for label in labels)
        lines = []
        for position, (label, type_name) in enumerate(zip(labels, types, strict=True)):
            last = position == len(labels) - 1
            shown = type_name or self.type_name if last else type_name
            lines.append(f"{indent}{label.ljust(width)}  ({shown})" if shown else indent + label)
        lines.append(f"why: {self.reason}")
        fixes = self.fixes
        if fixes:
            lines.append("what to do:")
            lines.extend(f"{indent}- {fix}" for fix in fixes)
        return "\n".join(lines)


@dataclass(frozen=True)
class CheckReport:
    """Whether an object travels to a worker and back, and if not, why.

    Attributes:
        ok: the object round-trips (pickles, then unpickles) with the serializer asked for.
        serializer: the serializer that would ship it; ``None`` when none can.
        problems: the culprits found, outermost path first; empty when ``ok``.
        subject: the name of the checked object, root of every path (``"func"``, ``"args[3]"``).
        verified: the serializers parmap actually tried that round-tripped the object
            (empty for builtin scalars such as ``bytes``, which need no trial).
        requested: the serializer option the check was made for (``"auto"`` or a name).
        notes: cautions about a success that may not behave as expected (a write-mode
            file reopened in the worker, a copied lock, …).
    """

    ok: bool
    serializer: str | None
    problems: tuple[Problem, ...]
    subject: str
    verified: tuple[str, ...]
    requested: str = "auto"
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        """One line: the verdict, and where the first problem sits (the details are in ``str``)."""
        head = f"<CheckReport ok={self.ok} serializer={self.serializer!r}"
        if self.problems:
            first = self.problems[0]
            where = f"at {first.path} ({first.type_name})"
            count = _count(len(self.problems), "problem")
            head += f": {count} {where}" if len(self.problems) == 1 else f": {count}, first {where}"
        elif self.notes:
            head += f": {_count(len(self.notes), 'note')}"
        return head + ">"

    def _repr_pretty_(self, printer: _PrettyPrinter, cycle: bool) -> None:
        """Show the readable text in IPython, as ``print(report)`` would."""
        printer.text(repr(self) if cycle else str(self))

    def _repr_html_(self) -> str:
        """Show the report in a notebook: the verdict, then each problem and note as text."""
        blocks = str(self).split("\n\n")
        verdict = "ok" if self.ok else "problems"
        parts = [f'<div class="parmap-check-report parmap-{verdict}">']
        parts.append(f"<p><strong>{html.escape(blocks[0].splitlines()[0])}</strong></p>")
        rest = "\n".join(blocks[0].splitlines()[1:])
        for block in ([rest] if rest else []) + blocks[1:]:
            parts.append(f'<pre style="white-space: pre-wrap">{html.escape(block)}</pre>')
        parts.append("</div>")
        return "\n".join(parts)

    def __str__(self) -> str:
        if self.ok:
            head = f"{self.subject} travels: {self.serializer} round-trips it (verified)."
            if self.serializer not in self.verified:
                head = (
                    f"{self.subject} travels: it is plain data, which {self.serializer} "
                    f"always round-trips."
                )
            others = [name for name in self.verified if name != self.serializer]
            if others:
                head += f" Also verified: {', '.join(others)}."
            return "\n".join([head, *(f"note: {note}" for note in self.notes)])
        if self.requested == "auto":
            head = f"{self.subject} cannot travel: pickle, cloudpickle and dill all fail."
        else:
            head = f"{self.subject} cannot travel with serializer={self.requested!r}."
        alternatives = [name for name in self.verified if name != self.requested]
        if alternatives:
            head += f" It round-trips with {' and '.join(alternatives)} (verified)."
        blocks = [head]
        blocks.extend(problem.render() for problem in self.problems)
        blocks.extend(f"note: {note}" for note in self.notes)
        return "\n\n".join(blocks)


CheckReport.__module__ = Problem.__module__ = "parmap"  # where users find them
