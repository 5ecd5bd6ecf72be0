"""Fetching feeds over HTTP: conditional GET, size and time limits, redirects, server hints.

One ``HttpFetcher`` owns one aiohttp session for a whole sweep: a session per request
would throw away keep-alive connections and the DNS cache (measured: aiohttp does ~6k
req/s on loopback at concurrency 50 with a shared session). ``fetch()`` never raises for
network or server trouble; it returns a ``FetchResult`` whose ``error`` is one line.

SSRF guard: the configured URL may point anywhere (the operator chose it), but once a hop
has connected to a public address, no later redirect hop may reach a private one
(``ssrf.py``). Each such hop is judged twice: its host's resolved addresses before
connecting, and the address the connection actually reached before any request is sent
on it (DNS rebinding, keep-alive connections). ``allow_private_redirects`` turns it off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from feedhub import __version__
from feedhub.fetch.body import BodyError, read_capped
from feedhub.fetch.headers import parse_max_age, parse_retry_after
from feedhub.fetch.limits import HostLimiter
from feedhub.fetch.ssrf import (
    DEFAULT_PRIVATE_NETWORKS,
    Address,
    Network,
    first_private,
    is_private,
    parse_address,
    refusal,
)
from feedhub.model import FetchResult, FetchState
from feedhub.util.urls import mask_url

if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

log = logging.getLogger(__name__)

# Feed types first; generic XML/JSON next (many feeds are served as text/xml); anything
# last, because some servers answer 406 to an Accept list without a wildcard.
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, "
    "application/feed+json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
    "application/json;q=0.7, */*;q=0.1"
)
# Article pages (issue 15): HTML first; anything else is read only to be refused by type.
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits and identity for HTTP fetching."""

    timeout: float = 30.0  # total seconds of network time per fetch, all redirect hops included
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024  # holds after decompression too (gzip bomb)
    concurrency: int = 20  # requests in flight overall
    per_host: int = 2  # requests in flight per host name
    user_agent: str = f"feedhub/{__version__} (+https://github.com/feedhub/feedhub)"
    max_redirects: int = 5
    allow_private_redirects: bool = False  # True turns the SSRF guard off
    # What the SSRF guard counts as private; tests on 127.0.0.1 narrow it to tell
    # "public" and "private" loopback addresses apart.
    private_networks: tuple[Network, ...] = DEFAULT_PRIVATE_NETWORKS

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout", "max_bytes", "concurrency", "per_host"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FetchSettings.{name} must be positive")
        if self.max_redirects < 0:
            raise ValueError("FetchSettings.max_redirects must not be negative")


DEFAULT_SETTINGS = FetchSettings()
NO_STATE = FetchState()


class FetchError(Exception):
    """A fetch failed; the message is the one-line ``FetchResult.error``."""


@dataclass(slots=True)
class _Progress:
    """What one fetch has learnt so far, so that a failure can still report it."""

    url: URL  # the hop being requested
    status: int | None = None
    redirects: list[int] = field(default_factory=list)  # statuses of the redirects followed
    spent: float = 0.0  # network seconds used: the total timeout's budget
    # A hop has connected to a public address: from then on private hops are refused.
    public_seen: bool = False
    # An article page: its URL came from a feed, not from the operator, so every hop,
    # the first included, must reach a public address.
    untrusted: bool = False


@dataclass(slots=True)
class _HopGuard:
    """One hop's SSRF check at the connector: the peer it reached, refused when private."""

    url: URL
    networks: tuple[Network, ...]
    enforce: bool  # refuse a private peer (a redirect hop after a public one)
    peer: Address | str | None = None  # None: no connection made (or no address known)


# The hop being requested by the current task; each fetch runs in its own task (or awaits
# its hops one after another), so a context variable reaches the connector unambiguously.
_HOP: ContextVar[_HopGuard | None] = ContextVar("feedhub_fetch_hop", default=None)


