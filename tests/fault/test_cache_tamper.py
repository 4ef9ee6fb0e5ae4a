"""Corrupt and hostile caches: each kind of tampering is left out with a warning, never run."""

from __future__ import annotations

import pathlib
import pickle
import re
import shutil
import sys
import warnings
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_cache

from parmap._cache.record import Signer, make_record
from parmap.cache import BoundCache, Cache, CacheRefusedError
from parmap.errors import CacheWarning


def double(x: int) -> int:
    return 2 * x


@pytest.fixture
def filled(tmp_path: pathlib.Path) -> Iterator[tuple[Cache, BoundCache, list[bytes]]]:
    cache = Cache(tmp_path / "cache", secret=helpers_cache.TEST_SECRET)
    bound = cache.bind(double)
    keys = [bound.key((i,)) for i in range(5)]
    bound.store([(k, 2 * i) for i, k in enumerate(keys)])
    yield cache, bound, keys
    cache.close()


def _record(cache: Cache, key: bytes) -> bytes:
    with helpers_cache.connect(cache.directory / "entries.sqlite") as db:
        return bytes(db.execute("SELECT record FROM entries WHERE key = ?", (key,)).fetchone()[0])


def _set_record(cache: Cache, key: bytes, record: bytes) -> None:
    with helpers_cache.connect(cache.directory / "entries.sqlite") as db:
        db.execute("UPDATE entries SET record = ? WHERE key = ?", (record, key))


def _lookup_expecting_bad(bound: BoundCache, keys: list[bytes], bad: bytes, pattern: str) -> None:
    with pytest.warns(CacheWarning) as caught:
        hits = bound.lookup(keys)
    assert bad not in hits
    assert len(hits) == len(keys) - 1
    message = str(caught[0].message)
    assert "entries.sqlite" in message
    assert f"entry {bad.hex()[:16]}" in message
    assert "double" in message
    assert re.search(pattern, message), message


def _check_recomputed_overwrites(cache: Cache, bound: BoundCache, keys: list[bytes]) -> None:
    bound.store([(keys[2], 4)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bound.lookup(keys)[keys[2]] == 4
    assert cache.verify().ok


def test_truncated_entry(filled: tuple[Cache, BoundCache, list[bytes]]) -> None:
    cache, bound, keys = filled
    _set_record(cache, keys[2], _record(cache, keys[2])[:-3])
    _lookup_expecting_bad(bound, keys, keys[2], r"authentication failed")
    _set_record(cache, keys[2], _record(cache, keys[2])[:20])
    _lookup_expecting_bad(bound, keys, keys[2], r"truncated \(20 bytes\)")
    _check_recomputed_overwrites(cache, bound, keys)


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_flipped_bit(filled: tuple[Cache, BoundCache, list[bytes]], position: int) -> None:
    cache, bound, keys = filled
    record = bytearray(_record(cache, keys[2]))
    record[position] ^= 0x10
    _set_record(cache, keys[2], bytes(record))
    _lookup_expecting_bad(bound, keys, keys[2], r"bad magic|format|authentication failed")
    _check_recomputed_overwrites(cache, bound, keys)


def test_forged_with_a_wrong_secret(filled: tuple[Cache, BoundCache, list[bytes]]) -> None:
    cache, bound, keys = filled
    forged = make_record(Signer(helpers_cache.OTHER_SECRET), keys[2], pickle.dumps(999))
    _set_record(cache, keys[2], forged)
    _lookup_expecting_bad(bound, keys, keys[2], r"another secret")
    _check_recomputed_overwrites(cache, bound, keys)


def test_swapped_payloads(filled: tuple[Cache, BoundCache, list[bytes]]) -> None:
    cache, bound, keys = filled
    first, second = _record(cache, keys[1]), _record(cache, keys[2])
    _set_record(cache, keys[1], second)
    _set_record(cache, keys[2], first)
    with pytest.warns(CacheWarning, match=r"(?s)2 cache entries .*did not verify") as caught:
        hits = bound.lookup(keys)
    assert set(hits) == {keys[0], keys[3], keys[4]}
    assert keys[1].hex()[:16] in str(caught[0].message)


def test_foreign_cache_copied_with_another_secret(
    filled: tuple[Cache, BoundCache, list[bytes]], tmp_path: pathlib.Path
) -> None:
    cache, _bound, keys = filled
    cache.close()
    shutil.copytree(cache.directory, tmp_path / "copied")
    foreign = Cache(tmp_path / "copied", secret=helpers_cache.OTHER_SECRET).bind(double)
    with pytest.warns(CacheWarning, match=r"(?s)5 cache entries .*copied.*another secret"):
        assert foreign.lookup(keys) == {}
    foreign.store([(keys[0], 0)])
    assert foreign.lookup([keys[0]]) == {keys[0]: 0}
    shared = Cache(tmp_path / "copied", secret=helpers_cache.TEST_SECRET).bind(double)
    # Handing over the secret on purpose shares the cache; the entry rewritten under the other
    # secret is now the foreign one.
    with pytest.warns(CacheWarning, match=f"entry {keys[0].hex()[:16]}"):
        assert set(shared.lookup(keys)) == set(keys[1:])
    foreign.close()
    shared.close()


class _Payload:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (pathlib.Path.touch, (self.marker,))


def test_malicious_pickle_never_runs(
    filled: tuple[Cache, BoundCache, list[bytes]], tmp_path: pathlib.Path
) -> None:
    cache, bound, keys = filled
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker), protocol=5)
    pickle.loads(payload)  # the payload does what it claims when unpickled ...
    assert marker.exists()
    marker.unlink()
    genuine = _record(cache, keys[2])
    # ... so plant it raw, and behind a genuine header with the original tag.
    for record in (payload, genuine[:40] + payload, b"PMCE" + payload):
        _set_record(cache, keys[2], record)
        _lookup_expecting_bad(
            bound, keys, keys[2], r"magic|format \d+|authentication failed|truncated"
        )
        assert not marker.exists()
    result = cache.verify()
    assert not result.ok
    assert not marker.exists()


