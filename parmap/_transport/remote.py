"""Exceptions across the process boundary: pack one in a worker, rebuild it in the caller."""

from __future__ import annotations

import os
import traceback
from typing import Any

from parmap import serializers
from parmap._names import short_repr, type_name
from parmap._transport.messages import RemoteFailure
from parmap._transport.tracebacks import without_parmap
from parmap.errors import RemoteError, RemoteTraceback


def pack(exc: BaseException, /, *, portable: bool = True) -> RemoteFailure:
    """Pack an exception raised in a worker so that it can travel back.

    The exception travels with the same serializer choice as results (plain
    pickle, else cloudpickle, else dill), so an exception class defined in
    ``__main__`` or a notebook arrives as itself. It travels only when it
    survives a round trip here: a custom ``__init__`` signature or an
    unpicklable attribute would otherwise fail (or hang other pools) on the
    caller's side; then a :class:`RemoteError` stands in for it.
    ``portable`` is the run's: False only in a fresh fork, which shares the
    caller's ``__main__`` and may refer to its classes by name.
    """
    tb = "".join(traceback.format_exception(exc.with_traceback(without_parmap(exc.__traceback__))))
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = f"<unprintable {type(exc).__qualname__}>"
    payload: bytes | None
    try:
        # The caller attaches the traceback as __cause__; do not ship the local chain.
        exc.__traceback__ = None
        payload = serializers.dumps(exc, portable=portable)
        serializers.loads(payload)
    except BaseException:  # noqa: BLE001 - any failure means "send the stand-in"
        payload = None
    return RemoteFailure(payload, type_name(exc), message, tb, os.getpid())


def rebuild(failure: RemoteFailure, /) -> BaseException:
    """The caller's copy of a worker's exception, with the worker's traceback as cause."""
    exc: BaseException | None = None
    if failure.payload is not None:
        try:
            exc = serializers.loads(failure.payload)
        except (Exception, SystemExit):  # noqa: BLE001 - fall back to the stand-in
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(failure.type_name, failure.message)
        exc.add_note(
            f"parmap: the worker raised {failure.type_name}, which could not be sent back "
            "as itself (it does not survive pickling); this stand-in carries its name, "
            "message and traceback."
        )
    exc.__cause__ = RemoteTraceback(f'\n"""\n{failure.traceback}"""')
    return exc


#: How the note naming a failed item begins.
NOTE_PREFIX = "parmap: raised by item "

#: The attribute by which code running inside one item names the item really at
#: fault (map_reduce's chunk of items): ``(index, short repr, role)``, which the
#: note then names instead of the chunk.
INNER_ITEM = "_parmap_inner_item"


def mark_inner_item(exc: BaseException, /, *, index: int, item: Any, role: str) -> None:
    """Record on ``exc`` which item of a chunk raised it, and in what (``"mapper"``)."""
    setattr(exc, INNER_ITEM, (index, short_repr(item), role))


def annotate(exc: BaseException, /, *, index: int, item: Any, pid: int | None) -> BaseException:
    """Add the note naming the item (and the worker) to an exception from the function."""
    worker = f"in worker pid {pid}" if pid is not None and pid != os.getpid() else ""
    inner = getattr(exc, INNER_ITEM, None)
    if isinstance(inner, tuple) and len(inner) == 3:
        index, shown, role = inner
        where = f", {worker}" if worker else ""
        exc.add_note(f"{NOTE_PREFIX}{index} ({shown}) in the {role}{where}")
        return exc
    where = f" {worker}" if worker else ""
    exc.add_note(f"{NOTE_PREFIX}{index} ({short_repr(item)}){where}")
    return exc
