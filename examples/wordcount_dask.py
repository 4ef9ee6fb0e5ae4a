"""The word count of ``wordcount.py``, unchanged, on a Dask ``LocalCluster``.

Only the ``backend`` differs: a ``distributed.Client``. On a real cluster,
connect the client to the scheduler's address instead
(``Client("tcp://scheduler:8786")``), or pass ``backend="dask",
address="tcp://scheduler:8786"``. The workers must be able to import what the
functions refer to by name; here they live in ``wordcount.py``, which the
client sends to every worker with ``upload_file``.

Usage::

    python examples/wordcount_dask.py [DIR] [--cache CACHE_DIR] [--workers N] [--top N]

Prints the same counts digest as ``python examples/wordcount.py`` on the same DIR.
"""

from __future__ import annotations

import time

from distributed import Client, LocalCluster
from wordcount import arguments, count_words, files_under, report


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    files = files_under(args.directory)
    with (
        LocalCluster(
            n_workers=args.workers or 2, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        import wordcount

        client.upload_file(wordcount.__file__)
        print(f"dashboard: {client.dashboard_link}")
        started = time.perf_counter()
        counts = count_words(files, backend=client, cache=args.cache)
        report(counts, len(files), time.perf_counter() - started, args.top)


if __name__ == "__main__":
    main()
