"""A cache directory written by an attacker (or another program): each attack, and what parmap does.

Nothing here is ever unpickled from the attacker (that is test_cache_tamper.py): these attacks
aim at the database around the entries — its schema, its columns, its files — and must cost
at most a warning and a recomputation, never a hang, a crash, data loss or a write outside DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import re
import sqlite3
import sys
import time
import tracemalloc
import warnings

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_cache

import parmap
from parmap._cache import db as _cache_db
from parmap._cache.bound import _cause
from parmap._cache.db import open_database
from parmap._cli.cache import add_parser
from parmap.cache import Cache
from parmap.errors import CacheWarning

ITEMS = list(range(20))
LOOP = "WITH RECURSIVE loop(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM loop)"


def triple(x: int) -> int:
    return 3 * x


def run_map(directory: pathlib.Path, items: list[int] = ITEMS) -> list[int]:
    """One run with a cache, in this process; asserts its results are right."""
    cache = Cache(directory, secret=helpers_cache.TEST_SECRET)
    results = parmap.parallel_map(triple, items, cache=cache, backend="serial", progress=False)
    assert results == [3 * x for x in items]
    return results


def run_quietly(directory: pathlib.Path) -> None:
    """A run that must give no warning at all (the cache is sound and full)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_map(directory)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="parmap")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["cache", *argv])
    return int(args.func(args))


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARMAP_CACHE_SECRET", helpers_cache.TEST_SECRET.hex())


@pytest.fixture
def filled(tmp_path: pathlib.Path) -> pathlib.Path:
    """A sound cache holding ITEMS."""
    directory = tmp_path / "cache"
    run_map(directory)
    return directory


def database(directory: pathlib.Path) -> pathlib.Path:
    return directory / "entries.sqlite"


