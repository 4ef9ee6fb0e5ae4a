"""Bad options fail at once with a message naming the option, the value and the choices."""

from __future__ import annotations

import pytest

import parmap
from parmap._run.chunking import ChunkSizer
from tests import helpers


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"workers": -3}, ValueError, r"`workers` must be a positive integer or None, got -3"),
        ({"workers": "2"}, TypeError, r"`workers` must be a positive integer"),
        ({"backend": "proceses"}, ValueError, r"did you mean 'processes'\?"),
        ({"serializer": "dil"}, ValueError, r"`serializer` must be one of .*did you mean 'dill'"),
        ({"on_error": "ignore"}, ValueError, r"`on_error` must be one of 'raise', 'collect'"),
        ({"start_method": "forks"}, ValueError, r"did you mean 'fork'"),
        ({"chunksize": 0}, ValueError, r"`chunksize` must be a positive integer"),
        ({"retries": -1}, ValueError, r"`retries` must be a non-negative integer"),
        ({"timeout": 0}, ValueError, r"`timeout` must be a positive number"),
        ({"worker": 2}, TypeError, r"unknown option 'worker'; did you mean 'workers'\?"),
        ({"retry_on": 3}, TypeError, r"`retry_on` must be exception types"),
        ({"cache": 3}, TypeError, r"`cache` must be a directory path or a parmap.Cache"),
        ({"backend": 3}, TypeError, r"`backend` must be 'processes'"),
    ],
)
def test_bad_option(options, error, pattern):
    with pytest.raises(error, match=pattern):
        parmap.parallel_map(helpers.square, [1], **options)


def test_imap_checks_options_before_iterating():
    with pytest.raises(ValueError, match="`workers`"):
        parmap.imap(helpers.square, [1], workers=0)


def test_not_callable_and_not_iterable():
    with pytest.raises(TypeError, match=r"needs a function as its first argument"):
        parmap.parallel_map([1, 2], helpers.square)
    with pytest.raises(TypeError, match=r"argument 2 must be iterable, got int"):
        parmap.parallel_map(helpers.square, 5)


def test_public_names_match_all():
    for name in parmap.__all__:
        assert getattr(parmap, name) is not None, name
    assert sorted(parmap.__all__) == sorted(set(parmap.__all__))


def test_chunk_sizer_aims_at_target_and_shrinks_at_the_end():
    sizer = ChunkSizer(2)
    assert sizer.next_size(1000) == 1  # nothing measured yet
    sizer.observe(0.001, 100)  # 10 µs per item
    assert 3990 <= sizer.next_size(None) <= 4000
    assert sizer.next_size(80) == 10  # the tail is split for balance
    assert ChunkSizer(2, fixed=7).next_size(3) == 7


def _readme_options() -> list[tuple[tuple[str, ...], str]]:
    import pathlib

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("### Options", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in table.splitlines():
        if line.startswith("| `"):
            label, meaning = line[2:-2].split(" | ", 1)
            rows.append((tuple(n.strip().strip("`") for n in label.split(",")), meaning))
    return rows


def test_the_readme_table_says_what_the_code_declares():
    from parmap._options import OPTION_DOCS

    assert _readme_options() == list(OPTION_DOCS)


def test_every_option_is_declared_once_and_shown_by_help():
    import dataclasses

    from parmap._options import OPTION_DOCS, MapOptions, Options

    declared = [name for names, _ in OPTION_DOCS for name in names]
    fields = [f.name for f in dataclasses.fields(Options)]
    assert sorted(declared) == sorted(fields) == sorted(MapOptions.__annotations__)
    for public in (parmap.parallel_map, parmap.imap, parmap.map_reduce, MapOptions):
        text = " ".join((public.__doc__ or "").split())
        for names, meaning in OPTION_DOCS:
            assert f"{', '.join(names)}: {meaning}" in text, (public, names)


def test_backend_names_are_one_table():
    from parmap import backends
    from parmap._options import BACKENDS

    assert tuple(backends.MAKERS) == BACKENDS
    with pytest.raises(TypeError, match="'processes', 'threads', 'serial', 'dask'"):
        parmap.parallel_map(helpers.square, [1], backend=object())


PUBLIC_MODULES = [
    "parmap",
    "parmap.cache",
    "parmap.errors",
    "parmap.serializers",
    "parmap.cli",
    "parmap.backends",
    "parmap.backends.processes",
    "parmap.backends.threads",
    "parmap.backends.serial",
    "parmap.backends.dask",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_of_every_public_module_is_what_it_exports(name: str) -> None:
    import importlib

    if name == "parmap.backends.dask":
        pytest.importorskip("distributed")
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr}, which it lacks"


def test_public_objects_name_their_public_module():
    for name in parmap.__all__:
        if name == "__version__":
            continue
        obj = getattr(parmap, name)
        module = getattr(obj, "__module__", "")
        assert not any(part.startswith("_") for part in module.split(".")), (name, module)
