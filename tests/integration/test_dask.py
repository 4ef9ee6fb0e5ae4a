"""The Dask backend against a LocalCluster on loopback, compared with the serial backend."""

from __future__ import annotations

import collections
import copy
import functools
import operator
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_reduce as h

import parmap
from parmap.errors import WorkerDiedError

ROOT = pathlib.Path(__file__).resolve().parents[2]
ITEMS = list(range(60))


def _cluster(**scheduler: Any) -> Any:
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        # The scheduler's HTTP server would otherwise take, or warn about, port 8787.
        scheduler_kwargs={"dashboard_address": ":0", **scheduler},
    )


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = _cluster()
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client
    cluster.close()


def _on(client: Any, **options: Any) -> dict[str, Any]:
    return {"backend": client, "inline": False, **options}


@pytest.mark.dask
def test_parallel_map_equals_serial(client: Any) -> None:
    expected = parmap.parallel_map(h.square, ITEMS, backend="serial")
    assert parmap.parallel_map(h.square, ITEMS, **_on(client)) == expected
    # Several iterables zip; a lambda travels by value (cloudpickle).
    got = parmap.parallel_map(lambda a, b: a - b, ITEMS, ITEMS[::-1], **_on(client))
    assert got == [a - b for a, b in zip(ITEMS, ITEMS[::-1], strict=True)]


@pytest.mark.dask
def test_worker_exception_comes_back_as_its_own_type(client: Any) -> None:
    with pytest.raises(ValueError, match="bad item 3") as caught:
        parmap.parallel_map(h.fail_on, range(10), **_on(client))
    note = "\n".join(caught.value.__notes__)
    assert "parmap: raised by item 3 (3) in worker pid" in note
    assert "fail_on" in str(caught.value.__cause__)  # the worker's traceback


@pytest.mark.dask
def test_unordered_imap(client: Any) -> None:
    got = list(parmap.imap(h.slow_square, range(30), ordered=False, **_on(client, chunksize=2)))
    assert sorted(got) == [x * x for x in range(30)]


@pytest.mark.dask
def test_on_error_collect(client: Any) -> None:
    got = parmap.parallel_map(h.fail_on, range(6), **_on(client, on_error="collect"))
    assert got[:3] == [0, 1, 2]
    assert got[4:] == [4, 5]
    assert isinstance(got[3], parmap.Failure)
    assert isinstance(got[3].exception, ValueError)


@pytest.mark.dask
def test_runs_on_the_cluster_workers_with_one_initializer_each(
    client: Any, tmp_path: pathlib.Path
) -> None:
    pids = parmap.parallel_map(
        h.pid_of,
        range(40),
        **_on(client, chunksize=1, initializer=h.note_pid, initargs=(str(tmp_path),)),
    )
    workers = set(client.run(os.getpid).values())
    assert set(pids) <= workers
    assert os.getpid() not in pids
    # The function and initializer were loaded once per worker, not per task.
    inits = [name.split("-")[1] for name in os.listdir(tmp_path)]
    assert sorted(inits) == sorted({str(pid) for pid in pids})


@pytest.mark.dask
@pytest.mark.parametrize(
    ("mapper", "reducer", "extra"),
    [
        (h.square, operator.add, {}),
        (h.as_list, h.add, {"chunksize": 7}),
        (h.word_of, h.count_into, {"initial": {}, "combine": h.merge_counts}),
    ],
    ids=["sum", "list-order", "dict-combine"],
)
def test_map_reduce_equals_functools_reduce(
    client: Any, mapper: Any, reducer: Any, extra: dict[str, Any]
) -> None:
    start = copy.deepcopy(extra.get("initial"))  # count_into changes its accumulator in place
    expected = (
        functools.reduce(reducer, map(mapper, ITEMS), start)
        if "initial" in extra
        else functools.reduce(reducer, map(mapper, ITEMS))
    )
    assert parmap.map_reduce(mapper, reducer, ITEMS, **_on(client), **extra) == expected


