"""Helpers for the cache tests: fixed secrets, golden files, and child-process entry points.

Regenerate the golden cache (only after a conscious format change, with FORMAT_VERSION or the
schema bumped) with::

    python tests/helpers_cache.py regen-golden

Child-process entry points (run as ``python tests/helpers_cache.py COMMAND ...``):

* ``store-forever DIR START`` stores ``i -> i * i`` one item per ``store()`` from START on,
  printing each stored index, until killed;
* ``store-range DIR START STOP`` stores that range in groups of 7 and exits;
* ``keys`` prints the hex keys of a fixed set of items under a fixed scope.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import pathlib
import shutil
import sqlite3
import sys
from collections.abc import Iterator

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from parmap.cache import BoundCache, Cache  # noqa: E402

GOLDEN_DIR = HERE / "data" / "cache" / "v1"
GOLDEN_SECRET = bytes(range(32))
TEST_SECRET = b"parmap test secret, 32 bytes...."
OTHER_SECRET = b"another user's secret, 32 bytes."


@dataclasses.dataclass(frozen=True)
class Point:
    """A plain dataclass item, with a set inside to check its canonical order."""

    x: int
    tags: frozenset[str]


@contextlib.contextmanager
def connect(path: pathlib.Path) -> Iterator[sqlite3.Connection]:
    """A connection to the database at ``path``: one transaction, committed, then closed.

    ``with sqlite3.connect(path)`` only commits: the connection is closed later by the
    garbage collector, which Python 3.13 reports with a ``ResourceWarning`` — an error in
    whichever test's ``simplefilter("error")`` block the collection happens to run.
    """
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


def fixed_bound(cache: Cache, label: str = "golden") -> BoundCache:
    """Bind ``cache`` to a fixed scope, so keys do not depend on this Python's bytecode."""
    return BoundCache(cache, hashlib.sha256(label.encode()), name=f"tests:{label}")


def key_items() -> list[tuple[object, ...]]:
    """Items whose keys are pinned in tests/data/cache/keys.json."""
    return [
        (0,),
        (-1,),
        (2**70,),
        ("héllo",),
        (b"\x00\xff",),
        (1.5,),
        (-0.0,),
        (None, True, False),
        ((1, 2), [3, 4]),
        ({"b": 1, "a": 2},),
        ({"x", "y", "z"},),
        (frozenset({3, 1, 2}),),
        (Point(3, frozenset({"b", "a"})),),
        (complex(1, -2), bytearray(b"ab")),
    ]


def golden_entries() -> list[tuple[tuple[object, ...], object, bool]]:
    """``(args, result, compressed)`` stored in the golden cache."""
    return [
        ((1,), 1, False),
        (("a", 2), ["a", "a"], False),
        ((3.5,), {"value": 3.5, "nested": (1, None)}, False),
        ((Point(1, frozenset({"t"})),), Point(2, frozenset({"u", "v"})), False),
        (("big",), "x" * 5000, True),  # compressed with zlib
    ]


def regen_golden() -> None:
    """Rewrite tests/data/cache/ from the current code."""
    if GOLDEN_DIR.exists():
        shutil.rmtree(GOLDEN_DIR)
    for compressed in (False, True):
        cache = Cache(GOLDEN_DIR, secret=GOLDEN_SECRET, compress="zlib" if compressed else False)
        bound = fixed_bound(cache)
        bound.store(
            [(bound.key(args), value) for args, value, c in golden_entries() if c is compressed]
        )
        cache.close()
    db = sqlite3.connect(GOLDEN_DIR / "entries.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    db.close()
    bound = fixed_bound(Cache(GOLDEN_DIR.parent / "unused", secret=GOLDEN_SECRET))
    keys = [bound.key(args).hex() for args in key_items()]  # in key_items() order
    (GOLDEN_DIR.parent / "keys.json").write_text(json.dumps(keys, indent=1) + "\n")


def _square_store(directory: str, indexes: range, group: int, report: bool) -> None:
    cache = Cache(directory, secret=TEST_SECRET)
    bound = fixed_bound(cache, "squares")
    batch: list[tuple[bytes, object]] = []
    for i in indexes:
        batch.append((bound.key((i,)), i * i))
        if len(batch) == group:
            bound.store(batch)
            batch = []
            if report:
                print(i, flush=True)
    if batch:
        bound.store(batch)
    bound.close()


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "regen-golden":
        regen_golden()
    elif command == "store-forever":
        _square_store(argv[1], range(int(argv[2]), 10**9), 1, report=True)
    elif command == "store-range":
        _square_store(argv[1], range(int(argv[2]), int(argv[3])), 7, report=False)
    elif command == "keys":
        bound = fixed_bound(Cache("unused", secret=GOLDEN_SECRET))
        print(json.dumps([bound.key(args).hex() for args in key_items()]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    # Run the code of the importable module, so that classes pickled or keyed here are named
    # helpers_cache.Point (as the tests see them), not __main__.Point.
    import helpers_cache

    helpers_cache.main(sys.argv[1:])
