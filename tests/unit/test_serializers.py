"""The serializer adapters: the auto choice, tagged payloads, out-of-band buffers."""

from __future__ import annotations

import glob
import os
import threading

import numpy as np
import pytest

from parmap import serializers
from parmap._transport import buffers as _buffers

SHM = _buffers.shared_directory()
needs_shm = pytest.mark.skipif(SHM is None, reason="no /dev/shm on this platform")


def _files(owner: int) -> list[str]:
    return glob.glob(f"/dev/shm/parmap-{owner}-*")


def test_auto_prefers_plain_pickle_for_plain_data():
    payload = serializers.dumps({"a": [1, 2.5, "x"]})
    assert serializers.serializer_of(payload) == "pickle"
    assert serializers.loads(payload) == {"a": [1, 2.5, "x"]}


def test_auto_falls_back_to_cloudpickle_for_a_lambda():
    payload = serializers.dumps(lambda x: x + 1)
    assert serializers.serializer_of(payload) == "cloudpickle"
    assert serializers.loads(payload)(1) == 2


def test_main_functions_travel_by_value_when_portable():
    def local(x: int) -> int:
        return x

    local.__module__ = "__main__"
    local.__qualname__ = "local"
    assert serializers.serializer_of(serializers.dumps(local, portable=True)) == "cloudpickle"


def test_named_serializer_failure_lists_each_error():
    with pytest.raises(serializers.SerializationFailure) as caught:
        serializers.dumps(threading.Lock(), "pickle")
    assert set(caught.value.errors) == {"pickle"}


def test_unknown_tag_is_refused():
    with pytest.raises(ValueError, match="unknown serializer tag"):
        serializers.loads(b"Z123")


@needs_shm
def test_large_buffers_travel_out_of_band_and_are_removed_once_read():
    owner = os.getpid()
    array = np.arange(1_000_000, dtype=np.float64)
    spill = _buffers.Spill(SHM, owner, _buffers.new_token())
    payload = serializers.dumps([array, b"small"], spill=spill)
    assert len(payload) < 10_000, "the array's bytes must not be inside the payload"
    assert len(_files(owner)) == 1
    copy, small = serializers.loads(payload)
    assert small == b"small"
    np.testing.assert_array_equal(copy, array)
    copy[0] = -1.0  # the received array is writable and independent
    assert array[0] == 0.0
    assert _files(owner) == []


@needs_shm
def test_small_buffers_stay_in_band():
    spill = _buffers.Spill(SHM, os.getpid(), _buffers.new_token())
    payload = serializers.dumps(np.zeros(10), spill=spill)
    assert payload[:1] == b"P"
    assert spill.files == []


@needs_shm
def test_failed_pickling_removes_the_files_it_wrote():
    owner = os.getpid()
    spill = _buffers.Spill(SHM, owner, _buffers.new_token())
    with pytest.raises(serializers.SerializationFailure):
        serializers.dumps([np.zeros(1_000_000), threading.Lock()], "pickle", spill=spill)
    assert _files(owner) == []


@needs_shm
def test_sweep_removes_unread_files_of_one_run_only():
    owner = os.getpid()
    mine, other = _buffers.new_token(), _buffers.new_token()
    serializers.dumps(np.zeros(1_000_000), spill=_buffers.Spill(SHM, owner, mine))
    serializers.dumps(np.zeros(1_000_000), spill=_buffers.Spill(SHM, owner, other))
    assert len(_files(owner)) == 2
    _buffers.sweep(owner, mine)
    assert len(_files(owner)) == 1, "another run's buffers must survive this run's sweep"
    _buffers.sweep(owner)
    assert _files(owner) == []


@needs_shm
def test_orphaned_files_of_a_dead_caller_are_swept():
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(child.stdout)
    path = os.path.join(SHM, f"parmap-{dead}-{_buffers.new_token()}-0000")
    with open(path, "wb") as f:
        f.write(b"x")
    live = os.path.join(SHM, f"parmap-{os.getpid()}-{_buffers.new_token()}-0000")
    with open(live, "wb") as f:
        f.write(b"x")
    try:
        _buffers.sweep_orphans()
        assert not os.path.exists(path)
        assert os.path.exists(live), "a live caller's files are not orphans"
    finally:
        for leftover in (path, live):
            if os.path.exists(leftover):
                os.unlink(leftover)


def test_plain_data_needs_no_round_trip():
    assert serializers.is_plain_data({"a": [1, 2.5, "x", b"y", (None, True)], "s": {1, 2}})
    assert not serializers.is_plain_data([np.zeros(3)])
    big = np.zeros(1_000_000)  # a large buffer reaches the writer as a PickleBuffer
    assert not serializers.is_plain_data({"array": big})
    with pytest.raises(TypeError):
        serializers.is_plain_data([threading.Lock()])
