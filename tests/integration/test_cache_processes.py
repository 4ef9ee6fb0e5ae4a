"""Cache keys and fingerprints across fresh interpreters, and two processes sharing one cache.

Every child is a fresh interpreter started with ``subprocess`` (the "spawn" way: nothing is
inherited), with its own ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

TESTS = pathlib.Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
HELPER = TESTS / "helpers_cache.py"
sys.path.insert(0, str(TESTS))

import helpers_cache  # noqa: E402

from parmap.cache import Cache  # noqa: E402

BASE = '''
"""A job module, as a user would write it."""
import math

SCALE = 3
LIMITS = (1, 2)
UNUSED = "not read by work"


def helper(x):
    return x + SCALE


def unrelated(x):
    return x - 1


def work(x, factor=2):
    # multiply after the helper
    return helper(x) * factor + math.floor(1.5) + LIMITS[0]
'''

MAKER = """
def make(amount):
    def work(x):
        return x + amount
    return work

work = make({amount})
"""


def _env(seed: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONHASHSEED=seed, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT))
    return env


def _fingerprint_of(tmp_path: pathlib.Path, source: str, seed: str) -> str:
    (tmp_path / "job.py").write_text(textwrap.dedent(source))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import job; "
        "from parmap._cache.fingerprint import fingerprint; print(fingerprint(job.work).hex())"
    )
    done = subprocess.run(
        [sys.executable, "-B", "-c", code, str(tmp_path)],
        env=_env(seed),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


EDITS = {
    # name: (old, new, changes the fingerprint?)
    "comment": ("# multiply after the helper", "# a different comment\n    # and another", False),
    "blank lines": ('"""A job module', '\n\n\n"""A job module', False),
    "unrelated function": ("return x - 1", "return x - 2", False),
    "unread global": ('UNUSED = "not read by work"', 'UNUSED = "edited"', False),
    "body": ("* factor +", "* factor * 1 +", True),
    "constant": ("math.floor(1.5)", "math.floor(2.5)", True),
    "default": ("factor=2", "factor=3", True),
    "helper": ("return x + SCALE", "return x + SCALE + 0", True),
    "simple global": ("SCALE = 3", "SCALE = 4", True),
    "tuple global": ("LIMITS = (1, 2)", "LIMITS = (1, 3)", True),
}


@pytest.mark.slow
def test_fingerprint_follows_real_source_edits(tmp_path: pathlib.Path) -> None:
    base = _fingerprint_of(tmp_path, BASE, "1")
    assert _fingerprint_of(tmp_path, BASE, "2") == base
    changed = {}
    for name, (old, new, _expected) in EDITS.items():
        assert old in BASE, name
        changed[name] = _fingerprint_of(tmp_path, BASE.replace(old, new), "3") != base
    assert changed == {name: expected for name, (_o, _n, expected) in EDITS.items()}
    assert _fingerprint_of(tmp_path, BASE, "4") == base  # reverting every edit hits again


@pytest.mark.slow
def test_moving_a_function_lower_keeps_the_fingerprint(tmp_path: pathlib.Path) -> None:
    base = _fingerprint_of(tmp_path, BASE, "5")
    head, _sep, _tail = BASE.partition("def helper")
    helper_src = "def helper(x):\n    return x + SCALE\n"
    moved = BASE.replace(helper_src, "") + "\n\n# helpers below\n\n" + helper_src
    assert moved != BASE
    assert head in moved
    assert _fingerprint_of(tmp_path, moved, "6") == base


@pytest.mark.slow
def test_closure_value_edit_and_revert(tmp_path: pathlib.Path) -> None:
    three = _fingerprint_of(tmp_path, MAKER.format(amount=3), "7")
    four = _fingerprint_of(tmp_path, MAKER.format(amount=4), "8")
    assert three != four
    assert _fingerprint_of(tmp_path, MAKER.format(amount=3), "9") == three


def test_keys_are_the_same_in_fresh_interpreters_under_any_hash_seed() -> None:
    pinned = json.loads((helpers_cache.GOLDEN_DIR.parent / "keys.json").read_text())
    for seed in ("0", "1", "4242"):
        done = subprocess.run(
            [sys.executable, str(HELPER), "keys"],
            env=_env(seed),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(done.stdout) == pinned, seed


@pytest.mark.parametrize("attempt", range(5))  # the race on a new database is narrow
def test_two_processes_store_into_one_cache_at_once(tmp_path: pathlib.Path, attempt: int) -> None:
    directory = tmp_path / "shared"
    children = [
        subprocess.Popen(
            [sys.executable, str(HELPER), "store-range", str(directory), str(start), str(stop)],
            env=_env(seed),
        )
        for start, stop, seed in ((0, 300, "1"), (150, 450, "2"))
    ]
    for child in children:
        assert child.wait(timeout=60) == 0
    cache = Cache(directory, secret=helpers_cache.TEST_SECRET)
    bound = helpers_cache.fixed_bound(cache, "squares")
    keys = [bound.key((i,)) for i in range(450)]
    assert bound.lookup(keys) == {bound.key((i,)): i * i for i in range(450)}
    result = cache.verify()
    assert (result.ok, result.checked) == (True, 450)
    cache.close()
