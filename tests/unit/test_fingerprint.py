"""Unit tests of function fingerprints on objects built in this process."""

from __future__ import annotations

import functools
import math
import operator

import pytest

from parmap._cache.fingerprint import fingerprint

SCALE = 3
NAMES = ("a", "b")


def helper(x: int) -> int:
    return x + SCALE


def uses_helper(x: int) -> int:
    return helper(x) * 2


def recursive_a(n: int) -> int:
    return 0 if n <= 0 else recursive_b(n - 1)


def recursive_b(n: int) -> int:
    return 0 if n <= 0 else recursive_a(n - 1)


def make_adder(amount: object):  # type: ignore[no-untyped-def]
    def add(x: int) -> object:
        return x + amount  # type: ignore[operator]

    return add


class Scaler:
    factor = 2

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def apply(self, x: int) -> int:
        return x * self.factor + self.offset

    def __call__(self, x: int) -> int:
        return self.apply(x)


def test_fingerprint_is_a_stable_digest() -> None:
    assert len(fingerprint(uses_helper)) == 32
    assert fingerprint(uses_helper) == fingerprint(uses_helper)


def test_same_code_in_two_functions_gives_one_fingerprint() -> None:
    def first(x: int) -> int:
        return x + 1

    def second(x: int) -> int:
        return x + 1

    def third(x: int) -> int:
        return x + 2

    assert fingerprint(first) != fingerprint(third)
    # Only the name differs, and the name is part of the code object.
    assert fingerprint(first) != fingerprint(second)
    second.__code__ = first.__code__
    assert fingerprint(first) == fingerprint(second)


def test_closure_values_count() -> None:
    assert fingerprint(make_adder(1)) == fingerprint(make_adder(1))
    assert fingerprint(make_adder(1)) != fingerprint(make_adder(2))
    assert fingerprint(make_adder({"b", "a"})) == fingerprint(make_adder({"a", "b"}))


def test_defaults_count() -> None:
    def scaled(x: int, factor: int = 2) -> int:
        return x * factor

    before = fingerprint(scaled)
    scaled.__defaults__ = (3,)
    assert fingerprint(scaled) != before
    scaled.__defaults__ = (2,)
    assert fingerprint(scaled) == before


def test_simple_global_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(uses_helper)
    monkeypatch.setitem(globals(), "SCALE", 4)
    assert fingerprint(uses_helper) != before
    monkeypatch.setitem(globals(), "SCALE", 3)
    assert fingerprint(uses_helper) == before


def test_helper_code_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(uses_helper)

    def other_helper(x: int) -> int:
        return x - SCALE

    monkeypatch.setitem(globals(), "helper", other_helper)
    assert fingerprint(uses_helper) != before


def test_mutual_recursion_terminates() -> None:
    assert fingerprint(recursive_a) != fingerprint(recursive_b)


def test_partial_counts_args_and_keywords() -> None:
    base = fingerprint(functools.partial(uses_helper))
    assert fingerprint(functools.partial(make_adder(1), 2)) != base
    assert fingerprint(functools.partial(int, base=2)) != fingerprint(
        functools.partial(int, base=8)
    )
    assert fingerprint(functools.partial(int, base=2)) == fingerprint(
        functools.partial(int, base=2)
    )


def test_bound_methods_and_callable_instances_count_state_and_class() -> None:
    assert fingerprint(Scaler(1).apply) == fingerprint(Scaler(1).apply)
    assert fingerprint(Scaler(1).apply) != fingerprint(Scaler(2).apply)
    assert fingerprint(Scaler(1)) != fingerprint(Scaler(2))
    assert fingerprint(Scaler(1)) == fingerprint(Scaler(1))


def test_class_attribute_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(Scaler(1).apply)
    monkeypatch.setattr(Scaler, "factor", 5)
    assert fingerprint(Scaler(1).apply) != before


def test_builtins_and_c_callables_by_name() -> None:
    assert fingerprint(len) == fingerprint(len)
    assert fingerprint(len) != fingerprint(abs)
    assert fingerprint(math.sqrt) != fingerprint(math.floor)
    assert fingerprint(str.upper) != fingerprint(str.lower)
    assert fingerprint(operator.itemgetter(1)) != fingerprint(operator.itemgetter(2))


def test_bound_builtin_counts_its_owner() -> None:
    assert fingerprint({"a": 1}.get) != fingerprint({"a": 2}.get)


def test_numpy_ufunc_and_array_global() -> None:
    numpy = pytest.importorskip("numpy")
    assert fingerprint(numpy.sqrt) != fingerprint(numpy.exp)
    table = numpy.arange(4)

    def lookup(i: int) -> int:
        return int(table[i])

    before = fingerprint(lookup)
    table[0] = 9
    assert fingerprint(lookup) != before


def test_modules_by_name_and_library_functions_by_version() -> None:
    def uses_module(x: float) -> float:
        return math.sqrt(x)

    fp = fingerprint(uses_module)
    assert fp == fingerprint(uses_module)


def test_unencodable_global_falls_back_to_its_type() -> None:
    import threading

    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    assert fingerprint(guarded) == fingerprint(guarded)


def test_empty_closure_cell_is_fine() -> None:
    def outer():  # type: ignore[no-untyped-def]
        def inner() -> object:
            return later

        cell_value = fingerprint(inner)
        later = 1
        return cell_value, fingerprint(inner)

    empty, filled = outer()
    assert empty != filled


def test_unencodable_defaults_and_partial_arguments_fall_back_to_types() -> None:
    import threading

    lock = threading.Lock()

    def guarded(x: int, guard: object = lock) -> int:
        return x

    assert fingerprint(guarded) == fingerprint(guarded)
    wrapped = functools.partial(guarded, guard=lock)
    assert fingerprint(wrapped) == fingerprint(wrapped)
    assert fingerprint(wrapped) != fingerprint(functools.partial(guarded, guard=1))
