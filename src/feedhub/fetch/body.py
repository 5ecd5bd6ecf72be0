"""Reading a response body as a stream under a byte cap that also holds after decompression.

aiohttp's own decompression is switched off (``auto_decompress=False``) because it inflates
whatever arrives without a bound: a few KB of gzip can become gigabytes (a "gzip bomb").
Here every chunk is inflated with ``max_length`` set to what is left of the cap, so memory
never exceeds the cap by more than one chunk.
"""

from __future__ import annotations

import zlib

from aiohttp import ClientResponse

from feedhub.fetch.headers import format_size

CHUNK = 64 * 1024


class BodyError(Exception):
    """The body cannot be accepted: too large, badly encoded or truncated (message is one line)."""


class _Inflater:
    """Incremental gzip/deflate decoding bounded by ``max_length`` per call."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._d: zlib._Decompress | None = None

    def feed(self, data: bytes, max_length: int) -> bytes:
        if self._d is None:
            self._d = zlib.decompressobj(self._wbits(data))
        try:
            return self._d.decompress(data, max_length)
        except zlib.error as exc:
            raise BodyError(f"cannot decode {self._encoding} body: {exc}") from exc

    def finish(self) -> None:
        if self._d is not None and not self._d.eof:
            raise BodyError(f"{self._encoding} body is truncated")

    def _wbits(self, first: bytes) -> int:
        if self._encoding in ("gzip", "x-gzip"):
            return 16 + zlib.MAX_WBITS
        # "deflate" should be zlib-wrapped (RFC 9110) but many servers send raw deflate;
        # a valid zlib header (CM=8, FCHECK) tells them apart, as browsers do.
        if len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0:
            return zlib.MAX_WBITS
        return -zlib.MAX_WBITS


async def read_capped(resp: ClientResponse, max_bytes: int) -> bytes:
    """The decoded body of ``resp``, refusing more than ``max_bytes`` after decompression.

    A Content-Length over the cap is refused before reading anything.
    """
    too_large = f"response body exceeds {format_size(max_bytes)} limit"
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise BodyError(f"{too_large} (Content-Length {length})")
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        raise BodyError(f"unsupported Content-Encoding {encoding!r}")
    inflater = None if encoding in ("identity", "") else _Inflater(encoding)
    out = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        if inflater is not None:
            # One byte more than allowed is enough to know the cap is broken.
            chunk = inflater.feed(chunk, max_bytes - len(out) + 1)
        out += chunk
        if len(out) > max_bytes:
            raise BodyError(too_large)
    if inflater is not None:
        inflater.finish()
    return bytes(out)
