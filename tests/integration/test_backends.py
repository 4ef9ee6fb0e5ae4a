"""Every backend, start method and serializer returns what the serial backend returns."""

from __future__ import annotations

import os

import pytest

import parmap
from tests import helpers

BACKENDS = [
    pytest.param({"backend": "serial"}, id="serial"),
    pytest.param({"backend": "threads", "workers": 2}, id="threads"),
    pytest.param({"backend": "processes", "workers": 2, "start_method": "fork"}, id="fork"),
]
SERIALIZERS = ["auto", "pickle", "cloudpickle", "dill"]


def reference(func, *iterables):
    return parmap.parallel_map(func, *iterables, backend="serial")


@pytest.mark.parametrize("options", BACKENDS)
@pytest.mark.parametrize("inline", [None, False])
def test_module_function_matches_serial(options, inline):
    items = list(range(50))
    assert parmap.parallel_map(helpers.square, items, inline=inline, **options) == reference(
        helpers.square, items
    )


@pytest.mark.parametrize("options", BACKENDS)
def test_several_iterables_zip_like_map(options):
    left, right = range(10), range(100, 107)
    expected = list(map(helpers.add, left, right))
    assert reference(helpers.add, left, right) == expected
    assert parmap.parallel_map(helpers.add, left, right, inline=False, **options) == expected


@pytest.mark.parametrize("options", BACKENDS)
def test_lambda_and_closure(options):
    offset = 7
    assert parmap.parallel_map(lambda x: x * 2, range(10), inline=False, **options) == [
        x * 2 for x in range(10)
    ]
    assert parmap.parallel_map(lambda x: x + offset, range(5), inline=False, **options) == [
        7,
        8,
        9,
        10,
        11,
    ]


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_serializers_on_fork(serializer):
    items = [{"a": i, "b": [i] * 3} for i in range(20)]
    got = parmap.parallel_map(
        len, items, serializer=serializer, workers=2, start_method="fork", inline=False
    )
    assert got == [2] * 20


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_lambda_on_spawn_and_forkserver(start_method):
    factor = 3
    got = parmap.parallel_map(
        lambda x: x * factor, range(12), workers=2, start_method=start_method, inline=False
    )
    assert got == [x * 3 for x in range(12)]


def test_work_is_spread_over_workers():
    pids = parmap.parallel_map(
        helpers.pid_of, range(40), workers=2, start_method="fork", chunksize=1, inline=False
    )
    assert os.getpid() not in pids
    assert 1 <= len(set(pids)) <= 2


def test_small_job_runs_in_the_caller_by_default():
    pids = parmap.parallel_map(helpers.pid_of, range(20), workers=2, start_method="fork")
    assert set(pids) == {os.getpid()}


def test_unordered_imap_yields_every_result():
    got = parmap.imap(
        helpers.slow_square,
        range(20),
        ordered=False,
        workers=2,
        start_method="fork",
        inline=False,
    )
    assert sorted(got) == [x * x for x in range(20)]


def test_imap_is_lazy_and_reads_a_generator():
    consumed = []

    def numbers():
        for i in range(100_000):
            consumed.append(i)
            yield i

    results = parmap.imap(helpers.square, numbers(), workers=2, start_method="fork")
    assert consumed == []  # nothing read before the first next()
    first = [next(results) for _ in range(3)]
    assert first == [0, 1, 4]
    assert len(consumed) < 100_000
    assert sum(results) == sum(x * x for x in range(3, 100_000))


def test_warm_backend_is_reused_across_runs():
    with parmap.ProcessBackend(2, start_method="fork") as backend:
        first = set(
            parmap.parallel_map(
                helpers.pid_of, range(20), backend=backend, chunksize=1, inline=False
            )
        )
        second = set(
            parmap.parallel_map(
                helpers.pid_of, range(20), backend=backend, chunksize=1, inline=False
            )
        )
        # A function defined after the workers started still reaches them.
        assert parmap.parallel_map(lambda x: -x, range(3), backend=backend, inline=False) == [
            0,
            -1,
            -2,
        ]
    assert first & second, "the second run should reuse the first run's workers"


def test_initializer_runs_in_each_worker():
    got = parmap.parallel_map(
        helpers.recall,
        range(8),
        initializer=helpers.remember,
        initargs=("ready",),
        workers=2,
        start_method="fork",
    )
    assert got == ["ready"] * 8


