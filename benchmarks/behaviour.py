"""What each pool does with a lambda under spawn and with a worker that dies: run and print.

Usage: ``python -m benchmarks.behaviour`` (each case runs in a fresh process
with a 20 s limit; a case still running then is reported as a hang).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CASES = {
    "lambda under spawn": """
        import multiprocessing as mp
        f = lambda x: x * 2
        ITEMS = range(3)
        SPAWN = mp.get_context("spawn")
    """,
    "os._exit on item 2 of 6": """
        import multiprocessing as mp
        from benchmarks.behaviour import die as f
        ITEMS = range(6)
        SPAWN = mp.get_context("fork")
    """,
}

CALLS = {
    "parmap": "import parmap; print(parmap.parallel_map(f, ITEMS, workers=2, "
    "start_method=SPAWN.get_start_method(), inline=False))",
    "multiprocessing.Pool": "with SPAWN.Pool(2) as p: print(p.map(f, ITEMS, chunksize=1))",
    "ProcessPoolExecutor": "import concurrent.futures as cf\n"
    "with cf.ProcessPoolExecutor(2, mp_context=SPAWN) as ex: print(list(ex.map(f, ITEMS)))",
    "joblib": "import joblib\n"
    "print(joblib.Parallel(n_jobs=2)(joblib.delayed(f)(x) for x in ITEMS))",
    "pathos": "from pathos.multiprocessing import ProcessPool; print(ProcessPool(2).map(f, ITEMS))",
    "mpire": "from mpire import WorkerPool\n"
    "with WorkerPool(2, start_method=SPAWN.get_start_method()) as p: print(p.map(f, ITEMS))",
}


def die(x: int) -> int:
    """Ends its worker process on item 2."""
    import os

    if x == 2:
        os._exit(3)
    return x


def run(case: str, call: str) -> str:
    """Run one contender on one case in a fresh process; its last line, or ``hangs``."""
    body = textwrap.dedent(CASES[case]) + "\ntry:\n" + textwrap.indent(CALLS[call], "    ")
    body += (
        "\nexcept Exception as e:\n"
        "    print(type(e).__name__ + ': ' + (str(e).splitlines() or [''])[0][:110])\n"
    )
    code = "if __name__ == '__main__':\n" + textwrap.indent(body, "    ")
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        return "hangs (stopped after 20 s)"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


def main() -> None:
    """Print a Markdown table of every case and contender."""
    print("| case | " + " | ".join(CALLS) + " |")
    print("| --- " * (len(CALLS) + 1) + "|")
    for case in CASES:
        cells = [run(case, call).replace("|", "/") for call in CALLS]
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
