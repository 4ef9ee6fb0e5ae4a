"""Unit tests of ``parmap cache info|verify|prune|clear DIR``, driven through argparse."""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import helpers_cache

from parmap._cli.cache import add_parser
from parmap.cache import Cache


def cube(x: int) -> int:
    return x**3


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="parmap")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["cache", *argv])
    return int(args.func(args))


@pytest.fixture
def directory(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.setenv("PARMAP_CACHE_SECRET", helpers_cache.TEST_SECRET.hex())
    cache = Cache(tmp_path / "cache")
    bound = cache.bind(cube)
    bound.store([(bound.key((i,)), i**3) for i in range(12)])
    bound.close()
    return tmp_path / "cache"


def test_info_lists_entries_and_functions(
    directory: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("info", str(directory)) == 0
    out = capsys.readouterr().out
    assert "entries: 12 " in out
    assert f"{__name__}:cube: 12 entries" in out
    assert "last use: 20" in out


def test_verify_passes_then_fails_on_a_bad_entry(
    directory: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify", str(directory)) == 0
    assert "checked 12 entries" in capsys.readouterr().out
    with helpers_cache.connect(directory / "entries.sqlite") as db:
        # Which key comes first depends on cube's bytecode, so on the Python version, and
        # some records are under 50 bytes: cut the last byte, whichever entry it is.
        key = db.execute("SELECT key FROM entries LIMIT 1").fetchone()[0]
        db.execute(
            "UPDATE entries SET record = substr(record, 1, length(record) - 1) WHERE key = ?",
            (key,),
        )
    assert run("verify", str(directory)) == 1
    out = capsys.readouterr().out
    assert f"entry {key.hex()} ({__name__}:cube): authentication failed" in out
    assert run("verify", "--remove-bad", str(directory)) == 1
    assert "removed 1 bad entries" in capsys.readouterr().out
    assert run("verify", str(directory)) == 0


def test_prune_by_function_and_size(
    directory: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("prune", "--max-bytes", "300", str(directory)) == 0
    assert "removed " in capsys.readouterr().out
    assert Cache(directory).info().bytes <= 300
    assert run("prune", "--older-than", "1", str(directory)) == 0
    assert "removed 0 entries" in capsys.readouterr().out
    assert run("prune", "--function", f"{__name__}:cube", str(directory)) == 0
    assert Cache(directory).info().entries == 0


def test_clear_prints_what_it_removed(
    directory: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("clear", str(directory)) == 0
    assert capsys.readouterr().out.startswith("removed 12 entries")
    assert Cache(directory).info().entries == 0


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (("info", "{missing}"), r"^parmap: no parmap cache in .*missing"),
        (("prune", "{dir}"), r"^parmap: `parmap cache prune` needs at least one of --older-than"),
        (("prune", "--function", "nope", "{dir}"), r"^parmap: no function named 'nope'"),
        (("prune", "--max-bytes", "-1", "{dir}"), r"^parmap: `max_bytes` must be >= 0"),
    ],
)
def test_errors_go_to_stderr_with_exit_2(
    directory: pathlib.Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], pattern: str
) -> None:
    filled = [a.format(dir=directory, missing=directory.parent / "missing") for a in argv]
    assert run(*filled) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(pattern, captured.err), captured.err
    assert not (directory.parent / "missing").exists()
