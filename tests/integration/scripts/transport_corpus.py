"""Objects that stress pickling, defined in __main__, sent to workers and back.

Run as ``python transport_corpus.py METHOD cold|warm``; prints one JSON object
mapping each case to whether the worker's answer equals builtin map's.
"""

import dataclasses
import enum
import functools
import json
import sys

import cloudpickle
import registered_module

import parmap


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Slotted and (self.x, self.y) == (other.x, other.y)

    def __hash__(self):
        return hash((self.x, self.y))


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass(frozen=True)
class Box:
    value: int


class ParseError(Exception):
    pass


Dynamic = type("Dynamic", (), {"value": 3, "__eq__": lambda a, b: type(b).__name__ == "Dynamic"})

SCALE = 10


def scaled(x):
    return x * SCALE


def make_adder(n):
    def add(x):
        return x + n

    return add


def make_box(x):
    return Box(x)


def identity(x):
    return x


def parse(x):
    if x == 1:
        raise ParseError(f"cannot parse {x}")
    return x


def same(results, expected):
    return results == expected and [type(r) for r in results] == [type(e) for e in expected]


def main(method, warm):
    backend = parmap.ProcessBackend(2, start_method=method)
    options = {"backend": backend, "inline": False}
    if warm:  # the workers start (and fork) before anything below is defined or changed
        parmap.parallel_map(abs, [-1, -2, -3, -4], **options)
    global SCALE
    SCALE = 1000  # changed after the workers started: map sees the new value
    registered_module.FACTOR = 7
    cloudpickle.register_pickle_by_value(registered_module)
    cases = {
        "slots": (identity, [Slotted(1, 2), Slotted(3, 4)]),
        "enum": (identity, [Color.RED, Color.BLUE]),
        "dataclass": (identity, [Box(1), Box(2)]),
        "dynamic class": (identity, [Dynamic(), Dynamic()]),
        "global changed at run time": (scaled, [1, 2, 3]),
        "closure": (make_adder(5), [1, 2]),
        "lambda over a global": (lambda x: x + SCALE, [1, 2]),
        "partial": (functools.partial(make_adder(1)), [1, 2]),
        "module by value": (registered_module.times, [1, 2, 3]),
        "main class returned": (make_box, [1, 2]),
    }
    out = {}
    for name, (func, items) in cases.items():
        out[name] = same(parmap.parallel_map(func, items, **options), list(map(func, items)))
    out["enum identity"] = parmap.parallel_map(identity, [Color.RED], **options)[0] is Color.RED
    try:
        parmap.parallel_map(parse, [0, 1, 2], **options)
        out["main exception"] = False
    except ParseError as exc:
        out["main exception"] = str(exc) == "cannot parse 1"
    backend.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "warm")