def test_initializer_on_threads_and_serial():
    for backend in ("threads", "serial"):
        got = parmap.parallel_map(
            helpers.recall,
            range(4),
            initializer=helpers.remember,
            initargs=(backend,),
            backend=backend,
            workers=2,
        )
        assert got == [backend] * 4


def test_failing_initializer_raises_its_error():
    def broken() -> None:
        raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database") as caught:
        parmap.parallel_map(
            helpers.square, range(4), initializer=broken, workers=2, start_method="fork"
        )
    assert any("initializer" in note for note in caught.value.__notes__)


def test_nested_call_runs_inside_the_worker():
    got = parmap.parallel_map(helpers.nested, [3, 4], workers=2, start_method="fork", inline=False)
    assert got == [[0, 1, 4], [0, 1, 4, 9]]


def test_empty_input():
    assert parmap.parallel_map(helpers.square, [], workers=2, start_method="fork") == []
    assert list(parmap.imap(helpers.square, iter([]), backend="threads")) == []


def _first(array):
    return float(array[0])


def _filled(value):
    import numpy as np

    return np.full(500_000, value, dtype=np.float64)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_large_arrays_both_ways_leave_no_shared_files(start_method):
    import glob

    import numpy as np

    arrays = [np.full(500_000, float(i)) for i in range(6)]
    got = parmap.parallel_map(_first, arrays, workers=2, start_method=start_method, inline=False)
    assert got == [float(i) for i in range(6)]
    back = parmap.parallel_map(
        _filled, range(4), workers=2, start_method=start_method, inline=False
    )
    assert [float(a[-1]) for a in back] == [0.0, 1.0, 2.0, 3.0]
    assert glob.glob(f"/dev/shm/parmap-{os.getpid()}-*") == []


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_started_by_multiprocess(start_method):
    import multiprocess

    context = multiprocess.get_context(start_method)
    with parmap.ProcessBackend(2, context=context) as backend:
        assert backend.start_method == start_method
        got = parmap.parallel_map(lambda x: x + 1, range(6), backend=backend, inline=False)
    assert got == [1, 2, 3, 4, 5, 6]


def test_context_and_start_method_must_agree():
    import multiprocessing

    with pytest.raises(ValueError, match=r"`start_method` is 'spawn' but the context"):
        parmap.ProcessBackend(2, start_method="spawn", context=multiprocessing.get_context("fork"))


def test_leaving_imap_early_stops_its_workers():
    import time

    results = parmap.imap(
        helpers.slow_square, range(1000), workers=2, start_method="fork", inline=False
    )
    assert next(results) == 0
    began = time.monotonic()
    results.close()  # what a `break` out of a for loop does, once the iterator is dropped
    assert time.monotonic() - began < 2.0
    # The autouse fixture fails this test if a worker is still running.


def test_the_input_is_iterated_once():
    class Once:
        def __init__(self):
            self.calls = 0

        def __iter__(self):
            self.calls += 1
            return iter(range(5))

    source = Once()
    assert parmap.parallel_map(helpers.square, source, backend="serial") == [0, 1, 4, 9, 16]
    assert source.calls == 1


def test_a_warm_worker_keeps_a_bounded_number_of_functions():
    from parmap._transport import worker as _worker

    with parmap.ProcessBackend(1, start_method="fork") as backend:
        for k in range(_worker.KEPT_FUNCTIONS + 3):
            got = parmap.parallel_map(lambda x, k=k: x + k, [1], backend=backend, inline=False)
            assert got == [1 + k]
        # The first function was dropped on both sides; using it again sends it again.
        first = parmap.parallel_map(lambda x, k=0: x + k, [5], backend=backend, inline=False)
        assert first == [5]
        (worker,) = backend._pool.workers
        assert len(worker.functions) == _worker.KEPT_FUNCTIONS


def test_workers_start_only_as_tasks_need_them():
    with parmap.ProcessBackend(8, start_method="fork") as backend:
        got = parmap.parallel_map(
            helpers.square, [1, 2], backend=backend, chunksize=1, inline=False
        )
        assert got == [1, 4]
        assert 1 <= len(backend.processes) <= 2