def edit(directory: pathlib.Path, *statements: str) -> None:
    """Change the database as another program would (plain sqlite3, no parmap)."""
    db = sqlite3.connect(database(directory), isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def snapshot(directory: pathlib.Path) -> dict[str, str]:
    """Names and contents of every file in ``directory``."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
        if path.is_file() and not path.is_symlink()
    }


def aside(directory: pathlib.Path, label: str) -> list[pathlib.Path]:
    return sorted(directory.glob(f"entries.sqlite.{label}-*[0-9]"))


def expect_moved_aside(directory: pathlib.Path, label: str, pattern: str) -> None:
    """A run warns that the database was moved aside (naming it), recomputes, and refills."""
    with pytest.warns(CacheWarning) as caught:
        run_map(directory)
    messages = [str(w.message) for w in caught]
    assert any(
        re.search(
            rf"(?s)cache database {re.escape(str(database(directory)))} cannot be used: "
            rf"{pattern}.*moved to entries\.sqlite\.{label}-",
            m,
        )
        for m in messages
    ), messages
    assert len(aside(directory, label)) == 1
    run_quietly(directory)  # the new database holds every result


# -- 1. a database of another application ---------------------------------------------------


def _foreign(directory: pathlib.Path, *, with_parmap_names: bool) -> None:
    directory.mkdir()
    db = sqlite3.connect(database(directory))
    table = "entries" if with_parmap_names else "items"
    db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany(f"INSERT INTO {table} (body) VALUES (?)", [(f"row {i}",) for i in range(1000)])
    db.commit()
    db.close()


@pytest.mark.parametrize("with_parmap_names", [False, True], ids=["items", "entries"])
@pytest.mark.parametrize(
    "command",
    [
        ("info",),
        ("verify",),
        ("verify", "--remove-bad"),
        ("prune", "--older-than", "0"),
        ("clear",),
    ],
    ids=" ".join,
)
def test_admin_command_refuses_a_foreign_database_and_writes_nothing(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    command: tuple[str, ...],
    with_parmap_names: bool,
) -> None:
    directory = tmp_path / "app"
    _foreign(directory, with_parmap_names=with_parmap_names)
    before = snapshot(directory)
    assert run_cli(*command, str(directory)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    table = "entries" if with_parmap_names else "items"
    assert re.match(
        rf"parmap: {re.escape(str(database(directory)))} is not a parmap cache: it holds "
        rf"table '{table}', none of them parmap's; parmap changed nothing in it",
        captured.err,
    ), captured.err
    assert snapshot(directory) == before  # no WAL, no -shm, no table, no row lost
    with helpers_cache.connect(database(directory)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.parametrize("with_parmap_names", [False, True], ids=["items", "entries"])
def test_run_leaves_a_foreign_database_alone(
    tmp_path: pathlib.Path, with_parmap_names: bool
) -> None:
    directory = tmp_path / "app"
    _foreign(directory, with_parmap_names=with_parmap_names)
    before = snapshot(directory)
    with pytest.warns(
        CacheWarning,
        match=r"(?s)cannot be used for .*triple: .*entries.sqlite is not a parmap cache: .*none of "
        r"them parmap's; parmap changed nothing in it.*goes on without the cache",
    ):
        run_map(directory)
    assert snapshot(directory) == before


# -- 2. a schema that is not exactly parmap's -------------------------------------------------

_COLUMNS = "key, scope, size, created, used, record"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("attack", "statements"),
    [
        (
            "view entries over a loop",
            [
                "DROP TABLE entries",
                f"CREATE VIEW entries ({_COLUMNS}) AS {LOOP} "
                "SELECT x'00', x'00', 1, 1, 1, x'00' FROM loop",
            ],
        ),
        (
            "view meta over a loop",
            [
                "DROP TABLE meta",
                f"CREATE VIEW meta (name, value) AS {LOOP} SELECT 'schema', '1' FROM loop",
            ],
        ),
        (
            "trigger inserting from a loop",
            [
                "CREATE TABLE sink (n)",
                f"CREATE TRIGGER grow AFTER INSERT ON entries BEGIN "
                f"INSERT INTO sink {LOOP} SELECT n FROM loop; END",
            ],
        ),
        ("an extra index", ["CREATE INDEX by_used ON entries (used)"]),
        ("an extra table", ["CREATE TABLE notes (text)"]),
        ("a missing trigger", ["DROP TRIGGER entries_added"]),
    ],
)
def test_schema_not_parmaps_is_moved_aside_before_any_query(
    filled: pathlib.Path, attack: str, statements: list[str]
) -> None:
    edit(filled, *statements)
    start = time.monotonic()
    expect_moved_aside(filled, "altered", r"it has (an unexpected|a redefined|no) ")
    assert time.monotonic() - start < 10, attack


@pytest.mark.timeout(30)
def test_schema_changed_while_a_run_uses_it_is_noticed(filled: pathlib.Path) -> None:
    cache = Cache(filled, secret=helpers_cache.TEST_SECRET)
    bound = cache.bind(triple)
    bound.store([(bound.key((100,)), 300)])  # opened and checked
    edit(
        filled,
        "CREATE TRIGGER grow AFTER INSERT ON entries BEGIN "
        f"SELECT n FROM ({LOOP} SELECT n FROM loop); END",
    )
    with pytest.warns(
        CacheWarning,
        match=r"(?s)cannot be used: its schema was changed while in use: "
        r"it has an unexpected trigger 'grow'.*moved to entries\.sqlite\.damaged-",
    ):
        bound.store([(bound.key((101,)), 303)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bound.lookup([bound.key((101,))]) == {bound.key((101,)): 303}
    cache.close()


@pytest.mark.timeout(30)
def test_every_query_has_a_deadline_and_an_untrusted_schema(
    filled: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_db, "RUN_SECONDS", 0.3)
    opened = open_database(database(filled), durable=False, mode="run")
    try:
        assert opened.db.execute("PRAGMA trusted_schema").fetchone() == (0,)
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            opened.db.execute(f"{LOOP} SELECT count(*) FROM loop").fetchone()
        assert time.monotonic() - start < 5
    finally:
        opened.db.close()


# -- 5. columns of the wrong type ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("UPDATE entries SET record = 7", r"its record is an integer, not bytes"),
        ("UPDATE entries SET record = 'text'", r"its record is text, not bytes"),
        ("UPDATE entries SET used = 'yesterday'", r"its last-use time is text, not a number"),
    ],
)
def test_column_of_the_wrong_type_is_a_damaged_entry(
    filled: pathlib.Path, change: str, reason: str
) -> None:
    edit(filled, change)
    with pytest.warns(CacheWarning, match=rf"(?s)cache entr(y|ies) .* did not verify.*{reason}"):
        run_map(filled)
    run_quietly(filled)  # recomputed and overwritten


def test_size_column_of_the_wrong_type_is_harmless_and_reported_by_verify(
    filled: pathlib.Path,
) -> None:
    edit(filled, "UPDATE entries SET size = 'big' WHERE rowid <= 3")
    run_quietly(filled)  # lookups do not read it
    cache = Cache(filled, secret=helpers_cache.TEST_SECRET)
    assert cache.info().entries == len(ITEMS)
    result = cache.verify()
    assert [reason for _key, _name, reason in result.bad] == [
        "its size column is text, not an integer"
    ] * 3
    # The edit skewed the byte total the triggers keep, by the three rows' sizes, no more.
    assert cache.prune(max_bytes=0).entries >= len(ITEMS) - 3


def test_null_record_behind_a_restored_schema_is_a_damaged_entry(filled: pathlib.Path) -> None:
    # NOT NULL is dropped, a NULL written, and the original definition put back: the schema
    # text is parmap's again, the row is not.
    with helpers_cache.connect(database(filled)) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
    loose = sql.replace("record BLOB NOT NULL", "record BLOB")
    edit(
        filled,
        "PRAGMA writable_schema = ON",
        f"UPDATE sqlite_master SET sql = '{loose}' WHERE name = 'entries'",
    )
    edit(filled, "UPDATE entries SET record = NULL")
    edit(
        filled,
        "PRAGMA writable_schema = ON",
        f"UPDATE sqlite_master SET sql = '{sql}' WHERE name = 'entries'",
    )
    with pytest.warns(CacheWarning, match=r"(?s)did not verify.*its record is NULL, not bytes"):
        run_map(filled)
    run_quietly(filled)


# -- 7. a damaged page -----------------------------------------------------------------------


def _damage_a_page(directory: pathlib.Path) -> None:
    """Overwrite the header of the b-tree page holding one entry's record."""
    path = database(directory)
    data = bytearray(path.read_bytes())
    with helpers_cache.connect(path) as db:
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    marker = data.find(b"marker 150")
    assert marker > page_size, "the record is not where the test expects it"
    start = marker - marker % page_size
    data[start : start + 12] = b"\xff" * 12
    path.write_bytes(bytes(data))


def _fill_with_markers(directory: pathlib.Path) -> Cache:
    cache = Cache(directory, secret=helpers_cache.TEST_SECRET)
    bound = cache.bind(triple)
    bound.store([(bound.key((i,)), f"marker {i}") for i in range(300)])
    cache.close()  # the last connection checkpoints the log into the database file
    assert not database(directory).with_name("entries.sqlite-wal").exists()
    return cache


def test_damaged_page_is_moved_aside_on_first_corrupt_error(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "cache"
    cache = _fill_with_markers(directory)
    _damage_a_page(directory)
    bound = cache.bind(triple)
    keys = [bound.key((i,)) for i in range(300)]
    with pytest.warns(
        CacheWarning,
        match=r"(?s)cannot be used: it is damaged \(database disk "
        r"image is malformed\).*moved to entries\.sqlite\.damaged-",
    ):
        assert bound.lookup(keys) == {}
    bound.store([(keys[0], "again")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bound.lookup(keys) == {keys[0]: "again"}
    cache.close()
    assert len(aside(directory, "damaged")) == 1


@pytest.mark.parametrize("damage", ["page", "garbage", "emptied"])
def test_clear_clears_a_damaged_cache(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    directory = tmp_path / "cache"
    _fill_with_markers(directory)
    if damage == "page":
        _damage_a_page(directory)
    else:
        database(directory).write_bytes(b"garbage" * 100 if damage == "garbage" else b"")
    assert run_cli("info", str(directory)) == 2
    assert re.search(
        r"cannot be used: .*`parmap cache clear .*` moves it aside", capsys.readouterr().err
    )
    assert run_cli("clear", str(directory)) == 0
    out = capsys.readouterr().out
    label = "emptied" if damage == "emptied" else "damaged"
    assert re.search(
        rf"(?s)could not be read: .*moved it to entries\.sqlite\.{label}-.*now empty", out
    ), out
    assert not database(directory).exists()
    run_map(directory)
    run_quietly(directory)


# -- issue: a cache emptied from outside ------------------------------------------------------


def test_emptied_database_is_reported_not_silently_refilled(filled: pathlib.Path) -> None:
    database(filled).write_bytes(b"")
    expect_moved_aside(filled, "emptied", r"it is empty \(0 bytes\): it was emptied outside parmap")


def test_database_removed_while_a_run_uses_it_is_reported(tmp_path: pathlib.Path) -> None:
    cache = Cache(tmp_path / "cache", secret=helpers_cache.TEST_SECRET)
    bound = cache.bind(triple)
    bound.store([(bound.key((1,)), 3)])
    for path in (tmp_path / "cache").iterdir():
        path.unlink()
    with pytest.warns(
        CacheWarning,
        match=r"(?s)cache database .*entries.sqlite was removed or replaced while this run used "
        r"it: what the run stored before is no longer there.*goes on with the database now",
    ):
        bound.store([(bound.key((2,)), 6)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bound.lookup([bound.key((1,)), bound.key((2,))]) == {bound.key((2,)): 6}
    cache.close()


def test_a_new_database_never_appears_half_made(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "cache"
    run_quietly(directory)  # a fresh cache: no warning that it was "emptied"
    assert {p.name for p in directory.iterdir()} == {"entries.sqlite"}


# -- 8. a lock held by someone else ----------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_held_write_lock_costs_one_short_wait_per_run(
    filled: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_db, "BUSY_TIMEOUT", 0.5)
    holder = sqlite3.connect(database(filled), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held for the whole run
    try:
        cache = Cache(filled, secret=helpers_cache.TEST_SECRET)
        bound = cache.bind(triple)
        start = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(100, 130):
                bound.store([(bound.key((i,)), 3 * i)])
            hits = bound.lookup([bound.key((i,)) for i in ITEMS])
        elapsed = time.monotonic() - start
        assert len(hits) == len(ITEMS)  # reads go on while another process writes
        cache.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert elapsed < 0.5 + 2.0, elapsed  # one wait, not thirty
    assert len(caught) == 1
    assert re.search(
        r"(?s)locked by another process: .* waited 0.5 s for it once and gave up"
        r".*only when the lock "
        r"is free",
        str(caught[0].message),
    )
    run_quietly(filled)  # the lock released, the next run stores and reads normally


@pytest.mark.timeout(30)
def test_an_exclusive_lock_at_open_costs_one_wait_and_says_so(
    filled: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_db, "BUSY_TIMEOUT", 0.3)
    holder = sqlite3.connect(database(filled), isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # readers are locked out too
    try:
        start = time.monotonic()
        with pytest.warns(
            CacheWarning,
            match=r"(?s)cannot be used for .*triple: OperationalError: database is locked.*"
            r"goes on without the cache; another process holds a lock on it",
        ):
            run_map(filled)
        assert time.monotonic() - start < 0.3 + 2.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- 9. links and special files --------------------------------------------------------------


@pytest.mark.parametrize("name", ["entries.sqlite", "entries.sqlite-wal", "entries.sqlite-shm"])
@pytest.mark.parametrize("target_exists", [True, False], ids=["to a file", "dangling"])
def test_planted_link_is_refused_and_nothing_outside_is_written(
    tmp_path: pathlib.Path, name: str, target_exists: bool
) -> None:
    directory, outside = tmp_path / "shared", tmp_path / "victim"
    directory.mkdir()
    outside.mkdir()
    target = outside / "important.db"
    if target_exists:
        target.write_bytes(b"the victim's data")
    (directory / name).symlink_to(target)
    with pytest.warns(
        CacheWarning,
        match=rf"cannot be used for .*triple: .*{re.escape(name)} is a "
        r"symbolic link \(to .*important.db\); parmap never follows links",
    ):
        run_map(directory)
    assert sorted(p.name for p in outside.iterdir()) == (["important.db"] if target_exists else [])
    if target_exists:
        assert target.read_bytes() == b"the victim's data"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["FIFO", "directory", "hard link"])
def test_special_file_as_database_is_refused(tmp_path: pathlib.Path, kind: str) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    path = database(directory)
    if kind == "FIFO":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        run_map(tmp_path / "elsewhere")
        os.link(database(tmp_path / "elsewhere"), path)
    pattern = {
        "FIFO": r"is a FIFO, not a regular file",
        "directory": r"is a directory, not a regular file",
        "hard link": r"has 2 names \(hard links\)",
    }[kind]
    with pytest.warns(CacheWarning, match=pattern):
        run_map(directory)


def test_admin_command_refuses_a_link(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_map(tmp_path / "real")
    directory = tmp_path / "cache"
    directory.mkdir()
    database(directory).symlink_to(database(tmp_path / "real"))
    for command in ("info", "clear"):
        assert run_cli(command, str(directory)) == 2
        assert re.match(r"parmap: .*entries.sqlite is a symbolic link", capsys.readouterr().err)
    run_quietly(tmp_path / "real")  # untouched: every entry still there


# -- 11. private files -----------------------------------------------------------------------


def test_directory_and_files_are_private_whatever_the_umask(tmp_path: pathlib.Path) -> None:
    previous = os.umask(0)
    try:
        cache = Cache(tmp_path / "cache", secret=helpers_cache.TEST_SECRET)
        bound = cache.bind(triple)
        bound.store([(bound.key((1,)), 3)])
        modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "cache").iterdir()}
        cache.close()
    finally:
        os.umask(previous)
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    assert modes == dict.fromkeys(
        ["entries.sqlite", "entries.sqlite-wal", "entries.sqlite-shm"], 0o600
    )


# -- 12. planted large rows ------------------------------------------------------------------


@pytest.mark.parametrize("size_column", ["matching", "lying"])
def test_large_planted_row_is_refused_without_loading_it(
    filled: pathlib.Path, size_column: str
) -> None:
    planted = 24 * 1024 * 1024
    size = planted if size_column == "matching" else 100
    edit(filled, f"UPDATE entries SET record = zeroblob({planted}), size = {size} WHERE rowid <= 2")
    tracemalloc.start()
    try:
        with pytest.warns(CacheWarning, match=r"(?s)cache entr(y|ies) .*did not verify"):
            run_map(filled)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak  # a chunk at a time, never a 24 MiB row
    run_quietly(filled)


def test_large_genuine_result_round_trips(tmp_path: pathlib.Path) -> None:
    cache = Cache(tmp_path / "cache", secret=helpers_cache.TEST_SECRET)
    bound = cache.bind(triple)
    value = os.urandom(3 * 1024 * 1024)
    bound.store([(bound.key((1,)), value)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bound.lookup([bound.key((1,))]) == {bound.key((1,)): value}
    assert cache.verify().ok
    cache.close()


# -- 15. store failures say what they are ----------------------------------------------------


def test_store_failure_names_its_cause() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    aborted = sqlite3.IntegrityError("raised by a trigger")
    aborted.sqlite_errorcode = 19  # type: ignore[attr-defined]
    assert _cause(full, "DIR") == "the disk is full: free some space"
    assert "disk" not in _cause(aborted, "DIR")
    assert _cause(aborted, "DIR") == "run `parmap cache verify DIR` to check the cache"


# -- 16. terminal escapes in the database ----------------------------------------------------


def test_info_and_verify_escape_terminal_sequences(
    filled: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "evil\x1b]0;owned\x07\x1b[2J\x9b"
    edit(
        filled,
        f"UPDATE functions SET name = '{evil}', python = '{evil}'",
        f"UPDATE meta SET value = '{evil}' WHERE name = 'created_by'",
        "UPDATE entries SET record = substr(record, 1, 41) WHERE rowid = 1",
    )
    assert run_cli("info", str(filled)) == 0
    assert run_cli("verify", str(filled)) == 1
    out = capsys.readouterr().out
    assert not set(out) & {"\x1b", "\x07", "\x9b"}
    assert "evil\\x1b]0;owned\\x07\\x1b[2J\\x9b: 20 entries" in out
    assert "(evil\\x1b]0;owned" in out  # the function name in verify's list


# -- 17. a read-only directory ---------------------------------------------------------------


def test_read_only_directory_serves_hits_and_stores_nothing(
    filled: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache_db, "writable", lambda *paths: False)
    before = database(filled).read_bytes()
    cache = Cache(filled, secret=helpers_cache.TEST_SECRET)
    bound = cache.bind(triple)
    keys = [bound.key((i,)) for i in ITEMS]
    assert bound.lookup(keys) == {key: 3 * i for i, key in zip(ITEMS, keys, strict=True)}
    with pytest.warns(CacheWarning, match=r"read-only for this process: hits are served"):
        bound.store([(bound.key((100,)), 300)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning a run
        bound.store([(bound.key((101,)), 303)])
    assert bound.lookup([bound.key((100,))]) == {}
    cache.close()
    assert database(filled).read_bytes() == before
    assert cache.info().entries == len(ITEMS)
    assert cache.verify().ok


_READER = """
import json, sys, warnings
sys.path.insert(0, sys.argv[2])
import helpers_cache
from parmap.cache import Cache

cache = Cache(sys.argv[1], secret=helpers_cache.TEST_SECRET)
bound = helpers_cache.fixed_bound(cache, "read-only")
keys = [bound.key((i,)) for i in range(10)]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    hits = bound.lookup(keys)
    bound.store([(bound.key((99,)), 1)])
cache.close()
print(json.dumps({
    "hits": [hits.get(key) for key in keys],
    "warnings": [str(w.message) for w in caught],
    "info": cache.info().entries,
    "verify": cache.verify().ok,
}))
"""


@pytest.mark.timeout(60)
def test_read_only_directory_for_real(tmp_path: pathlib.Path) -> None:
    """A directory this process cannot write: as root, the reader runs without capabilities.

    Root stays the owner, so permissions bind it as they bind any user. Running the reader
    as nobody instead fails wherever this interpreter or the tree lives under a private
    directory such as /root: a shared libpython (3.12 and 3.13 here) cannot be loaded, or
    another Python's is loaded in its place.
    """
    import json
    import shutil
    import subprocess
    import tempfile

    drop: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root ignores permissions, and setpriv (to drop capabilities) is missing")
        drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    # Under /tmp itself: pytest's own directories are private to their owner.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="parmap-ro-"))
    try:
        cache = Cache(directory, secret=helpers_cache.TEST_SECRET)
        bound = helpers_cache.fixed_bound(cache, "read-only")
        bound.store([(bound.key((i,)), i * i) for i in range(10)])
        cache.close()
        database(directory).chmod(0o644)
        directory.chmod(0o555)
        before = snapshot(directory)
        done = subprocess.run(
            [*drop, sys.executable, "-c", _READER, str(directory), str(helpers_cache.HERE)],
            env={"PYTHONPATH": str(helpers_cache.ROOT), "PATH": "/usr/bin:/bin", "HOME": "/"},
            capture_output=True,
            text=True,
            check=False,
            timeout=50,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        assert seen["hits"] == [i * i for i in range(10)]
        assert len(seen["warnings"]) == 1, seen["warnings"]
        assert re.search(r"read-only for this process: hits are served", seen["warnings"][0])
        assert (seen["info"], seen["verify"]) == (10, True)
        assert snapshot(directory) == before
    finally:
        directory.chmod(0o700)
        shutil.rmtree(directory)
