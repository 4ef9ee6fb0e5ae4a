"""SIGKILL of a process in the middle of a long series of ``store()`` calls, many rounds.

The child (a fresh interpreter started with ``subprocess``: the spawn way) stores ``i -> i*i``
one item per ``store()`` call and prints each index once its call returned. The parent kills it
either after a random delay or the moment the database's write-ahead log changes size (that is,
inside or right after a write), then checks that the cache opens, verifies entry by entry, holds
every acknowledged item with its exact value, and resumes from there.
"""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

TESTS = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import helpers_cache  # noqa: E402

from parmap.cache import Cache  # noqa: E402

ROUNDS = 20


def _start(directory: pathlib.Path, first: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent))
    return subprocess.Popen(
        [
            sys.executable,
            str(TESTS / "helpers_cache.py"),
            "store-forever",
            str(directory),
            f"{first}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _log_state(wal: pathlib.Path) -> tuple[int, int]:
    try:
        status = wal.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (status.st_size, status.st_mtime_ns)


def _kill_on_wal_change(child: subprocess.Popen[str], wal: pathlib.Path, skip: int) -> None:
    """Kill the child at the ``skip``-th change of the log (size or time) seen by polling."""
    last = _log_state(wal)
    seen = 0
    deadline = time.monotonic() + 5
    while seen < skip and time.monotonic() < deadline:
        state = _log_state(wal)
        if state != last:
            seen += 1
            last = state
    child.send_signal(signal.SIGKILL)
    assert seen >= skip, "the child stopped writing to the log"


def _contiguous_hits(cache: Cache, upto: int) -> int:
    """Return n such that items 0..n-1 are all cached with exact values; assert nothing beyond."""
    bound = helpers_cache.fixed_bound(cache, "squares")
    keys = [bound.key((i,)) for i in range(upto)]
    hits = bound.lookup(keys)
    present = sorted(i for i, key in enumerate(keys) if key in hits)
    assert all(hits[keys[i]] == i * i for i in present)
    count = len(present)
    assert present == list(range(count)), "a gap: an entry was lost while later ones survived"
    return count


@pytest.mark.slow
def test_sigkill_during_stores_never_breaks_the_cache(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "cache"
    rng = random.Random(20240605)
    resumed_from = 0
    for round_number in range(ROUNDS):
        child = _start(directory, resumed_from)
        assert child.stdout is not None
        first_ack = child.stdout.readline()  # the child is storing now
        assert first_ack.strip() == str(resumed_from), child.returncode
        if round_number % 2:
            _kill_on_wal_change(child, directory / "entries.sqlite-wal", rng.randint(1, 40))
        else:
            time.sleep(rng.uniform(0.0, 0.15))
            child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        acknowledged = [int(line) for line in (first_ack + rest).split()]
        last_ack = acknowledged[-1]
        cache = Cache(directory, secret=helpers_cache.TEST_SECRET)
        result = cache.verify()
        assert result.ok, result
        count = _contiguous_hits(cache, last_ack + 50)
        # Every acknowledged store survived; at most the one call in flight went further.
        assert last_ack + 1 <= count <= last_ack + 2, (round_number, last_ack, count)
        assert cache.info().entries == count
        cache.close()
        resumed_from = count
    assert resumed_from > ROUNDS  # the run made progress round after round
