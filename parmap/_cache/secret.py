"""The cache's authentication secret: found or created outside the cache directory.

Every cache entry carries an HMAC made with this secret, and nothing is unpickled unless its
HMAC verifies, so whoever can write to a cache directory still cannot make parmap run code: they
would need the secret, which lives elsewhere. It is, in order of precedence:

1. ``Cache(secret=...)`` — bytes handed over on purpose, to share a cache between users or
   machines;
2. the environment variable ``PARMAP_CACHE_SECRET`` — hex, at least 16 bytes;
3. the file ``$XDG_CONFIG_HOME/parmap/secret`` (default ``~/.config/parmap/secret``) — 32 random
   bytes as hex, created on first use with mode 0600.

The file is opened without following into a FIFO or device (``O_NONBLOCK``, then a regular
file is required) and read up to a bound; a secret file other users may read or change works but
gives a :class:`~parmap.errors.CacheWarning`: whoever reads it can forge entries.

Creation is race-safe: each process writes its candidate to a private temporary file (created
``O_EXCL``, mode 0600, fsynced) and hard-links it to the final name. ``link`` fails if the name
exists, so exactly one candidate wins and every process then reads the winner; a reader never
sees a half-written secret because the final name only ever appears complete.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import stat
import warnings

from parmap._cache.files import kind_of
from parmap.errors import CacheWarning, caller_stacklevel

__all__ = ["ENV_VAR", "load_secret", "secret_path"]

ENV_VAR = "PARMAP_CACHE_SECRET"
_MIN_BYTES = 16
_MAX_FILE_BYTES = 4096  # a secret file is 65 bytes; read no more than this of whatever is there
_PRIVATE = 0o077  # permission bits of group and others


def secret_path() -> pathlib.Path:
    """Return where the per-user secret file lives (it may not exist yet)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return pathlib.Path(base) / "parmap" / "secret"


def load_secret(explicit: bytes | None = None, /) -> bytes:
    """Return the secret to authenticate cache entries with, creating the file if needed.

    Raises:
        ValueError: the explicit secret or ``PARMAP_CACHE_SECRET`` is too short or not hex.
        OSError: the secret file can neither be read nor created.
    """
    if explicit is not None:
        if not isinstance(explicit, bytes) or len(explicit) < _MIN_BYTES:
            msg = (
                f"`secret` must be bytes of length >= {_MIN_BYTES}, got {type(explicit).__name__}"
                f" of length {len(explicit) if isinstance(explicit, bytes) else '?'}"
            )
            raise ValueError(msg)
        return explicit
    from_env = os.environ.get(ENV_VAR)
    if from_env is not None:
        return _parse_hex(from_env, f"the environment variable {ENV_VAR}")
    return _load_or_create(secret_path())


def _parse_hex(text: str, where: str) -> bytes:
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        value = b""
    if len(value) < _MIN_BYTES:
        msg = (
            f"the cache secret in {where} is not valid: it must be at least {_MIN_BYTES} bytes "
            f"written as hex; make one with: python -c 'import secrets; print(secrets.token_hex())'"
        )
        raise ValueError(msg)
    return value


def _read(path: pathlib.Path) -> str | None:
    """The text of the secret file, or None if there is none; never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            msg = (
                f"the cache secret {path} is a {kind_of(found.st_mode)}, not a regular file; "
                f"parmap reads its secret only from a regular file: remove it (parmap then "
                f"makes a new one) or set {ENV_VAR}"
            )
            raise OSError(msg)
        if found.st_mode & _PRIVATE:
            warnings.warn(
                f"the cache secret {path} can be read or changed by other users (mode "
                f"{stat.S_IMODE(found.st_mode):04o}): whoever reads it can forge cache entries "
                f"that parmap would unpickle\n  parmap used it anyway; make it private with: "
                f"chmod 600 {path}",
                CacheWarning,
                stacklevel=caller_stacklevel(),
            )
        data = os.read(fd, _MAX_FILE_BYTES)
    finally:
        os.close(fd)
    return data.decode("ascii", "replace")


def _load_or_create(path: pathlib.Path) -> bytes:
    text = _read(path)
    if text is not None:
        return _parse_hex(text, str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".secret.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask filtered the mode; it may have removed the owner's bits
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if another process won the race; then we read the winner's secret.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    text = _read(path)
    if text is None:
        msg = f"the cache secret {path} vanished right after it was created"
        raise OSError(msg)
    return _parse_hex(text, str(path))
