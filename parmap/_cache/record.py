"""The byte format of one cache entry: header, authentication tag, (compressed) pickle.

Layout of a record (all integers big-endian)::

    magic      4 bytes   b"PMCE"
    format     2 bytes   FORMAT_VERSION
    codec      1 byte    0 raw, 1 zlib, 2 zstd
    protocol   1 byte    pickle protocol of the payload
    tag       32 bytes   HMAC-SHA256(secret, DOMAIN + key + header + payload)
    payload    the rest  the pickled result, compressed by ``codec``

The tag covers the entry's key, so a payload moved to another key (swapped entries) fails, as
do truncation, flipped bits, a record written with another secret (a copied or foreign cache)
and any record forged without the secret. :func:`open_record` checks the magic, the format and
the tag *before* it decompresses or unpickles anything.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import struct
import zlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CODECS",
    "FORMAT_VERSION",
    "HEAD_SIZE",
    "BadRecordError",
    "Signer",
    "check_chunks",
    "choose_codec",
    "make_record",
    "open_record",
]

FORMAT_VERSION = 1
MAGIC = b"PMCE"
DOMAIN = b"parmap-cache-entry\0"
PROTOCOL = 5
_HEADER = struct.Struct(">4sHBB")
_TAG_SIZE = 32
HEAD_SIZE = _HEADER.size + _TAG_SIZE  # header and tag: what comes before the payload
CODECS = {"raw": 0, "zlib": 1, "zstd": 2}
_ZLIB_LEVEL = 6
_ZSTD_LEVEL = 3
_MIN_COMPRESS = 128  # smaller payloads are stored raw: the codec header would not pay off


class BadRecordError(Exception):
    """A record that must not be trusted; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def choose_codec(compress: bool | str, /) -> str:
    """Map the ``compress`` option to a codec name.

    Raises:
        ValueError: an unknown codec name, or ``"zstd"`` without the zstandard package.
    """
    if compress is False:
        return "raw"
    if compress is True:
        return "zstd" if _zstd() is not None else "zlib"
    if compress in ("zlib", "zstd", "raw"):
        if compress == "zstd" and _zstd() is None:
            msg = "`compress='zstd'` needs the zstandard package: pip install zstandard"
            raise ValueError(msg)
        return compress
    msg = f"`compress` must be True, False, 'zlib' or 'zstd', got {compress!r}"
    raise ValueError(msg)


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def dump_result(value: Any, /) -> bytes:
    """Pickle a result: plain pickle, else cloudpickle (whose output plain pickle loads).

    Raises:
        pickle.PicklingError: neither can pickle it; the message names the value's type.
    """
    try:
        return pickle.dumps(value, protocol=PROTOCOL)
    except Exception as first:  # noqa: BLE001 - a __reduce__ may raise anything
        try:
            import cloudpickle

            return bytes(cloudpickle.dumps(value, protocol=PROTOCOL))
        except Exception:  # noqa: BLE001 - as above, for cloudpickle
            msg = f"a result of type {type(value).__qualname__} cannot be pickled: {first}"
            raise pickle.PicklingError(msg) from first


def _compress(codec: str, data: bytes) -> bytes:
    if codec == "zlib":
        return zlib.compress(data, _ZLIB_LEVEL)
    return bytes(_zstd().ZstdCompressor(level=_ZSTD_LEVEL).compress(data))


def _decompress(codec_id: int, data: bytes) -> bytes:
    if codec_id == CODECS["raw"]:
        return data
    if codec_id == CODECS["zlib"]:
        return zlib.decompress(data)
    if codec_id == CODECS["zstd"]:
        zstandard = _zstd()
        if zstandard is None:
            raise BadRecordError("compressed with zstd, which is not installed here")
        return bytes(zstandard.ZstdDecompressor().decompress(data))
    raise BadRecordError(f"unknown codec {codec_id}")


