"""Run as __main__: lambdas, closures, __main__ functions and classes through parallel_map."""

import json
import sys

import parmap


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def top_level(x: int) -> int:
    return x + 100


def make_closure(offset: int):
    def shifted(x: int) -> int:
        return x + offset

    return shifted


def point_x(p: Point) -> int:
    return p.x * 3


if __name__ == "__main__":
    backend, start_method = sys.argv[1], sys.argv[2]
    options = {"backend": backend, "workers": 2, "inline": False}
    if backend == "processes":
        options["start_method"] = start_method
    results = {
        "lambda": parmap.parallel_map(lambda x: x * 2, range(10), **options),
        "closure": parmap.parallel_map(make_closure(5), range(4), **options),
        "top_level": parmap.parallel_map(top_level, range(3), **options),
        "main_class": parmap.parallel_map(point_x, [Point(1), Point(2)], **options),
        "returns_main_class": [
            type(p).__name__ for p in parmap.parallel_map(Point, range(2), **options)
        ],
    }
    print(json.dumps(results))
