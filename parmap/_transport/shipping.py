"""Pickling what the caller ships to workers: the function once, then chunks of items.

The pickling that ships *is* the picklability check: only when it fails does
parmap walk the object to explain why (see :mod:`parmap._check.check`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from parmap import serializers
from parmap._transport.buffers import Spill
from parmap._transport.messages import Job, Task
from parmap.errors import UnpicklableError, caller_stacklevel


def pack_function(job: Job, /, *, portable: bool) -> tuple[bytes, bytes]:
    """Pickle the function and the worker set-up once for the run.

    Returns:
        ``(digest, payload)``: workers keep functions by digest, so a warm
        worker that already has this one is not sent it again.

    Raises:
        UnpicklableError: the function, the initializer or its arguments
            cannot be pickled; the error explains which part and why.
    """
    # ``portable`` travels too: results and exceptions go back the same way
    # (by value, unless the worker is a fresh fork sharing the caller's __main__).
    bundle = (job.func, job.initializer, job.initargs, job.serializer, job.star, portable)
    try:
        payload = serializers.dumps(bundle, job.serializer, portable=portable)
    except serializers.SerializationFailure as failure:
        if not job.check:
            raise _brief("the function or its set-up", failure) from None
        raise _explain_bundle(job, portable) from None
    if serializers.serializer_of(payload) != "pickle":
        from parmap._check.check import warn_if_harmful

        warn_if_harmful(
            job.func,
            subject="func",
            serializer=serializers.serializer_of(payload),
            stacklevel=caller_stacklevel(),
        )
    return hashlib.blake2b(payload, digest_size=16).digest(), payload


def _brief(what: str, failure: serializers.SerializationFailure) -> UnpicklableError:
    return UnpicklableError(
        f"cannot send {what} to the workers: {failure}\n"
        "(check=False: run with check=True to see the path to the culprit and what to do)"
    )


def _explain_bundle(job: Job, portable: bool) -> Exception:
    from parmap._check.check import unpicklable_error

    parts: list[tuple[Any, str, str]] = [(job.func, "function", "func")]
    if job.initializer is not None:
        parts.append((job.initializer, "initializer", "initializer"))
        parts.extend(
            (arg, "initializer", f"initargs[{position}]")
            for position, arg in enumerate(job.initargs)
        )
    for obj, role, subject in parts:
        try:
            serializers.dumps(obj, job.serializer, portable=portable)
        except serializers.SerializationFailure:
            return unpicklable_error(
                obj, role=role, subject=subject, serializer=job.serializer, portable=portable
            )
    return unpicklable_error(
        job.func, role="function", subject="func", serializer=job.serializer, portable=portable
    )


class ItemNotShipped(Exception):  # noqa: N818 - internal signal, never reaches users
    """An item of a task cannot be pickled; carries its index and the explanation.

    Attributes:
        index: the item's index in the input.
        error: the :class:`UnpicklableError` to raise or collect for it.
    """

    def __init__(self, index: int, error: Exception, /) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


def pack_chunk(
    task: Task,
    /,
    *,
    serializer: str,
    portable: bool,
    spill: Spill | None = None,
    explain: bool = True,
) -> bytes:
    """Pickle a task's items in one go with the fastest serializer that works.

    Args:
        task: the task.
        serializer: the ``serializer`` option.
        portable: refuse by-reference pickles of ``__main__`` objects.
        spill: where large buffers go out of band (same-machine workers only).
        explain: find the item at fault and explain it (the ``check`` option).

    Raises:
        ItemNotShipped: an item cannot be pickled; it names the index.
    """
    try:
        chunk = (task.start, task.args)
        payload = serializers.dumps(chunk, serializer, portable=portable, spill=spill)
    except serializers.SerializationFailure:
        raise explain_item(
            task, serializer=serializer, portable=portable, explain=explain
        ) from None
    if explain and serializers.serializer_of(payload) == "dill":
        # Only dill took these items: it may have copied a held lock or a
        # file open for writing, which pickles but misbehaves in a worker.
        from parmap._check.check import warn_if_harmful

        level = caller_stacklevel()
        warn_if_harmful(task.args, subject="args", serializer="dill", stacklevel=level)
    return payload


def explain_item(
    task: Task, /, *, serializer: str, portable: bool, explain: bool = True
) -> ItemNotShipped:
    """The error for the first item of ``task`` that cannot be pickled.

    With ``explain=False`` the item is still found (one pickling each), but
    the serializers' own errors stand in for the walk that explains them.
    """
    from parmap._check.check import unpicklable_error

    for index, item in enumerate(task.args, task.start):
        try:
            serializers.dumps(item, serializer, portable=portable)
        except serializers.SerializationFailure as failure:
            if not explain:
                return ItemNotShipped(index, _brief(f"item {index}", failure))
            error = unpicklable_error(
                item,
                role="item",
                subject=f"args[{index}]",
                serializer=serializer,
                portable=portable,
                index=index,
            )
            return ItemNotShipped(index, error)
    # Each item pickles alone but not together (a shared object pickling once).
    error = unpicklable_error(
        task.args, role="item", subject="args", serializer=serializer, portable=portable
    )
    return ItemNotShipped(task.start, error)