class Signer:
    """HMAC-SHA256 with one secret, its key schedule computed once.

    This is RFC 2104 HMAC written out with ``hashlib`` states prepared from the padded secret:
    per record it costs two hash copies (about 2 µs) where ``hmac.digest`` re-derives the pads
    each time (about 4 µs), which was most of the cost of looking up a small result. The
    output equals ``hmac.digest(secret, DOMAIN + message, "sha256")`` (tested).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes, /) -> None:
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(secret).digest() if len(secret) > block else secret).ljust(
            block, b"\0"
        )
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._inner.update(DOMAIN)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def tag(self, key: bytes, header: bytes, payload: bytes, /) -> bytes:
        """Return the tag of one record (key and header are fixed-size, so no separators)."""
        inner = self._inner.copy()
        inner.update(key)
        inner.update(header)
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def tag_chunks(self, key: bytes, header: bytes, chunks: Iterable[bytes], /) -> bytes:
        """Return the tag of a record whose payload comes in pieces."""
        inner = self._inner.copy()
        inner.update(key)
        inner.update(header)
        for chunk in chunks:
            inner.update(chunk)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def make_record(signer: Signer, key: bytes, pickled: bytes, /, *, codec: str = "raw") -> bytes:
    """Build the authenticated record for ``key`` holding the pickle ``pickled``."""
    payload = pickled
    if codec != "raw" and len(pickled) >= _MIN_COMPRESS:
        packed = _compress(codec, pickled)
        if len(packed) < len(pickled):
            payload = packed
        else:
            codec = "raw"
    else:
        codec = "raw"
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, CODECS[codec], PROTOCOL)
    return header + signer.tag(key, header, payload) + payload


def check_record(signer: Signer, key: bytes, record: bytes, /) -> tuple[int, bytes]:
    """Verify a record's header and tag; return ``(codec id, payload)`` without unpickling.

    Raises:
        BadRecordError: the record is short, foreign, of another format, or fails its tag.
    """
    codec_id = _check_head(record)
    payload = record[HEAD_SIZE:]
    if not hmac.compare_digest(
        record[_HEADER.size : HEAD_SIZE], signer.tag(key, record[: _HEADER.size], payload)
    ):
        raise BadRecordError(_FORGED)
    return codec_id, payload


_FORGED = "authentication failed (tampered, truncated, moved, or written with another secret)"


def _check_head(record: bytes) -> int:
    if len(record) < HEAD_SIZE:
        raise BadRecordError(f"truncated ({len(record)} bytes)")
    magic, version, codec_id, _protocol = _HEADER.unpack(record[: _HEADER.size])
    if magic != MAGIC:
        raise BadRecordError("not a parmap cache record (bad magic)")
    if version != FORMAT_VERSION:
        raise BadRecordError(f"format {version}, this parmap reads format {FORMAT_VERSION}")
    return int(codec_id)


def check_chunks(signer: Signer, key: bytes, head: bytes, chunks: Iterable[bytes], /) -> None:
    """Verify a record read in pieces (its first :data:`HEAD_SIZE` bytes, then the payload).

    Lets a large record be authenticated before it is loaded whole: a forged one costs one
    chunk of memory, not its size.

    Raises:
        BadRecordError: as :func:`check_record`.
    """
    _check_head(head)
    tag = signer.tag_chunks(key, head[: _HEADER.size], chunks)
    if not hmac.compare_digest(head[_HEADER.size : HEAD_SIZE], tag):
        raise BadRecordError(_FORGED)


def open_record(signer: Signer, key: bytes, record: bytes, /) -> Any:
    """Verify a record, then decompress and unpickle its result.

    Raises:
        BadRecordError: verification failed, or the verified payload does not load here (for
            example a class that no longer exists).
    """
    codec_id, payload = check_record(signer, key, record)
    try:
        return pickle.loads(_decompress(codec_id, payload))
    except BadRecordError:
        raise
    except Exception as exc:
        raise BadRecordError(f"does not load here: {type(exc).__name__}: {exc}") from exc