def test_verify_lists_bad_entries_and_can_remove_them(
    filled: tuple[Cache, BoundCache, list[bytes]],
) -> None:
    cache, _bound, keys = filled
    _set_record(cache, keys[3], _record(cache, keys[3])[:-1])
    result = cache.verify()
    assert (result.checked, len(result.bad)) == (5, 1)
    assert result.bad[0][0] == keys[3].hex()
    assert result.bad[0][1].endswith(":double")
    assert "1 bad" in str(result)
    assert cache.verify(remove_bad=True).removed == 1
    assert cache.verify().ok
    assert cache.info().entries == 4


def test_result_class_gone_is_recomputed(
    filled: tuple[Cache, BoundCache, list[bytes]],
) -> None:
    cache, bound, keys = filled
    value = helpers_cache.Point(1, frozenset())
    forged = pickle.dumps(value, protocol=5).replace(b"Point", b"Gone_")
    _set_record(cache, keys[2], make_record(Signer(helpers_cache.TEST_SECRET), keys[2], forged))
    _lookup_expecting_bad(bound, keys, keys[2], r"does not load here: AttributeError")


def test_golden_cache_is_read_by_this_version(tmp_path: pathlib.Path) -> None:
    shutil.copytree(helpers_cache.GOLDEN_DIR, tmp_path / "golden")
    cache = Cache(tmp_path / "golden", secret=helpers_cache.GOLDEN_SECRET)
    bound = helpers_cache.fixed_bound(cache)
    entries = helpers_cache.golden_entries()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hits = bound.lookup([bound.key(args) for args, _value, _compressed in entries])
    assert [hits.get(bound.key(args)) for args, _v, _c in entries] == [v for _a, v, _c in entries]
    assert cache.verify().checked == len(entries)
    assert cache.verify().ok
    assert cache.info().functions[0].name == "tests:golden"
    cache.close()


def test_golden_keys_are_stable() -> None:
    import json

    pinned = json.loads((helpers_cache.GOLDEN_DIR.parent / "keys.json").read_text())
    bound = helpers_cache.fixed_bound(Cache("unused", secret=helpers_cache.GOLDEN_SECRET))
    assert [bound.key(args).hex() for args in helpers_cache.key_items()] == pinned


def test_damaged_database_file_is_moved_aside_and_replaced(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "entries.sqlite").write_bytes(b"garbage" * 1000)
    cache = Cache(directory, secret=helpers_cache.TEST_SECRET)
    with pytest.raises(CacheRefusedError, match=r"entries.sqlite cannot be used: .*not a database"):
        cache.info()  # inspection reports the damage and changes nothing
    assert (directory / "entries.sqlite").read_bytes() == b"garbage" * 1000
    bound = cache.bind(double)
    with pytest.warns(
        CacheWarning, match=r"(?s)entries.sqlite cannot be used: it is damaged.*moved to .*damaged-"
    ):
        assert bound.lookup([bound.key((1,))]) == {}
    bound.store([(bound.key((1,)), 2)])
    assert bound.lookup([bound.key((1,))]) == {bound.key((1,)): 2}
    damaged = list(directory.glob("entries.sqlite.damaged-*"))
    assert len(damaged) == 1
    assert damaged[0].read_bytes() == b"garbage" * 1000
    cache.close()
