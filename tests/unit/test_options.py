"""Bad options fail at once with a message naming the option, the value and the choices."""

from __future__ import annotations

import pytest

import parmap
from parmap._run.chunking import ChunkSizer
from tests import helpers


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"workers": -3}, ValueError, r"`workers` must be a positive integer or None, got -3"),
        ({"workers": "2"}, TypeError, r"`workers` must be a positive integer"),
        ({"backend": "proceses"}, ValueError, r"did you mean 'processes'\?"),
        ({"serializer": "dil"}, ValueError, r"`serializer` must be one of .*did you mean 'dill'"),
        ({"on_error": "ignore"}, ValueError, r"`on_error` must be one of 'raise', 'collect'"),
        ({"start_method": "forks"}, ValueError, r"did you mean 'fork'"),
        ({"chunksize": 0}, ValueError, r"`chunksize` must be a positive integer"),
        ({"retries": -1}, ValueError, r"`retries` must be a non-negative integer"),
        ({"timeout": 0}, ValueError, r"`timeout` must be a positive number"),
        ({"worker": 2}, TypeError, r"unknown option 'worker'; did you mean 'workers'\?"),
        ({"retry_on": 3}, TypeError, r"`retry_on` must be exception types"),
        ({"cache": 3}, TypeError, r"`cache` must be a directory path or a parmap.Cache"),
        ({"backend": 3}, TypeError, r"`backend` must be 'processes'"),
    ],
)
def test_bad_option(options, error, pattern):
    with pytest.raises(error, match=pattern):
        parmap.parallel_map(helpers.square, [1], **options)


def test_imap_checks_options_before_iterating():
    with pytest.raises(ValueError, match="`workers`"):
        parmap.imap(helpers.square, [1], workers=0)


def test_not_callable_and_not_iterable():
    with pytest.raises(TypeError, match=r"needs a function as its first argument"):
        parmap.parallel_map([1, 2], helpers.square)
    with pytest.raises(TypeError, match=r"argument 2 must be iterable, got int"):
        parmap.parallel_map(helpers.square, 5)


def test_public_names_match_all():
    for name in parmap.__all__:
        assert getattr(parmap, name) is not None, name
    assert sorted(parmap.__all__) == sorted(set(parmap.__all__))


def test_chunk_sizer_aims_at_target_and_shrinks_at_the_end():
    sizer = ChunkSizer(2)
    assert sizer.next_size(1000) == 1  # nothing measured yet
    sizer.observe(0.001, 100)  # 10 µs per item
    assert 3990 <= sizer.next_size(None) <= 4000
    assert sizer.next_size(80) == 10  # the tail is split for balance
    assert ChunkSizer(2, fixed=7).next_size(3) == 7
