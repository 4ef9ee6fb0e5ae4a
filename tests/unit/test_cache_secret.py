"""Unit tests of the cache secret (where it comes from, how it is created) and the record tag."""

from __future__ import annotations

import hmac
import os
import pathlib
import stat
import threading
import warnings

import pytest

from parmap._cache.record import DOMAIN, Signer
from parmap._cache.secret import ENV_VAR, load_secret, secret_path
from parmap.cache import Cache
from parmap.errors import CacheWarning


@pytest.fixture
def config_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    return tmp_path / "config"


def test_secret_file_is_created_once_with_mode_0600(config_home: pathlib.Path) -> None:
    first = load_secret()
    path = secret_path()
    assert path == config_home / "parmap" / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_secret() == first
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temp file left behind


def test_concurrent_creation_agrees_on_one_secret(config_home: pathlib.Path) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait(timeout=10)
        results.append(load_secret())

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert sorted(p.name for p in secret_path().parent.iterdir()) == ["secret"]


def test_environment_variable_wins_over_the_file(
    config_home: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "ab" * 20)
    assert load_secret() == bytes.fromhex("ab" * 20)
    assert not secret_path().exists()
    assert load_secret(b"explicit secret bytes") == b"explicit secret bytes"


@pytest.mark.parametrize("value", ["not hex", "abcd", ""])
def test_bad_environment_secret_is_named(
    config_home: pathlib.Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ValueError, match=rf"secret in the environment variable {ENV_VAR}.*hex"):
        load_secret()


def test_damaged_secret_file_is_named(config_home: pathlib.Path) -> None:
    path = secret_path()
    path.parent.mkdir(parents=True)
    path.write_text("zz")
    path.chmod(0o600)
    with pytest.raises(ValueError, match=r"secret in .*parmap/secret is not valid"):
        load_secret()


@pytest.mark.parametrize("secret", [b"k" * 16, b"k" * 64, b"k" * 100, os.urandom(32)])
def test_signer_is_hmac_sha256(secret: bytes) -> None:
    key, header, payload = b"K" * 32, b"H" * 8, b"payload" * 50
    expected = hmac.digest(secret, DOMAIN + key + header + payload, "sha256")
    assert Signer(secret).tag(key, header, payload) == expected


def test_secret_file_is_private_whatever_the_umask(config_home: pathlib.Path) -> None:
    previous = os.umask(0)
    try:
        load_secret()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(secret_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_path().parent.stat().st_mode) == 0o700


def test_secret_readable_by_others_warns_and_still_works(config_home: pathlib.Path) -> None:
    first = load_secret()
    secret_path().chmod(0o644)
    with pytest.warns(
        CacheWarning,
        match=r"(?s)the cache secret .*parmap/secret can be read or changed by other users "
        r"\(mode 0644\): whoever reads it can forge cache entries.*chmod 600 .*parmap/secret",
    ):
        assert load_secret() == first
    secret_path().chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_secret() == first


@pytest.mark.timeout(30)
def test_secret_that_is_a_fifo_is_an_error_not_a_hang(
    config_home: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    secret_path().parent.mkdir(parents=True)
    os.mkfifo(secret_path())
    with pytest.raises(
        OSError, match=r"the cache secret .*parmap/secret is a FIFO, not a regular file"
    ):
        load_secret()
    bound = Cache(tmp_path / "cache").bind(abs)
    with pytest.warns(CacheWarning, match=r"(?s)cannot be used for builtins:abs: .*is a FIFO"):
        bound.store([(bound.key((1,)), 1)])
    bound.close()
