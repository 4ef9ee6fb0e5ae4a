"""Unit tests of the canonical encoding behind cache keys."""

from __future__ import annotations

import collections
import dataclasses
import enum
import fractions
import threading

import pytest

from parmap._cache.canonical import _Encoder
from parmap._cache.fingerprint import _function_in_an_item, encode


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Box:
    label: str
    tags: set[str]


def _general(obj: object) -> bytes:
    out: list[bytes] = []
    _Encoder(out, on_function=_function_in_an_item).put(obj)
    return b"".join(out)


@pytest.mark.parametrize(
    "args", [(1,), ("é\udc80",), (1.5, -0.0, 2**100), (0, "", 0.0), (-(2**64), "x" * 1000)]
)
def test_fast_path_equals_the_general_encoder(args: tuple[object, ...]) -> None:
    assert encode(args) == _general(args)


def test_equal_looking_values_of_other_types_differ() -> None:
    values = [1, 1.0, True, "1", b"1", (1,), [1], {1}, frozenset({1}), 1 + 0j, bytearray(b"1")]
    encodings = {encode(v) for v in values}
    assert len(encodings) == len(values)
    assert encode(0.0) != encode(-0.0)
    assert encode(("ab", "c")) != encode(("a", "bc"))
    assert encode([[1], 2]) != encode([[1, 2]])


def test_set_order_does_not_matter_but_dict_order_does() -> None:
    words = [f"w{i}" for i in range(50)]
    assert encode(set(words)) == encode(set(reversed(words)))
    assert encode(frozenset(words)) == encode(frozenset(sorted(words, key=hash)))
    assert encode({"a": 1, "b": 2}) != encode({"b": 2, "a": 1})
    assert encode({"a": 1, "b": 2}) == encode(dict([("a", 1), ("b", 2)]))


def test_objects_are_encoded_by_their_reduction() -> None:
    assert encode(Box("x", {"p", "q", "r"})) == encode(Box("x", {"r", "q", "p"}))
    assert encode(Box("x", {"p"})) != encode(Box("y", {"p"}))
    assert encode(Color.RED) != encode(Color.BLUE)
    assert encode(fractions.Fraction(1, 3)) == encode(fractions.Fraction(2, 6))
    assert encode(collections.OrderedDict(a=1)) != encode({"a": 1})
    point = collections.namedtuple("point", "x y")
    assert encode(point(1, 2)) != encode((1, 2))


def test_cycles_are_back_references() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    assert encode(loop) == encode(loop)
    other: list[object] = [1]
    other.append([1, other])
    assert encode(other) != encode(loop)
    shared = [1]
    assert encode([shared, shared]) == encode([[1], [1]])  # sharing is not a cycle


def test_functions_in_items_are_fingerprinted() -> None:
    def first(x: int) -> int:
        return x + 1

    def second(x: int) -> int:
        return x + 2

    assert encode((first,)) != encode((second,))
    assert encode((len,)) != encode((abs,))
    assert encode((int,)) != encode((float,))


def test_numpy_arrays_by_dtype_shape_and_data() -> None:
    numpy = pytest.importorskip("numpy")
    base = numpy.arange(6, dtype=numpy.int64)
    assert encode(base) == encode(numpy.arange(6, dtype=numpy.int64))
    assert encode(base) != encode(base.astype(numpy.int32))
    assert encode(base) != encode(base.reshape(2, 3))
    assert encode(base.reshape(2, 3).T) == encode(numpy.ascontiguousarray(base.reshape(2, 3).T))
    assert encode(numpy.float64(1.5)) != encode(1.5)
    objects = numpy.array([{"b", "a"}, None], dtype=object)
    assert encode(objects) == encode(numpy.array([{"a", "b"}, None], dtype=object))


def test_unencodable_item_raises_naming_the_type() -> None:
    with pytest.raises(TypeError, match=r"cannot make a cache key .*_thread.lock.*cache=None"):
        encode(([threading.Lock()],))


def test_too_deep_nesting_raises() -> None:
    deep: list[object] = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(TypeError, match=r"nested more than 200 levels"):
        encode(deep)
