"""Unit tests of the result cache: round trips, keys per item, settings, failures that only warn."""

from __future__ import annotations

import os
import pathlib
import stat
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_cache

from parmap.cache import Cache, as_cache
from parmap.errors import CacheWarning


def square(x: int) -> int:
    return x * x


@pytest.fixture
def cache(tmp_path: pathlib.Path) -> Iterator[Cache]:
    cache = Cache(tmp_path / "cache", secret=helpers_cache.TEST_SECRET)
    yield cache
    cache.close()


def test_round_trip_returns_equal_values(cache: Cache) -> None:
    bound = cache.bind(square)
    values = [1, "two", [3.0, None], {"four": (4,)}, helpers_cache.Point(5, frozenset({"a"}))]
    keys = [bound.key((i,)) for i in range(len(values))]
    assert bound.lookup(keys) == {}
    bound.store(list(zip(keys, values, strict=True)))
    assert bound.lookup(keys) == dict(zip(keys, values, strict=True))
    bound.close()
    again = Cache(cache.directory, secret=helpers_cache.TEST_SECRET).bind(square)
    assert again.lookup(keys) == dict(zip(keys, values, strict=True))
    again.close()


def test_appended_items_only_miss_the_new_keys(cache: Cache) -> None:
    bound = cache.bind(square)
    first = [bound.key((i,)) for i in range(50)]
    bound.store([(k, i * i) for i, k in enumerate(first)])
    longer = [bound.key((i,)) for i in range(80)]
    assert longer[:50] == first
    hits = bound.lookup(longer)
    missing = [i for i, k in enumerate(longer) if k not in hits]
    assert missing == list(range(50, 80))


def test_key_covers_args_const_version_and_function(cache: Cache, tmp_path: pathlib.Path) -> None:
    bound = cache.bind(square)
    assert bound.key((1,)) != bound.key((2,))
    assert bound.key((1,)) != bound.key((1.0,))
    assert bound.key((1,)) != bound.key(("1",))
    assert bound.key((1,)) != cache.bind(square, const=(3,)).key((1,))
    assert bound.key((1,)) != cache.bind(abs).key((1,))
    assert bound.key((1,)) == cache.bind(square).key((1,))
    versioned = Cache(tmp_path / "cache", secret=helpers_cache.TEST_SECRET, version="data-v2")
    assert versioned.bind(square).key((1,)) != bound.key((1,))


