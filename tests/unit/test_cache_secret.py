"""Unit tests of the cache secret (where it comes from, how it is created) and the record tag."""

from __future__ import annotations

import hmac
import os
import pathlib
import stat
import threading

import pytest

from parmap._cache_record import DOMAIN, Signer
from parmap._secret import ENV_VAR, load_secret, secret_path


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
    with pytest.raises(ValueError, match=r"secret in .*parmap/secret is not valid"):
        load_secret()


@pytest.mark.parametrize("secret", [b"k" * 16, b"k" * 64, b"k" * 100, os.urandom(32)])
def test_signer_is_hmac_sha256(secret: bytes) -> None:
    key, header, payload = b"K" * 32, b"H" * 8, b"payload" * 50
    expected = hmac.digest(secret, DOMAIN + key + header + payload, "sha256")
    assert Signer(secret).tag(key, header, payload) == expected
