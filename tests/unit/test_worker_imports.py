"""The worker side imports only what a worker runs: the rule, checked in a fresh interpreter."""

from __future__ import annotations

import json

from tests import helpers

#: What ``import parmap._transport.worker`` may load of parmap: the worker loop, what crosses
#: the boundary (buffers, serializers, exceptions and their tracebacks, the message
#: dataclasses) and the errors. Not the scheduler, the backends, the check or the cache.
WORKER_SIDE = {
    "parmap",
    "parmap._version",
    "parmap._transport",
    "parmap._names",
    "parmap._transport.worker",
    "parmap._transport.buffers",
    "parmap._transport.remote",
    "parmap._transport.messages",
    "parmap._transport.tracebacks",
    "parmap.errors",
    "parmap.serializers",
}


def _loaded(statement: str) -> set[str]:
    code = (
        f"import json, sys\n{statement}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'parmap')))"
    )
    done = helpers.run_python("-c", code)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_the_worker_module_imports_only_the_worker_side() -> None:
    loaded = _loaded("import parmap._transport.worker")
    assert loaded == WORKER_SIDE
    # The rule behind the list: the transport, the serializers, the errors and the
    # one leaf of name helpers.
    allowed = {"parmap", "parmap._version", "parmap._names", "parmap.errors", "parmap.serializers"}
    assert all(m in allowed or m.startswith("parmap._transport") for m in loaded)


def test_importing_parmap_loads_nothing_until_used() -> None:
    assert _loaded("import parmap") == {"parmap", "parmap._version"}
    assert "parmap._run.scheduler" in _loaded("import parmap; parmap.parallel_map")


def test_heavy_libraries_stay_out_of_a_worker() -> None:
    code = (
        "import json, sys, parmap._transport.worker\n"
        "print(json.dumps([m for m in ('dill', 'cloudpickle', 'distributed', 'tqdm', 'sqlite3')"
        " if m in sys.modules]))"
    )
    done = helpers.run_python("-c", code)
    assert json.loads(done.stdout) == []
