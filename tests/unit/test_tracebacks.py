"""What a re-raised error's traceback shows: the user's frames, not parmap's scheduler."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import pytest

import parmap
from tests import helpers


def _frames(exc: BaseException) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


def _broken() -> Iterator[int]:
    yield 1
    raise OSError("the input file vanished")


def test_an_error_of_the_function_shows_the_call_and_the_function() -> None:
    with pytest.raises(ValueError, match="bad item 3") as caught:
        parmap.parallel_map(helpers.fail_on, range(5), backend="serial")
    names = _frames(caught.value)
    assert names[0] == "test_an_error_of_the_function_shows_the_call_and_the_function"
    assert names[-1] == "fail_on"
    assert "run" not in names, "the scheduler's frames are left out"


def test_an_error_of_the_input_shows_the_generator() -> None:
    with pytest.raises(OSError, match="the input file vanished") as caught:
        list(parmap.imap(helpers.square, _broken(), backend="serial"))
    assert _frames(caught.value)[-1] == "_broken"


def test_an_unexpected_error_inside_parmap_keeps_every_frame() -> None:
    with parmap.ProcessBackend(1, start_method="fork") as backend:
        results = parmap.imap(helpers.square, [1], backend=backend)
    with pytest.raises(RuntimeError, match="closed") as caught:
        next(results)
    # A RuntimeError raised inside parmap is not trimmed: it may be a bug to report.
    assert any(name == "open" for name in _frames(caught.value))
