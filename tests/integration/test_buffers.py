"""Large buffers of runs side by side in one process: no run sweeps another's shared memory."""

from __future__ import annotations

import glob
import os
import threading

import numpy as np
import pytest

import parmap
from tests import helpers

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm on this system"),
]


def _total(array: np.ndarray) -> float:
    return float(array.sum())


def _arrays(count: int) -> list[np.ndarray]:
    return [np.full(1_000_000, float(k)) for k in range(count)]  # 8 MB each: out of band


def test_a_run_inside_the_loop_of_another_leaves_its_buffers_alone() -> None:
    outer = parmap.imap(_total, _arrays(6), workers=2, start_method="fork", inline=False)
    got = []
    for total in outer:
        got.append(total)
        inner = parmap.parallel_map(
            _total, _arrays(2), workers=2, start_method="fork", inline=False
        )
        assert inner == [0.0, 1e6]
    assert got == [k * 1e6 for k in range(6)]


def test_two_threads_mapping_arrays_at_once() -> None:
    results: dict[int, list[float]] = {}
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            results[k] = parmap.parallel_map(
                _total, _arrays(8), workers=2, start_method="fork", inline=False
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(50)
    assert not errors, errors
    assert results == {k: [j * 1e6 for j in range(8)] for k in range(2)}


def test_no_buffer_file_is_left_after_the_runs() -> None:
    parmap.parallel_map(helpers.identity, _arrays(3), workers=2, start_method="fork", inline=False)
    assert glob.glob(f"/dev/shm/parmap-{os.getpid()}-*") == []
