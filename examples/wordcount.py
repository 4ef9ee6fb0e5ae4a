"""Count the words of every text file under a directory with ``parmap.map_reduce``.

Each worker counts the words of a chunk of files and sends back one merged
count, not one per file. With ``--cache DIR`` every chunk's count is kept on
disk as it arrives: interrupt the run (Ctrl-C) and start it again, and only
the chunks that were missing are counted.

Usage::

    python examples/wordcount.py [DIR] [--cache CACHE_DIR] [--workers N] [--top N]

DIR defaults to the Python standard library's source directory.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import pathlib
import re
import sysconfig
import time
from typing import Any

import parmap

WORD = re.compile(r"[A-Za-z_]+")
PATTERNS = ("*.py", "*.txt", "*.rst", "*.md")


def count_file(path: str) -> collections.Counter[str]:
    """The words of one file, lower-cased (undecodable bytes are replaced)."""
    text = pathlib.Path(path).read_text(encoding="utf-8", errors="replace")
    return collections.Counter(word.lower() for word in WORD.findall(text))


def merge(a: collections.Counter[str], b: collections.Counter[str]) -> collections.Counter[str]:
    """Add ``b``'s counts into ``a`` (associative: the order of merges does not matter)."""
    a.update(b)
    return a


def files_under(directory: str) -> list[str]:
    """The text files under ``directory``, sorted (installed packages left out)."""
    root = pathlib.Path(directory)
    found = {p for pattern in PATTERNS for p in root.rglob(pattern) if p.is_file()}
    return sorted(str(p) for p in found if "site-packages" not in p.parts)


def fingerprint(counts: collections.Counter[str]) -> str:
    """A short digest of the counts, to compare runs on different backends."""
    text = "\n".join(f"{word} {n}" for word, n in sorted(counts.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def report(counts: collections.Counter[str], files: int, seconds: float, top: int) -> None:
    print(f"{files:,} files, {sum(counts.values()):,} words, {len(counts):,} distinct")
    print(f"counts digest {fingerprint(counts)}, {seconds:.2f} s")
    for word, n in counts.most_common(top):
        print(f"{n:>10,}  {word}")


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "directory", nargs="?", default=sysconfig.get_paths()["stdlib"], help="default: stdlib"
    )
    parser.add_argument("--cache", help="a cache directory: an interrupted run resumes")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--top", type=int, default=10, help="most common words to show")
    return parser.parse_args()


def count_words(files: list[str], **options: Any) -> collections.Counter[str]:
    """Count the words of ``files`` with map_reduce; ``options`` go to it as they are."""
    return parmap.map_reduce(
        count_file, merge, files, initial=collections.Counter(), progress=True, **options
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    files = files_under(args.directory)
    started = time.perf_counter()
    counts = count_words(files, workers=args.workers, cache=args.cache)
    report(counts, len(files), time.perf_counter() - started, args.top)


if __name__ == "__main__":
    main()
