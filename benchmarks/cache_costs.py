"""Measure the result cache's per-item costs: key(), store(), lookup(), durability, compression.

Run: ``python benchmarks/cache_costs.py [DIR] [--end-to-end]`` (DIR: where to put the caches;
a temporary directory by default, which should be on the disk whose cost you want to know;
``--end-to-end`` adds runs through ``parmap.parallel_map``).
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from parmap.cache import BoundCache, Cache

SECRET = b"benchmark secret of 32 bytes...."


@dataclasses.dataclass
class Record:
    name: str
    values: tuple[int, ...]


def job(x: object) -> object:
    return x


def per_call(func: Callable[[], object], repeat: int) -> float:
    """Best of three timings of ``repeat`` calls, in seconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            func()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def bench_keys(bound: BoundCache) -> None:
    items: dict[str, tuple[object, ...]] = {
        "int": (12345,),
        "short str": ("hello world",),
        "(int, str, float)": (1, "abc", 2.5),
        "nested tuple": ((1, 2, 3), ("a", "b")),
        "dict of 5": ({f"k{i}": i for i in range(5)},),
        "dataclass": (Record("a", (1, 2, 3)),),
    }
    for name, args in items.items():
        cost = per_call(lambda args=args: bound.key(args), 20000)  # type: ignore[misc]
        print(f"key() {name:>20}: {cost * 1e6:6.2f} us")


def bench_store_lookup(root: pathlib.Path, durable: bool) -> None:
    label = "durable" if durable else "default"
    for batch in (1, 100):
        cache = Cache(root / f"{label}-{batch}", secret=SECRET, durable=durable)
        bound = cache.bind(job)
        count = 200 if durable and batch == 1 else 2000
        keys = [bound.key((i,)) for i in range(count)]
        bound.store([(keys[0], 0)])  # open the database outside the timing
        start = time.perf_counter()
        for first in range(0, count, batch):
            bound.store([(key, i * 1.5) for i, key in enumerate(keys[first : first + batch])])
        cost = (time.perf_counter() - start) / count
        print(f"store() {label}, batch {batch:>3}: {cost * 1e6:8.1f} us per entry")
        start = time.perf_counter()
        for first in range(0, count, 1000):
            hits = bound.lookup(keys[first : first + 1000])
            assert len(hits) == len(keys[first : first + 1000])
        cost = (time.perf_counter() - start) / count
        print(f"lookup() {label}, batch 1000: {cost * 1e6:7.1f} us per hit")
        bound.close()


def bench_compression(root: pathlib.Path) -> None:
    value = {"rows": [{"id": i, "name": f"item {i % 50}", "score": i / 7} for i in range(200)]}
    for compress in (False, "zlib", "zstd"):
        try:
            cache = Cache(root / f"compress-{compress}", secret=SECRET, compress=compress)
        except ValueError as exc:
            print(f"compress={compress!r}: skipped ({exc})")
            continue
        bound = cache.bind(job)
        keys = [bound.key((i,)) for i in range(300)]
        bound.store([(keys[0], value)])
        start = time.perf_counter()
        for key in keys[1:]:
            bound.store([(key, value)])
        store_cost = (time.perf_counter() - start) / (len(keys) - 1)
        start = time.perf_counter()
        bound.lookup(keys)
        lookup_cost = (time.perf_counter() - start) / len(keys)
        size = cache.info().bytes / len(keys)
        print(
            f"compress={compress!r:7}: {size:8.0f} bytes per entry, store {store_cost * 1e6:6.1f}"
            f" us, lookup {lookup_cost * 1e6:6.1f} us"
        )
        bound.close()


def _sleep_20ms(x: int) -> int:
    time.sleep(0.02)
    return x


def _sleep_10ms(x: int) -> int:
    time.sleep(0.01)
    return x


def bench_end_to_end(root: pathlib.Path) -> None:
    """The targets: cached rerun of 64 x 20 ms, cold overhead on 10 ms items."""
    import statistics

    import parmap

    options = {"workers": 2, "start_method": "fork"}
    directory = root / "e2e-64"
    start = time.perf_counter()
    parmap.parallel_map(_sleep_20ms, range(64), cache=directory, **options)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    parmap.parallel_map(_sleep_20ms, range(64), cache=directory, **options)
    warm = time.perf_counter() - start
    print(f"64 x 20 ms: cold {cold:.3f} s, fully cached {warm:.4f} s ({warm / cold:.3f} of cold)")
    timings: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(5):
        for cached in (False, True):
            start = time.perf_counter()
            parmap.parallel_map(
                _sleep_10ms, range(200), cache=root / f"e2e-{rep}" if cached else None, **options
            )
            timings[cached].append(time.perf_counter() - start)
    plain, cached_cold = statistics.median(timings[False]), statistics.median(timings[True])
    print(
        f"200 x 10 ms, median of 5: no cache {plain:.3f} s, cold cache {cached_cold:.3f} s "
        f"({100 * (cached_cold - plain) / plain:+.1f} %)"
    )


def main() -> None:
    where = next((arg for arg in sys.argv[1:] if not arg.startswith("--")), None)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = pathlib.Path(tmp)
        print(f"python {sys.version.split()[0]}, caches under {root}")
        bench_keys(Cache(root / "keys", secret=SECRET).bind(job))
        bench_store_lookup(root, durable=False)
        bench_store_lookup(root, durable=True)
        bench_compression(root)
        if "--end-to-end" in sys.argv:
            bench_end_to_end(root)


if __name__ == "__main__":
    main()
