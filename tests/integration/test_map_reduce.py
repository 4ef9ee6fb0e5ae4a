"""map_reduce against functools.reduce on the serial, threads and processes backends; resume."""

from __future__ import annotations

import functools
import operator
import pathlib
import sys
import warnings

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_reduce as h

import parmap
from parmap.cache import Cache

# Every backend, forced past the inline phase (the engine would run such small
# jobs in the caller), processes named with their start method.
BACKENDS = [
    pytest.param({"backend": "serial"}, id="serial"),
    pytest.param({"backend": "threads", "workers": 2, "inline": False}, id="threads"),
    pytest.param(
        {"backend": "processes", "workers": 2, "start_method": "fork", "inline": False},
        id="processes-fork",
    ),
]
ITEMS = list(range(100))


@pytest.mark.parametrize("options", BACKENDS)
def test_sum_equals_functools_reduce(options: dict[str, object]) -> None:
    expected = functools.reduce(operator.add, map(h.square, ITEMS))
    assert parmap.map_reduce(h.square, operator.add, ITEMS, **options) == expected


@pytest.mark.parametrize("options", BACKENDS)
@pytest.mark.parametrize("chunksize", [None, 1, 7, 1000])
def test_list_concatenation_keeps_order(options: dict[str, object], chunksize: int | None) -> None:
    got = parmap.map_reduce(h.as_list, h.add, ITEMS, chunksize=chunksize, **options)
    assert got == functools.reduce(h.add, map(h.as_list, ITEMS))


@pytest.mark.parametrize("options", BACKENDS)
def test_string_concatenation_from_a_generator(options: dict[str, object]) -> None:
    # A generator has no length: the default chunk size for unsized input is used.
    got = parmap.map_reduce(h.as_text, operator.add, (x for x in range(600)), **options)
    assert got == "".join(f"{x}," for x in range(600))


@pytest.mark.parametrize("options", BACKENDS)
def test_dict_counts_merged_with_combine(options: dict[str, object]) -> None:
    expected = functools.reduce(h.count_into, map(h.word_of, ITEMS), {})
    got = parmap.map_reduce(
        h.word_of, h.count_into, ITEMS, initial={}, combine=h.merge_counts, chunksize=9, **options
    )
    assert got == expected


@pytest.mark.parametrize("options", BACKENDS)
def test_initial_is_folded_in_once_without_combine(options: dict[str, object]) -> None:
    got = parmap.map_reduce(h.as_list, h.add, ITEMS, initial=[-1], chunksize=10, **options)
    assert got == [-1, *ITEMS]
    assert parmap.map_reduce(h.square, operator.add, ITEMS, initial=1000, **options) == 1000 + sum(
        x * x for x in ITEMS
    )


@pytest.mark.parametrize("options", BACKENDS)
def test_empty_input(options: dict[str, object]) -> None:
    assert parmap.map_reduce(h.square, operator.add, [], initial=5, **options) == 5
    assert parmap.map_reduce(h.word_of, h.count_into, [], initial={}, combine=h.merge_counts) == {}
    with pytest.raises(TypeError, match=r"^map_reduce\(\) of empty iterable with no initial value"):
        parmap.map_reduce(h.square, operator.add, [], **options)


@pytest.mark.parametrize("options", BACKENDS)
def test_mapper_error_is_its_own_type_naming_the_item(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="bad item 37") as caught:
        parmap.map_reduce(h.fail_on37, operator.add, ITEMS, chunksize=10, **options)
    notes = caught.value.__notes__
    assert any(note.startswith("parmap: raised by item 37 (37) in the mapper") for note in notes)
    # The note about the chunk that carried the item (item 3 of the engine's run) is gone.
    assert not any("raised by item 3 " in note for note in notes)


@pytest.mark.parametrize("options", BACKENDS)
def test_skip_leaves_failing_items_out_with_a_warning(options: dict[str, object]) -> None:
    with pytest.warns(
        RuntimeWarning, match=r"left out 1 item\(s\)(.|\n)*item 37 \(37\): ValueError"
    ):
        got = parmap.map_reduce(h.fail_on37, operator.add, ITEMS, on_error="skip", **options)
    assert got == sum(ITEMS) - 37


def test_collect_is_refused() -> None:
    with pytest.raises(ValueError, match=r"on_error='collect' is not supported.*on_error='skip'"):
        parmap.map_reduce(h.square, operator.add, ITEMS, on_error="collect")


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(TypeError, match="needs a function as its reducer, got int"):
        parmap.map_reduce(h.square, 3, ITEMS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="argument 3 must be iterable, got int"):
        parmap.map_reduce(h.square, operator.add, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown option 'worker'; did you mean 'workers'"):
        parmap.map_reduce(h.square, operator.add, ITEMS, worker=2)  # type: ignore[call-arg]


def test_interrupted_cached_run_recomputes_only_missing_chunks(tmp_path: pathlib.Path) -> None:
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    cache_dir = tmp_path / "cache"
    mapper = functools.partial(h.recorded, directory=str(calls_dir), bad=37)
    options = {
        "workers": 2,
        "start_method": "fork",
        "inline": False,
        "chunksize": 5,
        "cache": str(cache_dir),
    }
    with pytest.raises(RuntimeError, match="interrupted at item 37"):
        parmap.map_reduce(mapper, operator.add, range(40), **options)
    first = h.calls(str(calls_dir))
    stored = Cache(cache_dir).info().entries
    # Item 37 sleeps before it fails, so the chunks before its own have finished.
    assert stored == 7

    assert parmap.map_reduce(mapper, operator.add, range(40), **options) == sum(range(40))
    again = h.calls(str(calls_dir))
    for item in first:
        again.remove(item)
    # Only the chunks missing from the cache ran again, whole, including item 37's.
    assert len(again) == 40 - 5 * stored
    assert set(range(35, 40)) <= set(again)
    chunks = {item // 5 for item in again}
    assert sorted(again) == [i for c in sorted(chunks) for i in range(5 * c, 5 * c + 5)]

    # A third run finds every partial in the cache: no call at all.
    before = len(h.calls(str(calls_dir)))
    assert parmap.map_reduce(mapper, operator.add, range(40), **options) == sum(range(40))
    assert len(h.calls(str(calls_dir))) == before


def test_chunk_boundaries_depend_only_on_the_input_length() -> None:
    from parmap._run.reduce import chunk_size

    assert chunk_size(None, None) == 256
    assert chunk_size(100, None) == 1
    assert chunk_size(1_000_000, None) == 2048
    assert chunk_size(10_000, None) == 79
    assert chunk_size(10_000, 3) == 3


def test_no_warning_on_success() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parmap.map_reduce(h.square, operator.add, range(10), backend="serial") == 285