@pytest.mark.dask
def test_cache_lives_in_the_caller(client: Any, tmp_path: pathlib.Path) -> None:
    first = parmap.parallel_map(h.square, range(20), **_on(client, cache=str(tmp_path)))
    assert parmap.Cache(tmp_path).info().entries == 20
    assert parmap.parallel_map(h.square, range(20), **_on(client, cache=str(tmp_path))) == first


@pytest.mark.dask
def test_owned_local_cluster_and_a_killed_worker_naming_the_item() -> None:
    pytest.importorskip("distributed")
    from parmap.backends.dask import DaskBackend

    # A DaskBackend without address or client starts its own LocalCluster (closed
    # on exit), where Dask itself retries nothing: the first death reaches parmap.
    with DaskBackend(2) as backend:
        assert parmap.parallel_map(h.square, range(8), backend=backend, inline=False) == [
            x * x for x in range(8)
        ]
        pattern = r"while running item 2 \(2\)(.|\n)*Likely cause: the Dask worker process ended"
        with pytest.raises(WorkerDiedError, match=pattern) as caught:
            parmap.parallel_map(h.exit_on, range(6), backend=backend, chunksize=1, inline=False)
        assert caught.value.index == 2
        got = parmap.parallel_map(
            h.exit_on, range(6), backend=backend, on_error="collect", inline=False
        )
    assert [x for x in got if not isinstance(x, parmap.Failure)] == [0, 1, 3, 4, 5]
    assert isinstance(got[2].exception, WorkerDiedError)


@pytest.mark.dask
@pytest.mark.slow
def test_unreachable_address_says_what_to_do() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(
        OSError, match=r"cannot reach the Dask scheduler at address='tcp://127.0.0.1:9'"
    ):
        parmap.parallel_map(h.square, ITEMS, backend="dask", address="tcp://127.0.0.1:9")


def test_without_distributed_backend_dask_says_how_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["distributed"] = None  # as if it were not installed
        import parmap
        try:
            parmap.parallel_map(abs, [1, 2], backend="dask")
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "pip install 'parmap[dask]'" in out.stdout, out.stderr


@pytest.mark.dask
def test_wordcount_example_same_on_processes_and_dask(client: Any, tmp_path: pathlib.Path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import wordcount
    finally:
        sys.path.remove(str(ROOT / "examples"))
    for n in range(12):
        (tmp_path / f"f{n}.txt").write_text(f"alpha beta w{n % 3} " * (n + 1))
    files = wordcount.files_under(str(tmp_path))
    client.upload_file(wordcount.__file__)  # the workers import the functions by name
    # merge() adds into its first argument, as functools.reduce would: a fresh initial each.
    on_processes = parmap.map_reduce(
        wordcount.count_file,
        wordcount.merge,
        files,
        initial=collections.Counter(),
        workers=2,
        start_method="fork",
        inline=False,
    )
    on_dask = parmap.map_reduce(
        wordcount.count_file,
        wordcount.merge,
        files,
        initial=collections.Counter(),
        backend=client,
        inline=False,
    )
    assert on_dask == on_processes
    assert on_dask["alpha"] == sum(range(1, 13))


MAIN_EXCEPTION_ON_DASK = textwrap.dedent(
    """
    import distributed, parmap

    class ParseError(Exception):
        pass

    def parse(x):
        if x == 3:
            raise ParseError(f"cannot parse {x}")
        return x

    if __name__ == "__main__":
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address=None, host="127.0.0.1",
                                           scheduler_kwargs={"dashboard_address": ":0"})
        with distributed.Client(cluster, set_as_default=False) as client:
            try:
                parmap.parallel_map(parse, range(6), backend=client, inline=False)
            except ParseError as exc:
                print("caught", exc)
        cluster.close()
    """
)


@pytest.mark.dask
@pytest.mark.timeout(120)
def test_an_exception_class_of_main_comes_back_as_itself(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("distributed")
    script = tmp_path / "main_exception.py"
    script.write_text(MAIN_EXCEPTION_ON_DASK)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "caught cannot parse 3"