def test_item_without_stable_encoding_is_computed_not_cached(cache: Cache) -> None:
    bound = cache.bind(square)
    with pytest.warns(CacheWarning, match=r"some items of .*square are not cached: .*lock"):
        first = bound.key((threading.Lock(),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per run
        second = bound.key((threading.Lock(),))
    assert first != second
    bound.store([(first, 1), (bound.key((2,)), 4)])
    assert bound.lookup([first, second, bound.key((2,))]) == {bound.key((2,)): 4}
    assert cache.info().entries == 1


def test_function_that_cannot_be_fingerprinted_turns_caching_off(cache: Cache) -> None:
    class Weird:
        def __call__(self, x: int) -> int:
            return x

        def __reduce_ex__(self, protocol: object) -> object:
            raise RuntimeError("no")

        @property
        def __class__(self) -> type:  # type: ignore[override]
            raise RuntimeError("no class")

    with pytest.warns(CacheWarning, match=r"not cached: its fingerprint cannot be computed"):
        bound = cache.bind(Weird())
    bound.store([(bound.key((1,)), 1)])
    assert bound.lookup([bound.key((1,))]) == {}


@pytest.mark.parametrize("compress", [True, "zlib", "zstd"])
def test_compressed_entries_round_trip_and_shrink(tmp_path: pathlib.Path, compress: object) -> None:
    if compress == "zstd":
        pytest.importorskip("zstandard")
    plain = Cache(tmp_path / "plain", secret=helpers_cache.TEST_SECRET)
    packed = Cache(tmp_path / "packed", secret=helpers_cache.TEST_SECRET, compress=compress)  # type: ignore[arg-type]
    value = [f"value {i % 10}" for i in range(1000)]
    for c in (plain, packed):
        bound = c.bind(square)
        bound.store([(bound.key((1,)), value)])
        assert bound.lookup([bound.key((1,))]) == {bound.key((1,)): value}
    assert packed.info().bytes * 3 < plain.info().bytes
    plain.close()
    packed.close()


def test_unpicklable_result_warns_and_keeps_the_others(cache: Cache) -> None:
    bound = cache.bind(square)
    keys = [bound.key((i,)) for i in range(3)]
    with pytest.warns(CacheWarning, match=r"result of .*square was not cached .*lock"):
        bound.store([(keys[0], 0), (keys[1], threading.Lock()), (keys[2], 4)])
    assert bound.lookup(keys) == {keys[0]: 0, keys[2]: 4}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_directory_warns_and_goes_on(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    bound = Cache(directory, secret=helpers_cache.TEST_SECRET).bind(square)
    with pytest.warns(CacheWarning, match=r"cannot be used for .*square"):
        bound.store([(bound.key((1,)), 1)])
    assert bound.lookup([bound.key((1,))]) == {}


def test_unopenable_directory_warns_and_goes_on(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    bound = Cache(blocker / "cache", secret=helpers_cache.TEST_SECRET).bind(square)
    with pytest.warns(CacheWarning, match=r"(?s)cannot be used for .*square.*goes on without"):
        bound.store([(bound.key((1,)), 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bound.lookup([bound.key((1,))]) == {}  # disabled: no second warning


def test_max_bytes_keeps_the_cache_under_its_size(tmp_path: pathlib.Path) -> None:
    cache = Cache(tmp_path / "c", secret=helpers_cache.TEST_SECRET, max_bytes=20_000)
    bound = cache.bind(square)
    for i in range(100):
        bound.store([(bound.key((i,)), "x" * 1000)])
    info = cache.info()
    assert info.bytes <= 20_000
    assert 10 <= info.entries < 20
    assert bound.key((99,)) in bound.lookup([bound.key((99,))])  # the newest survive
    cache.close()


def test_prune_by_function_age_and_size(cache: Cache) -> None:
    squares, absolutes = cache.bind(square), cache.bind(abs)
    squares.store([(squares.key((i,)), "s" * 100) for i in range(10)])
    absolutes.store([(absolutes.key((i,)), "a" * 100) for i in range(10)])
    assert {f.name for f in cache.info().functions} == {f"{__name__}:square", "builtins:abs"}
    assert cache.prune(older_than=3600).entries == 0
    removed = cache.prune(function="builtins:abs")
    assert removed.entries == 10
    assert [f.name for f in cache.info().functions] == [f"{__name__}:square"]
    with pytest.raises(LookupError, match=r"no function named 'nope'.*holds: .*square"):
        cache.prune(function="nope")
    assert cache.prune(max_bytes=600).entries >= 5
    assert cache.info().bytes <= 600
    remaining = cache.info().entries
    assert remaining > 0
    assert cache.prune(older_than=0).entries == remaining
    assert cache.info().entries == 0


def test_clear_reports_what_it_removed(cache: Cache) -> None:
    bound = cache.bind(square)
    bound.store([(bound.key((i,)), i) for i in range(7)])
    result = cache.clear()
    assert result.entries == 7
    assert str(result).startswith("removed 7 entries")
    assert bound.lookup([bound.key((1,))]) == {}


def test_info_on_missing_directory_raises(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no parmap cache in .*nowhere"):
        Cache(tmp_path / "nowhere").info()
    assert not (tmp_path / "nowhere").exists()


def test_as_cache_accepts_paths_caches_and_none(tmp_path: pathlib.Path) -> None:
    cache = Cache(tmp_path)
    assert as_cache(None) is None
    assert as_cache(cache) is cache
    assert as_cache(str(tmp_path)).directory == tmp_path  # type: ignore[union-attr]
    assert as_cache(tmp_path).directory == tmp_path  # type: ignore[union-attr]
    with pytest.raises(TypeError, match=r"`cache` must be a directory path.*got int"):
        as_cache(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"max_bytes": 0}, ValueError, r"`max_bytes` must be a positive integer"),
        ({"compress": "lzma"}, ValueError, r"`compress` must be True, False, 'zlib' or 'zstd'"),
        ({"secret": b"short"}, ValueError, r"`secret` must be bytes of length >= 16"),
        ({"version": 3}, TypeError, r"`version` must be a string or None, got int"),
    ],
)
def test_bad_options_are_named(
    tmp_path: pathlib.Path, options: dict[str, object], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        Cache(tmp_path, **options)  # type: ignore[arg-type]


def test_concurrent_threads_store_and_read(cache: Cache) -> None:
    bound = cache.bind(square)

    def work(offset: int) -> None:
        for i in range(offset, offset + 50):
            bound.store([(bound.key((i,)), i * i)])

    threads = [threading.Thread(target=work, args=(n * 25,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    keys = [bound.key((i,)) for i in range(125)]
    assert bound.lookup(keys) == {bound.key((i,)): i * i for i in range(125)}
    assert cache.verify().ok


def test_database_is_one_file_not_one_per_entry(cache: Cache) -> None:
    bound = cache.bind(square)
    bound.store([(bound.key((i,)), i) for i in range(500)])
    names = {p.name for p in cache.directory.iterdir()}
    assert names <= {"entries.sqlite", "entries.sqlite-wal", "entries.sqlite-shm"}
    with helpers_cache.connect(cache.directory / "entries.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_lookup_refreshes_last_use_so_pruning_keeps_hits(cache: Cache) -> None:
    bound = cache.bind(square)
    keys = [bound.key((i,)) for i in range(10)]
    bound.store([(k, "v" * 100) for k in keys])
    with helpers_cache.connect(cache.directory / "entries.sqlite") as db:
        db.execute("UPDATE entries SET used = used - 86400 * 30")
    bound.lookup([keys[7]])
    result = cache.prune(max_bytes=200)
    assert result.entries == 9
    assert set(bound.lookup(keys)) == {keys[7]}
