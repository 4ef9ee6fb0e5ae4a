"""The scheduler: reads items lazily, sizes chunks, drives a session, applies the error policy.

One run goes through two phases. First the caller itself runs the first
items (when the session allows it) and times them: a job cheaper than
starting workers finishes right there, at about the cost of ``map``. Then
tasks go to the session, a bounded number at a time, with chunk sizes chosen
from the measured cost per item, smaller towards the end. Results are
cached, counted and yielded as they arrive — in input order unless
``ordered=False``.
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from parmap._options import Options
from parmap._run import failures as _failures
from parmap._run.chunking import LOOKAHEAD_BYTES, ChunkSizer
from parmap._run.input import Input, Segment
from parmap._run.progress import Progress
from parmap._transport import remote as _remote
from parmap._transport.messages import (
    Event,
    Failure,
    Fatal,
    Job,
    RemoteFailure,
    Results,
    Task,
    WorkerLost,
)
from parmap._transport.shipping import ItemNotShipped
from parmap.backends._base import Session
from parmap.errors import PicklingWarning, caller_stacklevel

_SKIPPED = object()


@dataclass(slots=True)
class _End:
    """Where the results end: an error to raise in its turn, or (None) a StopIteration.

    ``map`` raises an item's error only after yielding every earlier result,
    and ends quietly at an item whose function raised ``StopIteration``; a run
    does the same by putting this marker at the item's index.
    """

    error: BaseException | None


_POLL_SECONDS = 0.25
#: The most items the caller runs in one go before it yields their results.
_INLINE_BATCH = 4096
#: Shared workers start once a run has at least this many seconds of work ahead.
_WARM_UP_SECONDS = 0.02
#: While workers start, the caller runs items in slices of about this many seconds.
_WAIT_SLICE = 0.005
#: The caller measures items for at least this long before it trusts the estimate.
_PROBE_SECONDS = 0.002


def _ran_here_note(count: int, /) -> str:
    if count == 1:
        return (
            "parmap: an earlier item ran in the caller, where nothing is pickled; it may "
            "hold the same kind of object"
        )
    return (
        f"parmap: {count} earlier items ran in the caller, where nothing is pickled; they "
        "may hold the same kind of object"
    )


def _shallow_size(item: Any) -> int:
    if type(item) is tuple:  # the arguments of one call, several iterables zipped
        return sum(sys.getsizeof(arg) for arg in item)
    return sys.getsizeof(item)


@dataclass(slots=True)
class _Running:
    """A submitted task and how many of its items have been reported (a prefix)."""

    task: Task
    reported: int = 0


class Scheduler:
    """Runs one call of ``imap``: see the module docstring.

    Args:
        job: the function and worker set-up.
        session: an open session of the chosen backend.
        arguments: the input, read lazily: items, or argument tuples when ``job.star``.
        total: the number of items, when known.
        options: the run's options.
        workers: the backend's number of workers.
        cache: the run's bound cache, or None.
        progress: the progress counter.
    """

    def __init__(
        self,
        job: Job,
        session: Session,
        arguments: Iterator[Any],
        *,
        total: int | None,
        options: Options,
        workers: int,
        cache: Any,
        progress: Progress,
        warm_up: str = "no",
    ) -> None:
        self._job, self._session, self._options = job, session, options
        self._input = Input(arguments, total, job.star, cache)
        self._cache = cache
        self._progress = progress
        self._sizer = ChunkSizer(workers, options.chunksize)
        self._attempts: dict[int, int] = {}
        self._tasks: dict[int, _Running] = {}
        self._task_ids = itertools.count()
        self._ready: dict[int, list[Any] | _End] = {}
        self._next = 0
        self._yielded = 0
        self._skipped = 0
        self._warned = False
        self._batch = 1
        self._began: float | None = None
        #: The index where the results end (an error or StopIteration there), if known.
        self._limit: int | None = None
        self._stored = 0  # results put in the cache by this run
        self._warm_up = warm_up
        self._ran_here = 0  # items run in the caller (never pickled)
        self._told_ran_here = False

    # -- the run -------------------------------------------------------------------

    def run(self) -> Iterator[list[Any]]:
        """Yield blocks of results as the options say; cancels the session on any exception."""
        # A run that asks to survive failures (collect, skip) keeps every item
        # in a worker: a crash there (os._exit, a segfault) must not end the caller.
        options = self._options
        inline = self._session.inline_ok and (
            options.inline is True or (options.inline is None and options.on_error == "raise")
        )
        try:
            if inline:
                # Workers already warm get an item each; those started now for this
                # run are not waited for (the caller works meanwhile).
                self._hand_out_first_items()
            if inline and self._warm_up == "now":
                self._session.prestart()
                self._warm_up = "no"
            while True:
                for block in self._drain():
                    if isinstance(block, _End):
                        if block.error is not None:
                            raise block.error
                        self._ended()
                        return
                    yield block
                if self._done():
                    break
                if inline:
                    inline = self._inline_step()
                    if self._tasks:  # the first items, handed to warm workers
                        for event in self._session.poll(0):
                            self._handle(event)
                    continue
                self._fill()
                if self._tasks:
                    for event in self._session.poll(_POLL_SECONDS):
                        self._handle(event)
            self._session.close()
        except BaseException as exc:
            self._session.cancel()
            if isinstance(exc, KeyboardInterrupt) and self._cache is not None:
                where = getattr(options.cache, "directory", options.cache)
                exc.add_note(
                    f"parmap: interrupted; the results of {self._stored} item(s) of this run are "
                    f"kept in the cache {where}: the same call again computes only the others"
                )
            raise
        finally:
            self._progress.close()
        if self._skipped:
            warnings.warn(
                f"parmap: {self._skipped} item(s) failed and were left out (on_error='skip')",
                RuntimeWarning,
                stacklevel=caller_stacklevel(),
            )

    def _hand_out_first_items(self) -> None:
        """Give warm workers an item each at once, while the caller times the next ones.

        Warm workers would otherwise wait while the caller measures the first
        items; a job that turns out tiny still finishes in the caller.
        """
        ready = self._session.ready_workers()
        if ready <= 0 or self._options.chunksize is not None:
            return
        self._read_more(ready)
        for _ in range(ready):
            if not self._input.pending:
                return
            segment = self._input.pending.popleft()
            if len(segment.args) > 1:
                rest = Segment(segment.start + 1, segment.args[1:])
                self._input.pending.appendleft(rest)
                segment = Segment(segment.start, segment.args[:1])
            if not self._submit(segment, or_run_here=True):
                return

    def _ended(self) -> None:
        """The results ended early (StopIteration): stop what is still running."""
        if self._tasks:
            self._session.cancel()
        else:
            self._session.close()

    def _end_at(self, index: int, marker: _End) -> None:
        """Make ``index`` the end of the results (the earliest such index wins)."""
        if self._limit is not None and index >= self._limit:
            return
        if self._limit is not None:
            self._ready.pop(self._limit, None)
        self._limit = index
        self._ready[index] = marker
        for late in [i for i in self._ready if i > index]:
            del self._ready[late]
        self._input.stop_at(index)

    def _done(self) -> bool:
        return (
            self._input.exhausted
            and not self._input.pending
            and not self._tasks
            and not self._ready
        )

    def _drain(self) -> Iterator[list[Any] | _End]:
        ready = self._ready
        while ready:
            if self._options.ordered:
                if self._next not in ready:
                    return
                block = ready.pop(self._next)
                if isinstance(block, _End):
                    yield block
                    return
                self._next += len(block)
            else:
                index = next((i for i, b in ready.items() if not isinstance(b, _End)), None)
                if index is None:
                    # Only the end is left: an error comes as soon as nothing else
                    # is ready; a StopIteration waits for the items before it.
                    marker = next(iter(ready.values()))
                    assert isinstance(marker, _End)
                    if marker.error is not None or self._next_unfinished() is None:
                        yield marker
                    return
                block = ready.pop(index)
                assert not isinstance(block, _End)
            self._yielded += len(block)
            if self._skipped:
                block = [value for value in block if value is not _SKIPPED]
            yield block

    def _next_unfinished(self) -> int | None:
        """The first index before the end whose result is still to come, or None."""
        limit = self._limit if self._limit is not None else float("inf")
        starts = [r.task.start + r.reported for r in self._tasks.values()]
        starts += [segment.start for segment in self._input.pending]
        before = [start for start in starts if start < limit]
        return min(before) if before else None

    def _read_more(self, count: int) -> None:
        """Read up to ``count`` more items; cache hits are ready at once."""
        before = self._input.read
        hits = self._input.read_more(count)
        read = self._input.read - before
        if read and self._input.pending:
            # A shallow size of the last item read: cheap, and right for bytes,
            # strings and arrays, the items that make memory grow.
            last = self._input.pending[-1].args[-1]
            self._sizer.observe_bytes(_shallow_size(last), 1)
        for index, value in hits:
            self._ready[index] = [value]
            self._progress.update(1)
        error = self._input.error
        if error is not None:
            self._input.error = None
            self._end_at(self._input.read, _End(error))

    def _window_full(self) -> bool:
        done = self._next if self._options.ordered else self._yielded
        return self._input.read - done >= self._sizer.lookahead(self._session.slots)

    # -- phase 1: the caller runs the first items ------------------------------------

    def _inline_step(self) -> bool:
        """Run the next batch of items in the caller; False once workers should take over."""
        if not self._input.pending:
            if self._input.exhausted:
                return False
            self._read_more(self._sizer.by_bytes(self._batch, LOOKAHEAD_BYTES // 4))
            return True
        clock = time.perf_counter
        if self._began is None:
            self._began = clock()
        segment = self._input.pending.popleft()
        if len(segment.args) > self._batch:
            rest = Segment(segment.start + self._batch, segment.args[self._batch :])
            self._input.pending.appendleft(rest)
            segment = Segment(segment.start, segment.args[: self._batch], segment.single)
        func = self._job.func
        results: list[Any] = []
        append = results.append
        started = clock()
        try:
            # A loop, not list.extend(map(...)): that would take a StopIteration
            # raised by the function for the end of the items.
            if self._job.star:
                for args in segment.args:
                    append(func(*args))
            else:
                for arg in segment.args:
                    append(func(arg))
        except BaseException as exc:  # noqa: BLE001 - see _fail: Ctrl-C ends the run in order
            done = len(results)
            self._finish(segment.start, results)
            rest_args = segment.args[done + 1 :]
            if rest_args:
                self._input.pending.appendleft(Segment(segment.start + done + 1, rest_args))
            self._fail(segment.start + done, segment.args[done], exc, pid=None)
            return True
        self._sizer.observe(clock() - started, len(results))
        self._ran_here += len(results)
        self._finish(segment.start, results)
        per_item = self._sizer.per_item or 0.0
        if clock() - self._began < _PROBE_SECONDS:
            # Too little measured yet to trust (the first calls cost more).
            self._batch = min(self._batch * 2, _INLINE_BATCH)
            return True
        remaining = self._input.remaining()
        if self._warm_up == "when worth":
            # Workers kept across runs start once the work ahead is more than a
            # few milliseconds: a tiny job never pays for starting them.
            ahead = per_item * remaining if remaining is not None else clock() - self._began
            if ahead > _WARM_UP_SECONDS:
                self._warm_up = "no"
                self._session.prestart()
        if self._session.starting():
            # Workers are on their way: keep working here, a few ms at a time,
            # and hand over as soon as one is ready.
            self._batch = max(1, min(_INLINE_BATCH, int(_WAIT_SLICE / max(per_item, 1e-9))))
            return True
        # Running the rest here beats starting workers when it costs less than
        # their start-up plus what the other workers would have taken off us
        # (asked after starting(): workers that became ready cost nothing more).
        workers = max(2, self._sizer.workers)
        overhead = self._session.startup_cost + 0.002
        worth = overhead * workers / (workers - 1)
        if remaining is not None:
            if per_item * remaining > worth:
                return False  # workers will pay off: do not keep a core idle
            self._batch = max(self._batch, _INLINE_BATCH)
            return True
        if per_item * 4 > worth:
            return False  # a few more such items would already pay for the workers
        self._batch = min(self._batch * 2, _INLINE_BATCH)
        return clock() - self._began <= worth

    # -- phase 2: tasks on the session ---------------------------------------------

    def _fill(self) -> None:
        session = self._session
        while len(self._tasks) < session.slots:
            size = self._sizer.next_size(self._input.remaining())
            if not self._input.pending:
                if self._input.exhausted or self._window_full():
                    return
                self._read_more(size)
                continue
            segment = self._input.pending.popleft()
            if self._limit is not None and segment.start >= self._limit:
                continue  # past the end of the results
            if not segment.single and len(segment.args) > size:
                self._input.pending.appendleft(Segment(segment.start + size, segment.args[size:]))
                segment = Segment(segment.start, segment.args[:size])
            self._submit(segment)

    def _submit(self, segment: Segment, /, *, or_run_here: bool = False) -> bool:
        """Send a segment as a task; False if an item cannot be pickled.

        With ``or_run_here`` such a segment goes back to be run in the caller,
        where nothing is pickled; otherwise the item fails as ``on_error`` says.
        """
        task = Task(next(self._task_ids), segment.start, segment.args)
        self._tasks[task.task_id] = _Running(task)
        try:
            self._session.submit(task)
        except ItemNotShipped as refused:
            del self._tasks[task.task_id]
            if or_run_here:
                self._input.send_back([segment])
                return False
            # The task never left: the bad item fails (as on_error says),
            # the others go back to be sent without it.
            cut = refused.index - task.start
            after = Segment(refused.index + 1, task.args[cut + 1 :])
            before = Segment(task.start, task.args[:cut])
            self._input.send_back([part for part in (before, after) if part.args])
            item = task.args[cut]
            if self._ran_here and not self._told_ran_here:
                self._told_ran_here = True
                refused.error.add_note(_ran_here_note(self._ran_here))
            self._fail(refused.index, item, refused.error, pid=None, annotate=False)
            return False
        return True

    def _handle(self, event: Event) -> None:
        if isinstance(event, Results):
            self._sizer.observe(event.busy, len(event.values))
            if event.notes and not self._warned:
                self._warned = True  # once a run: the same cause repeats with every item
                message = "results pickle, but their copies will not behave like the originals:"
                warnings.warn(
                    PicklingWarning("\n- ".join((message, *event.notes))),
                    stacklevel=caller_stacklevel(),
                )
            running = self._tasks.get(event.task_id)
            if running is None:
                return
            task = running.task
            running.reported = event.offset + len(event.values)
            start = task.start + event.offset
            if event.unreadable is not None:
                self._unreadable(event, task)
            elif not event.errors:
                self._finish(start, event.values)
            else:
                begin = 0
                for position in sorted(event.errors):
                    self._finish(start + begin, event.values[begin:position])
                    failure = event.errors[position]
                    pid = failure.pid if isinstance(failure, RemoteFailure) else None
                    args = task.args[event.offset + position]
                    self._fail(start + position, args, failure, pid=pid)
                    begin = position + 1
                self._finish(start + begin, event.values[begin:])
            if event.done:
                del self._tasks[event.task_id]
        elif isinstance(event, WorkerLost):
            self._lost(event)
        elif isinstance(event, Fatal):
            raise _failures.fatal(event)

    def _unreadable(self, event: Results, task: Task) -> None:
        """Items whose data would not unpickle: run each alone, then blame the one that fails."""
        first = task.start + event.offset
        items = task.args[event.offset : event.offset + len(event.values)]
        exc = event.unreadable
        assert exc is not None
        if len(items) > 1:
            singles = [Segment(first + i, [item], single=True) for i, item in enumerate(items)]
            self._input.send_back(singles)
            return
        error = _failures.unreadable(exc, first, where=event.unreadable_in)
        self._fail(first, items[0], error, pid=None, annotate=False)

    def _lost(self, event: WorkerLost) -> None:
        if not event.started:
            # Every worker would fail the same way: no item is to blame.
            raise _failures.start_failed(event)
        unreported: list[Segment | None] = []
        for task_id in event.task_ids:
            running = self._tasks.pop(task_id, None)
            if running is None:
                unreported.append(None)
                continue
            task, done = running.task, running.reported
            unreported.append(Segment(task.start + done, task.args[done:]))
        requeue, blamed = _failures.triage(event, unreported)
        for culprit, item in blamed:
            error = _failures.lost(event, culprit, item, self._job.timeout)
            self._fail(culprit, item, error, pid=event.pid, annotate=False)
        self._input.send_back(requeue)

    # -- outcomes --------------------------------------------------------------------

    def _finish(self, start: int, values: list[Any]) -> None:
        if self._limit is not None and start + len(values) > self._limit:
            values = values[: max(0, self._limit - start)]  # past the end: not needed
        if not values:
            return
        if self._cache is not None:
            keys = self._input.keys
            entries = [(keys.pop(i), v) for i, v in enumerate(values, start) if i in keys]
            self._cache.store(entries)
            self._stored += len(entries)
        self._ready[start] = values
        self._progress.update(len(values))

    def _fail(
        self,
        index: int,
        item: Any,
        value: Any,
        *,
        pid: int | None,
        annotate: bool = True,
    ) -> None:
        options = self._options
        if self._limit is not None and index >= self._limit:
            return  # past the end of the results: map would never have run it
        exc = _remote.rebuild(value) if isinstance(value, RemoteFailure) else value
        attempts = self._attempts.get(index, 0)
        retry = isinstance(exc, options.retry_on) and not isinstance(exc, KeyboardInterrupt)
        if attempts < options.retries and retry:
            self._attempts[index] = attempts + 1
            self._input.pending.appendleft(Segment(index, [item], single=True))
            return
        if options.on_error == "raise" and isinstance(exc, StopIteration):
            # As in map: the results end quietly before this item.
            self._end_at(index, _End(None))
            return
        if annotate:
            _remote.annotate(exc, index=index, item=item, pid=pid)
        # KeyboardInterrupt ends the run under every policy: in the caller's
        # own thread it may be a real Ctrl-C, never an item's failure.
        if options.on_error == "raise" or isinstance(exc, KeyboardInterrupt):
            # Raised in its turn, once every earlier result has been yielded.
            self._end_at(index, _End(exc))
            return
        self._input.keys.pop(index, None)
        kept = Failure(index, item, exc) if options.on_error == "collect" else _SKIPPED
        self._ready[index] = [kept]
        self._skipped += options.on_error == "skip"
        self._progress.update(1)
