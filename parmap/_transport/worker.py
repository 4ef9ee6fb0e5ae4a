"""What runs in a worker: call the function on a chunk's items and report outcomes.

This module is imported by every worker process, so it imports nothing heavy:
the serializers load cloudpickle or dill only when a payload needs them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from parmap import serializers
from parmap._transport import buffers as _buffers
from parmap._transport import remote as _remote
from parmap._transport.buffers import Spill
from parmap.errors import UnpicklableError

#: Set in every parmap worker process; nested calls see it and run serially.
WORKER_ENV = "PARMAP_WORKER"

# Messages from the caller: a one-byte kind, then a fixed header.
MSG_FUNC = b"F"  # digest, then the payload of (func, initializer, initargs)
MSG_TASK = b"T"  # task id, digest, run token; the chunk follows as its own message
MSG_STOP = b"S"
# Messages to the caller.
MSG_RESULTS = b"R"  # task id, done flag, busy seconds; the outcomes follow as their own message
MSG_READY = b"Y"  # the worker started; sent once, first
MSG_SETUP_FAILED = b"I"
MSG_CHUNK_FAILED = b"X"  # task id; the chunk could not be unpickled here

TASK_HEADER = struct.Struct(f"<q16s{_buffers.TOKEN_SIZE}s")
RESULTS_HEADER = struct.Struct("<q?dqq")  # task id, done, busy, offset, count
TASK_ID = struct.Struct("<q")
DIGEST_SIZE = 16

#: A worker that receives nothing for this long exits: workers kept warm across
#: runs (parmap.backends._shared) go away on their own once unused.
IDLE_SECONDS = 300.0

#: Seconds between a worker's checks that its caller still runs.
WATCH_INTERVAL = 0.5

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: ``parent_pid`` of :func:`main` that means "the parent the worker has".
ANY_PARENT = -1

#: The "item running now" a worker shows while it unpickles a chunk.
LOADING = -2

#: A worker's exit code when it stops because its caller is gone.
EXIT_ORPHANED = 75

#: Functions a warm worker keeps; beyond that the oldest is dropped (and sent
#: again if a later run needs it).
KEPT_FUNCTIONS = 16

#: Seconds after which a worker sends back what it has, even mid-chunk: an
#: interruption then loses at most this much finished work per worker.
FLUSH_INTERVAL = 0.05

Flush = Callable[[int, list[Any], dict[int, Any], float, bool], None]


def run_items(
    func: Callable[..., Any],
    args: Sequence[Any],
    /,
    *,
    star: bool,
    flush: Flush,
    flush_interval: float,
    first_index: int = 0,
    mark: Callable[[int], None] | None = None,
    pack: Callable[[BaseException], Any] = _remote.pack,
) -> None:
    """Call ``func`` on each item in order, handing results to ``flush`` in small groups.

    Args:
        func: the user's function.
        args: the items.
        star: each item is a tuple of arguments to unpack.
        flush: receives ``(offset, values, errors, busy_seconds, done)``; called
            at least once, with ``done=True`` last, and whenever
            ``flush_interval`` has passed since the previous call.
        flush_interval: seconds between flushes inside a chunk.
        first_index: the index of the first item (for ``mark``).
        mark: told the index of each item before it starts (worker death and
            timeouts name the item from it).
        pack: turns an exception into what travels back (in-process backends
            keep the exception itself).

    Whatever the function raises is that item's outcome, ``KeyboardInterrupt``
    and ``SystemExit`` included: as in ``map`` they belong to the item, not to
    the worker. A ``KeyboardInterrupt`` ends the run at that item under every
    ``on_error`` policy (in the caller's own thread it may be a real Ctrl-C),
    so the chunk stops there: the items after it are not run.
    """
    values: list[Any] = []
    errors: dict[int, Any] = {}
    clock = time.perf_counter
    offset = 0
    started = last_flush = clock()
    for position, item_args in enumerate(args):
        if mark is not None:
            mark(first_index + position)
        try:
            values.append(func(*item_args) if star else func(item_args))
        except BaseException as exc:  # noqa: BLE001 - reported per item
            values.append(None)
            errors[position - offset] = pack(exc)
            if isinstance(exc, KeyboardInterrupt):
                break
        now = clock()
        if now - last_flush >= flush_interval:
            flush(offset, values, errors, now - started, False)
            offset, values, errors = position + 1, [], {}
            started = last_flush = now
    flush(offset, values, errors, clock() - started, True)


def pack_results(
    start: int,
    offset: int,
    values: list[Any],
    errors: dict[int, Any],
    serializer: str,
    /,
    spill: Spill | None = None,
    *,
    portable: bool = True,
) -> bytes:
    """Pickle results for the trip back; a result that cannot travel becomes its failure.

    ``portable`` is the run's: classes of ``__main__`` then travel by value,
    as they came (the worker's own ``__main__`` may hold other classes of the
    same names, or none). The payload is ``(offset, values, errors)``, with a fourth element, notes
    for a :class:`~parmap.errors.PicklingWarning`, when only dill could pickle
    the results and its copies will misbehave (a held lock, a file open for
    writing).
    """
    try:
        payload = serializers.dumps(
            (offset, values, errors), serializer, portable=portable, spill=spill
        )
    except (serializers.SerializationFailure, SystemExit, KeyboardInterrupt):
        # SystemExit too: a result whose __reduce__ calls sys.exit() fails
        # its item instead of ending the worker.
        if spill is not None:
            spill.discard()
        _explain_results(start, offset, values, errors, serializer, portable)
        payload = serializers.dumps(
            (offset, values, errors), serializer, portable=portable, spill=spill
        )
    if serializers.serializer_of(payload) != "dill":
        return payload
    from parmap._check.harm import find_harm

    first = start + offset
    notes = find_harm(values, subject=f"results of items {first}..", by_value=True)
    if not notes:
        return payload
    return serializers.dumps((offset, values, errors, notes), "dill", portable=portable)


def _explain_results(
    start: int,
    offset: int,
    values: list[Any],
    errors: dict[int, Any],
    serializer: str,
    portable: bool,
) -> None:
    """Replace each result that cannot be pickled by the error that explains it."""
    from parmap._check.check import unpicklable_error

    for position, value in enumerate(values):
        if position in errors:
            continue
        try:
            serializers.dumps(value, serializer, portable=portable)
        except (SystemExit, KeyboardInterrupt) as exc:
            index = start + offset + position
            error = UnpicklableError(
                f"cannot send back the result of item {index}: pickling it raised "
                f"{type(exc).__name__}({', '.join(map(repr, exc.args))}) (its __reduce__ "
                "or __getstate__ ended the pickling); return plain data instead"
            )
            values[position], errors[position] = None, _remote.pack(error, portable=portable)
        except serializers.SerializationFailure:
            error = unpicklable_error(
                value,
                role="result",
                subject=f"result of item {start + offset + position}",
                index=start + offset + position,
                serializer=serializer,
                portable=portable,
            )
            values[position], errors[position] = None, _remote.pack(error, portable=portable)


def caller_alive(caller_pid: int, parent_pid: int, /) -> bool:
    """Whether the caller that started this worker still runs.

    The caller is not always the parent: under forkserver the fork server is.
    A worker is re-parented when its parent dies, and the fork server exits
    when its last client does; a caller killed outright may also linger as a
    zombie that ``kill(pid, 0)`` still finds, so its state is read as well.
    """
    if os.getppid() != parent_pid:
        return False
    try:
        os.kill(caller_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{caller_pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True
    return state != [b"Z"]


def die_with_parent(parent_pid: int, /) -> None:
    """Ask Linux to kill this process when its parent ends (``PR_SET_PDEATHSIG``).

    The watch thread needs the GIL, which a function in C code may hold for
    seconds; the kernel's signal does not. Nothing happens where prctl is
    missing (not Linux), and a parent already gone is handled by the watch.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request
        os._exit(EXIT_ORPHANED)


def _let_the_fork_server_go() -> None:
    """Close this worker's copy of the fork server's "a client is alive" pipe.

    The fork server exits when no process holds that pipe any more, and every
    process it forks receives a copy; a worker never starts processes of its
    own (a nested call runs in the worker), so it lets go of its copy. Then
    the caller's death ends the fork server, and the kernel this worker.
    """
    for name in ("multiprocessing.forkserver", "multiprocess.forkserver"):
        module = sys.modules.get(name)
        server = getattr(module, "_forkserver", None)
        fd = getattr(server, "_forkserver_alive_fd", None)
        if isinstance(fd, int):
            with contextlib.suppress(OSError):
                os.close(fd)
            server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _watch_caller(caller_pid: int, parent_pid: int) -> None:
    # A worker whose caller is gone (killed outright) must not live on.
    while True:
        time.sleep(WATCH_INTERVAL)
        if not caller_alive(caller_pid, parent_pid):
            _buffers.sweep(caller_pid)
            os._exit(EXIT_ORPHANED)


def _receive(conn: Any, inbox: queue.SimpleQueue[bytes | None]) -> None:
    # Reading on a thread of its own keeps the caller's writes from ever
    # blocking on a worker that is busy sending results: no pipe deadlock.
    while True:
        try:
            inbox.put(conn.recv_bytes())
        except (EOFError, OSError):
            inbox.put(None)
            return


def main(conn: Any, state: Any, caller_pid: int, parent_pid: int | None = None) -> None:
    """The loop of a worker process: receive functions and chunks, send outcomes.

    Args:
        conn: this worker's end of its duplex pipe with the caller.
        state: a shared array of two signed 64-bit integers: the index of the
            item running now (-1 when idle), read by the caller on a death, and
            the number of items started, which times each item for ``timeout``.
        caller_pid: the caller's pid, watched so that the worker exits if the
            caller is killed (it is not the parent under forkserver).
        parent_pid: the pid of the process that started the worker (the
            caller) when the worker may die with it, :data:`ANY_PARENT` for
            whichever parent it has (the fork server); None when not (a
            caller's thread started it: Linux would kill the worker when that
            thread ends).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
    os.environ[WORKER_ENV] = "1"
    watch = (caller_pid, os.getppid())
    if parent_pid == ANY_PARENT:
        _let_the_fork_server_go()
    if parent_pid is not None:
        die_with_parent(watch[1] if parent_pid == ANY_PARENT else parent_pid)
    threading.Thread(target=_watch_caller, args=watch, daemon=True).start()
    # Tells the caller that start-up is over: a death before this message is
    # the worker's failure to start, not any item's fault.
    conn.send_bytes(MSG_READY)
    current = memoryview(state).cast("B").cast("q")

    def mark(index: int) -> None:
        current[0] = index
        current[1] += 1  # a new item started, even if its index was seen before

    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(conn, inbox), daemon=True).start()
    functions: dict[bytes, tuple[Callable[..., Any], str, bool, bool]] = {}
    shared = _buffers.shared_directory()
    while True:
        try:
            message = inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            return  # unused that long: a warm worker does not linger (the caller replaces it)
        if message is None:
            return
        kind = message[:1]
        if kind == MSG_STOP:
            return
        if kind == MSG_FUNC:
            digest = message[1 : 1 + DIGEST_SIZE]
            try:
                func, initializer, initargs, serializer, star, portable = serializers.loads(
                    memoryview(message)[1 + DIGEST_SIZE :]
                )
                if initializer is not None:
                    initializer(*initargs)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                conn.send_bytes(MSG_SETUP_FAILED + serializers.dumps(_remote.pack(exc)))
                return
            functions[digest] = (func, serializer, star, portable)
            if len(functions) > KEPT_FUNCTIONS:
                # The caller forgets the same one: both drop the oldest.
                del functions[next(iter(functions))]
            continue
        task_id, digest, token = TASK_HEADER.unpack_from(message, 1)
        chunk = inbox.get()
        if chunk is None:
            return
        func, serializer, star, portable = functions[digest]
        # Loading the chunk runs the items' own unpickling code, which may
        # block: it is timed like an item, for no item in particular.
        mark(LOADING)
        try:
            start, args = serializers.loads(chunk)
        except BaseException as exc:  # noqa: BLE001 - reported; the caller isolates the item
            failure = serializers.dumps(_remote.pack(exc, portable=portable))
            current[0] = -1
            conn.send_bytes(MSG_CHUNK_FAILED + TASK_ID.pack(task_id) + failure)
            continue

        def flush(
            offset: int,
            values: list[Any],
            errors: dict[int, Any],
            busy: float,
            done: bool,
            task_id: int = task_id,
            start: int = start,
            serializer: str = serializer,
            token: str = token.decode(),
            portable: bool = portable,
        ) -> None:
            spill = Spill(shared, caller_pid, token) if shared is not None else None
            body = pack_results(start, offset, values, errors, serializer, spill, portable=portable)
            header = RESULTS_HEADER.pack(task_id, done, busy, offset, len(values))
            conn.send_bytes(MSG_RESULTS + header)
            conn.send_bytes(body)

        run_items(
            func,
            args,
            star=star,
            flush=flush,
            flush_interval=FLUSH_INTERVAL,
            first_index=start,
            mark=mark,
            pack=functools.partial(_remote.pack, portable=portable),
        )
        current[0] = -1
