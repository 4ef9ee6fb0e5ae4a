"""Objects that stress pickling make the round trip to a worker and back as themselves.

The corpus (tests/integration/scripts/transport_corpus.py) runs as a script,
so that its classes, exceptions and functions live in ``__main__``; each case
compares what comes back with builtin ``map``'s answer, type included.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests import helpers

SCRIPTS = Path(__file__).parent / "scripts"
CASES = [
    "slots",
    "enum",
    "dataclass",
    "dynamic class",
    "global changed at run time",
    "closure",
    "lambda over a global",
    "partial",
    "module by value",
    "main class returned",
    "enum identity",
    "main exception",
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("warm", ["cold", "warm"])
@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_the_corpus_round_trips(start_method: str, warm: str) -> None:
    done = helpers.run_python(
        str(SCRIPTS / "transport_corpus.py"), start_method, warm, cwd=str(SCRIPTS)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == dict.fromkeys(CASES, True)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_a_workers_traceback_shows_the_users_file_and_line(tmp_path, start_method) -> None:
    script = tmp_path / "fails.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import parmap

            def parse(x):
                if x == 2:
                    raise ValueError("cannot parse 2")
                return x

            if __name__ == "__main__":
                parmap.parallel_map(parse, range(4), workers=2, start_method={start_method!r},
                                    inline=False)
            """
        )
    )
    done = helpers.run_python(str(script))
    assert done.returncode == 1
    assert f'File "{script}", line 6, in parse\n    raise ValueError("cannot parse 2")' in (
        done.stderr
    )
    assert "<dynamic-code>" not in done.stderr
    assert "_worker.py" not in done.stderr, "the worker's own loop is not shown"
    assert "_scheduler.py" not in done.stderr, "nor the caller's scheduler"
