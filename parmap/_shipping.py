"""Pickling what the caller ships to workers: the function once, then chunks of items.

The pickling that ships *is* the picklability check: only when it fails does
parmap walk the object to explain why (see :mod:`parmap._check`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from parmap import serializers
from parmap._task import Job, Task


def pack_function(job: Job, /, *, portable: bool) -> tuple[bytes, bytes]:
    """Pickle the function and the worker set-up once for the run.

    Returns:
        ``(digest, payload)``: workers keep functions by digest, so a warm
        worker that already has this one is not sent it again.

    Raises:
        UnpicklableError: the function, the initializer or its arguments
            cannot be pickled; the error explains which part and why.
    """
    bundle = (job.func, job.initializer, job.initargs, job.serializer, job.star)
    try:
        payload = serializers.dumps(bundle, job.serializer, portable=portable)
    except serializers.SerializationFailure:
        raise _explain_bundle(job, portable) from None
    if serializers.serializer_of(payload) != "pickle":
        from parmap._check import warn_if_harmful

        warn_if_harmful(job.func, subject="func", serializer=serializers.serializer_of(payload))
    return hashlib.blake2b(payload, digest_size=16).digest(), payload


def _explain_bundle(job: Job, portable: bool) -> Exception:
    from parmap._check import unpicklable_error

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


def pack_chunk(task: Task, /, *, serializer: str, portable: bool) -> bytes:
    """Pickle a task's items in one go with the fastest serializer that works.

    Raises:
        UnpicklableError: an item cannot be pickled; the error names its index.
    """
    try:
        return serializers.dumps((task.start, task.args), serializer, portable=portable)
    except serializers.SerializationFailure:
        raise explain_item(task, serializer=serializer, portable=portable) from None


def explain_item(task: Task, /, *, serializer: str, portable: bool) -> Exception:
    """The error for the first item of ``task`` that cannot be pickled."""
    from parmap._check import unpicklable_error

    for index, args in enumerate(task.args, task.start):
        try:
            serializers.dumps(args, serializer, portable=portable)
        except serializers.SerializationFailure:
            return unpicklable_error(
                args,
                role="item",
                subject=f"args[{index}]",
                serializer=serializer,
                portable=portable,
            )
    return unpicklable_error(
        task.args, role="item", subject="args", serializer=serializer, portable=portable
    )