class _GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector that reports each hop's peer address and refuses a private one.

    The check sits here because the connection's peer is the one truth about where a
    request goes: a name can resolve differently by the time the connector looks it up
    (DNS rebinding), and a pooled keep-alive connection skips resolution altogether. It
    runs before the request is written, so a refused server receives nothing.
    (``resp.connection`` cannot be used instead: aiohttp releases the connection as soon
    as a body ends, so it is already None for the usual empty-bodied redirect.)
    """

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        guard = _HOP.get()
        if guard is not None:
            transport = conn.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            host = str(peer[0]) if peer else None
            address = parse_address(host) if host else None
            guard.peer = address if address is not None else host
            # An address that cannot be read counts as private: what cannot be judged is refused.
            if guard.enforce and (address is None or is_private(address, guard.networks)):
                conn.close()  # nothing may be sent on it for this hop
                where = host or "an unknown address"
                raise FetchError(refusal(str(guard.url), where, "connected to"))
        return conn


class HttpFetcher:
    """Fetches feed URLs through one shared aiohttp session.

    Use as ``async with HttpFetcher(settings) as fetcher: await fetcher.fetch(url, state)``.
    """

    def __init__(self, settings: FetchSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts = HostLimiter(settings.per_host)

    async def __aenter__(self) -> HttpFetcher:
        s = self.settings
        connector = _GuardedConnector(
            limit=s.concurrency,  # same as the global semaphore: no request waits for the pool
            limit_per_host=0,  # the per-host cap is HostLimiter's, counted in requests
            ttl_dns_cache=300,  # a sweep hits the same hosts again and again (default: 10 s)
            keepalive_timeout=30,  # reuse connections across feeds of one host in a sweep
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # The total limit is enforced per fetch across hops (asyncio.timeout), not per request.
            timeout=aiohttp.ClientTimeout(
                total=None, connect=s.connect_timeout, sock_connect=s.connect_timeout
            ),
            auto_decompress=False,  # body.py inflates under the byte cap (gzip bombs)
            cookie_jar=aiohttp.DummyCookieJar(),  # no state may leak from one source to another
            headers={
                "User-Agent": s.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip, deflate",  # what body.py can decode
            },
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(
        self, url: str, state: FetchState = NO_STATE, *, page: bool = False
    ) -> FetchResult:
        """GET ``url`` conditionally on ``state``; any failure becomes ``FetchResult.error``.

        ``page``: an article page, not a feed (issue 15): HTML is asked for, and the SSRF
        guard applies from the first hop on (the URL is a feed's, not the operator's).

        ``etag``/``last_modified`` in the result are the validators to send next time, to be
        stored as they are: the response's on 200 (None if it sent none), the newest on 304,
        and ``state``'s unchanged on any failure.
        """
        if self._session is None:
            raise RuntimeError("HttpFetcher.fetch() called outside 'async with HttpFetcher()'")
        started = time.perf_counter()
        progress = _Progress(URL(), untrusted=page)
        try:
            result = await self._follow(url, state, progress)
        except Exception as exc:  # the IO edge: nothing may escape into the sweep
            # Stored as the source's last error and printed: a token in a redirect URL
            # must not show (config/env.py: mask_url).
            message = mask_url(describe_error(exc, self.settings))
            result = FetchResult(
                url=url,
                status=progress.status,
                error=message,
                transient=is_transient(exc),
                final_url=str(progress.url) if progress.redirects else url,
                etag=state.etag,
                last_modified=state.last_modified,
            )
        return replace(result, duration=time.perf_counter() - started)

    def _guarded(self, progress: _Progress) -> bool:
        """Whether the SSRF guard applies to the next hop: a redirect after a public hop.

        The configured URL itself is always allowed (the operator chose it), and so is a
        redirect chain that stays on private addresses (an intranet feed moving around).
        An article page is guarded on every hop: a feed chose its URL.
        """
        return not self.settings.allow_private_redirects and (
            progress.untrusted or (bool(progress.redirects) and progress.public_seen)
        )

    async def check_destination(self, url: URL, progress: _Progress) -> str | None:
        """SSRF check before a hop connects: a one-line reason to refuse ``url``, or None.

        Judges every address the host resolves to (the connector may try each of them),
        with the event loop's getaddrinfo as aiohttp's default resolver does. The
        connector checks the address it really reached as well (``_GuardedConnector``).
        """
        if not self._guarded(progress):
            return None
        host = url.raw_host or ""
        literal = parse_address(host)
        if literal is not None:
            addresses: list[Address | str] = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(
                    host, url.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
            except OSError:
                return f"DNS lookup failed for {host}"
            addresses = [str(info[4][0]) for info in infos]
        bad = first_private(addresses, self.settings.private_networks)
        return refusal(str(url), bad) if bad is not None else None

    async def _follow(self, url: str, state: FetchState, progress: _Progress) -> FetchResult:
        """Request ``url`` and follow redirects by hand: the one place every hop goes through."""
        target = _checked_url(URL(url), url)
        seen = {target.with_fragment(None)}
        headers = _conditional_headers(state)
        if progress.untrusted:
            headers["Accept"] = PAGE_ACCEPT
        while True:
            progress.url = target
            outcome = await self._hop(target, headers, state, url, progress)
            if isinstance(outcome, FetchResult):
                return outcome
            key = outcome.with_fragment(None)
            if key in seen:
                raise FetchError(f"redirect loop: {outcome} was already visited")
            if len(progress.redirects) > self.settings.max_redirects:
                raise FetchError(f"too many redirects (more than {self.settings.max_redirects})")
            seen.add(key)
            target = _checked_url(outcome, str(outcome))

    async def _hop(
        self,
        target: URL,
        headers: dict[str, str],
        state: FetchState,
        requested: str,
        progress: _Progress,
    ) -> FetchResult | URL:
        """One request: the redirect target, or the finished result."""
        assert self._session is not None
        # Host slot before the global one: tasks queued behind a busy host hold no global slot.
        async with self._hosts.slot(target.host or ""), self._global:
            remaining = self.settings.timeout - progress.spent
            started = time.perf_counter()  # queueing above is not charged to the timeout
            guard = _HopGuard(target, self.settings.private_networks, self._guarded(progress))
            token = _HOP.set(guard)
            try:
                async with asyncio.timeout(remaining):
                    # Inside the timeout: the SSRF check's DNS lookup is network time too.
                    refused = await self.check_destination(target, progress)
                    if refused:
                        raise FetchError(refused)
                    async with self._session.get(
                        target, headers=headers, allow_redirects=False
                    ) as resp:
                        # An unknown peer counts as public: the guard errs on the safe side.
                        if guard.peer is None or not is_private(
                            guard.peer, self.settings.private_networks
                        ):
                            progress.public_seen = True
                        progress.status = resp.status
                        location = resp.headers.get("Location")
                        if resp.status in REDIRECT_STATUSES and location:
                            progress.redirects.append(resp.status)
                            try:
                                return target.join(URL(location))
                            except ValueError as exc:
                                raise FetchError(f"invalid redirect Location {location!r}") from exc
                        return await self._finish(resp, state, requested, progress)
            finally:
                _HOP.reset(token)
                progress.spent += time.perf_counter() - started

    async def _finish(
        self, resp: aiohttp.ClientResponse, state: FetchState, requested: str, progress: _Progress
    ) -> FetchResult:
        """Turn the last response into a result: body, 304, or an HTTP error with its hints."""
        status, h = resp.status, resp.headers
        base = FetchResult(
            url=requested,
            status=status,
            final_url=str(progress.url) if progress.redirects else requested,
            content_type=h.get("Content-Type"),
            max_age=parse_max_age(h.get("Cache-Control")),
        )
        permanent = bool(progress.redirects) and set(progress.redirects) <= PERMANENT_REDIRECTS
        moved_to = str(progress.url) if permanent else None
        if status == 304:
            return replace(
                base,
                not_modified=True,
                etag=h.get("ETag") or state.etag,
                last_modified=h.get("Last-Modified") or state.last_modified,
                moved_to=moved_to,
            )
        if 200 <= status < 300:
            try:
                body = await read_capped(resp, self.settings.max_bytes)
            except BodyError as exc:
                raise FetchError(str(exc)) from exc
            return replace(
                base,
                body=body,
                etag=h.get("ETag"),
                last_modified=h.get("Last-Modified"),
                moved_to=moved_to,
            )
        error = f"HTTP {status} {_reason(status, resp.reason)}".rstrip()
        if status in REDIRECT_STATUSES:
            error += " without a Location header"
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(h.get("Retry-After"), datetime.now(UTC))
        return replace(
            base,
            error=error,
            gone=status == 410,
            retry_after=retry_after,
            etag=state.etag,
            last_modified=state.last_modified,
        )


def _checked_url(url: URL, text: str) -> URL:
    """``url`` if it is absolute http(s), else a FetchError."""
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(f"unsupported URL {text!r}: only absolute http(s) URLs can be fetched")
    return url


def _conditional_headers(state: FetchState) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from the validators remembered for the source."""
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _reason(status: int, reason: str | None) -> str:
    """The standard reason phrase, falling back to what the server said."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return reason or ""


_ECHOED_BYTES = re.compile(r""":\s*b['"].*$""", re.DOTALL)


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass on a retry: no answer (a timeout, a connection refused,
    reset or dropped). Not feedhub's own refusals (``FetchError``: the SSRF guard, the caps,
    redirect loops), a bad URL, a failed DNS lookup or a TLS error."""
    if isinstance(exc, (aiohttp.ClientConnectorDNSError, aiohttp.ClientSSLError)):
        return False
    return isinstance(
        exc, (TimeoutError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError, ConnectionError)
    )


def describe_error(exc: BaseException, settings: FetchSettings) -> str:
    """One line saying what went wrong, for ``FetchResult.error`` and the logs."""
    match exc:
        case FetchError():
            text = str(exc)
        case aiohttp.ConnectionTimeoutError():
            text = f"connect timed out after {settings.connect_timeout:g} s"
        case TimeoutError():  # asyncio.timeout around the whole fetch
            text = f"timed out after {settings.timeout:g} s"
        case aiohttp.ClientConnectorDNSError():
            text = f"DNS lookup failed for {exc.host}"
        case aiohttp.ClientConnectorCertificateError():
            text = f"TLS certificate error for {exc.host}: {exc.certificate_error}"
        case aiohttp.ClientSSLError():
            text = f"TLS error: {exc}"
        case aiohttp.ClientConnectorError():
            # asyncio puts "Connect call failed (addr)" in strerror; the errno says why.
            errno = exc.os_error.errno
            reason = os.strerror(errno) if errno else str(exc.os_error)
            text = f"cannot connect to {exc.host}:{exc.port}: {reason}"
        case aiohttp.ServerDisconnectedError():
            text = "server closed the connection unexpectedly"
        case aiohttp.ClientPayloadError():
            text = f"response body incomplete: {exc}"
        case aiohttp.ClientResponseError():
            # aiohttp quotes the offending bytes in some messages ("Got more than 8190
            # bytes when reading: b'aaaa…'"): the server's data, not the reason.
            message = _ECHOED_BYTES.sub("", str(exc.message))
            if message.startswith("Got more than"):
                message += " (a status or header line is too long)"
            text = f"invalid HTTP response: {message}"
        case aiohttp.InvalidURL() | ValueError():
            text = f"invalid URL: {exc}"
        case aiohttp.ClientError() | OSError():
            text = f"connection error: {exc}"
        case _:
            log.exception("unexpected error while fetching", exc_info=exc)
            text = f"unexpected error: {type(exc).__name__}: {exc}"
    if not text.strip():
        text = type(exc).__name__
    return " ".join(text.split())[:500]
