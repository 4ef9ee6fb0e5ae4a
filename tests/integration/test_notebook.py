"""Notebooks as a user runs them: cells executed by a real IPython kernel, outputs read back.

Each notebook is built with nbformat and executed once with nbclient on a kernel
that runs this interpreter; the tests then read each cell's outputs as the
notebook would show them: streams, rich displays, errors and widget state.
"""

from __future__ import annotations

import html
import json
import multiprocessing as mp
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import parmap

pytest.importorskip("nbclient", reason="notebook tests need nbclient (pip install 'parmap[test]')")
pytest.importorskip(
    "ipykernel", reason="notebook tests need ipykernel (pip install 'parmap[test]')"
)
nbformat = pytest.importorskip("nbformat", reason="notebook tests need nbformat")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402 - after the skips
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

START_METHODS = ["fork", "forkserver", "spawn"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SETUP = """
    import os, signal, sqlite3, sys, threading, time
    import parmap

    def square(x):
        return x * x

    def slow(x):
        time.sleep(0.1)
        return x
"""

START_METHOD_CELL = """
    opts = dict(workers=2, start_method={method!r}, inline=False)
    squares = parmap.parallel_map(square, range(10), **opts)
    pairs = parmap.parallel_map(lambda x: (x + 1, os.getpid()), range(10), **opts)
    print("function:", squares == list(map(square, range(10))))
    print("lambda:", [value for value, _ in pairs] == list(map(lambda x: x + 1, range(10))))
    print("in workers:", os.getpid() not in {{pid for _, pid in pairs}})
"""

NOTEBOOK_ERROR = """
    class NotebookError(Exception):
        pass

    def fail_on_three(x):
        if x == 3:
            raise NotebookError(f"item {x} is bad")
        return x
"""

#: The global default start method the test run emulates (tests/conftest.py), in the kernel too.
PLATFORM = """
    import multiprocessing, os, sys
    if os.environ.get("PARMAP_TEST_DEFAULT_START_METHOD"):
        multiprocessing.set_start_method(os.environ["PARMAP_TEST_DEFAULT_START_METHOD"], force=True)
    print(sys.executable, multiprocessing.get_start_method())
"""

CELLS = {
    "platform": PLATFORM,
    "setup": SETUP,
    **{method: START_METHOD_CELL.format(method=method) for method in START_METHODS},
    "error-caught": NOTEBOOK_ERROR
    + """
    try:
        parmap.parallel_map(fail_on_three, range(6), workers=2, start_method="spawn", inline=False)
    except NotebookError as exc:
        print("caught", type(exc).__name__ + ":", exc)
    """,
    "error-raised": """
    parmap.parallel_map(fail_on_three, range(6), workers=2, start_method="spawn", inline=False)
    """,
    "check": """
    parmap.check([sqlite3.connect(":memory:")])
    """,
    "long-run": """
    parmap.parallel_map(slow, range(24), workers=2) == list(range(24))
    """,
    "short-run": """
    parmap.parallel_map(slow, range(3), workers=2) == [0, 1, 2]
    """,
    "failing-run": """
    def fail_on_thirty(x):
        time.sleep(0.1)
        if x == 30:
            raise ValueError(f"item {x} is bad")
        return x

    try:
        parmap.parallel_map(fail_on_thirty, range(40), workers=2)
    except ValueError as exc:
        print("caught", exc)
    """,
    "interrupted-run": """
    # What the notebook's stop button does: SIGINT to the kernel, mid-run.
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        parmap.parallel_map(slow, range(100), workers=2)
    except KeyboardInterrupt:
        print("interrupted")
    """,
}

#: A kernel without ipywidgets: tqdm draws its text bar on the cell's stderr.
TEXT_BAR_CELLS = {
    "no-widgets": """
    import sys
    sys.modules["ipywidgets"] = None  # as if it were not installed
    """,
    "platform": PLATFORM,
    "setup": SETUP,
    "long-run": CELLS["long-run"],
    "short-run": CELLS["short-run"],
}


def _execute(cells: dict[str, str], where: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``cells`` in a new kernel of this interpreter; return the cells by id, widget state."""
    kernels = where / "kernels"
    spec = kernels / "parmap-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "parmap test", "language": "python"})
    )
    notebook = nbformat.v4.new_notebook()
    for name, source in cells.items():
        cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip(), id=name)
        if name == "error-raised":
            cell.metadata["tags"] = ["raises-exception"]
        notebook.cells.append(cell)
    # The kernel imports the parmap under test, and no IPython profile or
    # Jupyter runtime file of the user's comes into play.
    env = dict(os.environ)
    root = str(Path(parmap.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env["IPYTHONDIR"] = str(where / "ipython")
    env["JUPYTER_RUNTIME_DIR"] = str(where / "runtime")
    manager = KernelManager(
        kernel_name="parmap-test",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
        connection_file=str(where / "connection.json"),
        transport="ipc",
    )
    client = NotebookClient(
        notebook, km=manager, timeout=60, resources={"metadata": {"path": str(where)}}
    )
    try:
        client.execute(env=env, cleanup_kc=True)
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return {cell.id: cell for cell in notebook.cells}, state


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """The main notebook, executed once (ipywidgets installed: tqdm draws its widget)."""
    return _execute(CELLS, tmp_path_factory.mktemp("notebook"))


@pytest.fixture(scope="module")
def text_bar_notebook(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A notebook whose kernel cannot import ipywidgets, executed once."""
    return _execute(TEXT_BAR_CELLS, tmp_path_factory.mktemp("text-bar"))


def _stream(cell: Any, name: str) -> str:
    return "".join(out.text for out in cell.outputs if out.get("name") == name)


def _widgets(cell: Any) -> list[str]:
    """The model ids of the widgets the cell displays."""
    return [
        out.data[WIDGET_VIEW]["model_id"]
        for out in cell.outputs
        if WIDGET_VIEW in out.get("data", {})
    ]


def _bar(state: dict[str, Any], model_id: str) -> dict[str, Any]:
    """What tqdm's widget shows at the end: its text, value, total and colour."""
    left, bar, right = (
        state[child.removeprefix("IPY_MODEL_")]["state"]
        for child in state[model_id]["state"]["children"]
    )
    text = html.unescape(f"{left['value']}|{right['value']}").replace("\u2007", " ")
    return {"text": text, "value": bar["value"], "max": bar["max"], "style": bar["bar_style"]}


@pytest.mark.timeout(120)
def test_the_kernel_runs_this_interpreter(notebook: tuple[dict[str, Any], dict[str, Any]]) -> None:
    cells, _ = notebook
    expected = f"{sys.executable} {mp.get_start_method()}\n"
    assert _stream(cells["platform"], "stdout") == expected
    assert [out.output_type for out in cells["setup"].outputs] == []
    for cell in cells.values():
        assert "Warning" not in _stream(cell, "stderr"), cell.id


@pytest.mark.timeout(120)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_notebook_function_and_lambda_map_like_map(
    notebook: tuple[dict[str, Any], dict[str, Any]], start_method: str
) -> None:
    cells, _ = notebook
    cell = cells[start_method]
    assert _stream(cell, "stdout") == "function: True\nlambda: True\nin workers: True\n"
    assert not [out for out in cell.outputs if out.output_type == "error"]


@pytest.mark.timeout(120)
def test_notebook_exception_class_is_caught_as_itself_under_spawn(
    notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, _ = notebook
    assert _stream(cells["error-caught"], "stdout") == "caught NotebookError: item 3 is bad\n"


@pytest.mark.timeout(120)
def test_notebook_exception_shows_as_the_users_error_under_spawn(
    notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, _ = notebook
    (error,) = [out for out in cells["error-raised"].outputs if out.output_type == "error"]
    assert (error.ename, error.evalue) == ("NotebookError", "item 3 is bad")
    shown = ANSI.sub("", "\n".join(error.traceback))
    assert re.search(
        r"^NotebookError: item 3 is bad\nparmap: raised by item 3 \(3\) in worker pid \d+$",
        shown,
        re.M,
    ), shown


@pytest.mark.timeout(120)
def test_check_report_shows_as_rich_display(
    notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, _ = notebook
    (result,) = cells["check"].outputs
    assert result.output_type == "execute_result"
    plain, rich = result.data["text/plain"], result.data["text/html"]
    assert plain.startswith("obj cannot travel: pickle, cloudpickle and dill all fail.\n"), plain
    assert re.search(r"-> \[0\]\s+\(sqlite3\.Connection\)", plain), plain
    assert "CheckReport(" not in plain
    assert "Problem(" not in plain
    assert rich.startswith('<div class="parmap-check-report parmap-problems">'), rich
    assert "<strong>obj cannot travel: pickle, cloudpickle and dill all fail.</strong>" in rich
    assert "(sqlite3.Connection)" in rich


@pytest.mark.timeout(120)
def test_a_long_run_shows_one_progress_widget(
    notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, state = notebook
    cell = cells["long-run"]
    (model_id,) = _widgets(cell)
    assert _stream(cell, "stderr") == "", "a text bar beside the widget"
    bar = _bar(state, model_id)
    assert (bar["value"], bar["max"], bar["style"]) == (24, 24, "success")
    assert re.fullmatch(r"slow: 100%\| 24/24 \[00:0\d<00:00, +[\d.]+item/s\]", bar["text"]), bar
    assert cell.outputs[-1].data["text/plain"] == "True"


@pytest.mark.timeout(120)
def test_a_short_run_shows_no_bar(notebook: tuple[dict[str, Any], dict[str, Any]]) -> None:
    cells, _ = notebook
    cell = cells["short-run"]
    assert [(out.output_type, out.data) for out in cell.outputs] == [
        ("execute_result", {"text/plain": "True"})
    ]


@pytest.mark.timeout(120)
def test_a_failing_run_ends_its_widget_in_red_once(
    notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, state = notebook
    cell = cells["failing-run"]
    (model_id,) = _widgets(cell)
    bar = _bar(state, model_id)
    assert bar["style"] == "danger"
    assert 0 < bar["value"] < 40
    assert _stream(cell, "stdout") == "caught item 30 is bad\n"
    assert _stream(cell, "stderr") == ""


@pytest.mark.timeout(120)
def test_an_interrupted_run_ends_its_widget_in_red_once(
    notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, state = notebook
    cell = cells["interrupted-run"]
    (model_id,) = _widgets(cell)
    bar = _bar(state, model_id)
    assert bar["style"] == "danger"
    assert 0 < bar["value"] < 100
    assert _stream(cell, "stdout") == "interrupted\n"
    assert _stream(cell, "stderr") == ""


@pytest.mark.timeout(120)
def test_without_ipywidgets_a_long_run_draws_one_text_bar(
    text_bar_notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, _ = text_bar_notebook
    cell = cells["long-run"]
    assert _widgets(cell) == []
    err = _stream(cell, "stderr")
    assert "IProgress" not in err
    # The notebook shows what follows the last carriage return of each line.
    shown = [line.split("\r")[-1] for line in err.removesuffix("\n").split("\n")]
    assert len(shown) == 1, err
    assert re.fullmatch(r"slow: 100%\|[^|]+\| 24/24 \[00:0\d<00:00, +[\d.]+item/s\]", shown[0]), err


@pytest.mark.timeout(120)
def test_without_ipywidgets_a_short_run_draws_nothing(
    text_bar_notebook: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cells, _ = text_bar_notebook
    assert _stream(cells["short-run"], "stderr") == ""
