"""Fetching feeds over HTTP: conditional GET, size and time limits, redirects, server hints.

One ``HttpFetcher`` owns one aiohttp session for a whole sweep: a session per request
would throw away keep-alive connections and the DNS cache (measured: aiohttp does ~6k
req/s on loopback at concurrency 50 with a shared session). ``fetch()`` never raises for
network or server trouble; it returns a ``FetchResult`` whose ``error`` is one line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType

import aiohttp
from yarl import URL

from feedhub import __version__
from feedhub.fetch.body import BodyError, read_capped
from feedhub.fetch.headers import parse_max_age, parse_retry_after
from feedhub.fetch.limits import HostLimiter
from feedhub.model import FetchResult, FetchState

log = logging.getLogger(__name__)

# Feed types first; generic XML/JSON next (many feeds are served as text/xml); anything
# last, because some servers answer 406 to an Accept list without a wildcard.
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, "
    "application/feed+json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
    "application/json;q=0.7, */*;q=0.1"
)
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
        connector = aiohttp.TCPConnector(
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

    async def fetch(self, url: str, state: FetchState = NO_STATE) -> FetchResult:
        """GET ``url`` conditionally on ``state``; any failure becomes ``FetchResult.error``.

        ``etag``/``last_modified`` in the result are the validators to send next time, to be
        stored as they are: the response's on 200 (None if it sent none), the newest on 304,
        and ``state``'s unchanged on any failure.
        """
        if self._session is None:
            raise RuntimeError("HttpFetcher.fetch() called outside 'async with HttpFetcher()'")
        started = time.perf_counter()
        progress = _Progress(URL())
        try:
            result = await self._follow(url, state, progress)
        except Exception as exc:  # the IO edge: nothing may escape into the sweep
            message = describe_error(exc, self.settings)
            result = FetchResult(
                url=url,
                status=progress.status,
                error=message,
                final_url=str(progress.url) if progress.redirects else url,
                etag=state.etag,
                last_modified=state.last_modified,
            )
        return replace(result, duration=time.perf_counter() - started)

    async def check_destination(self, url: URL) -> str | None:
        """SSRF hook, called before every hop: return a one-line reason to refuse ``url``.

        Allows everything today. A private-network check (as Miniflux does) goes here and
        must judge the address that will actually be connected to: resolve with the
        connector's resolver (or give the connector a filtering resolver) rather than a
        separate lookup, which DNS rebinding could answer differently.
        """
        return None

    async def _follow(self, url: str, state: FetchState, progress: _Progress) -> FetchResult:
        """Request ``url`` and follow redirects by hand: the one place every hop goes through."""
        target = _checked_url(URL(url), url)
        seen = {target.with_fragment(None)}
        headers = _conditional_headers(state)
        while True:
            refusal = await self.check_destination(target)
            if refusal:
                raise FetchError(refusal)
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
            try:
                async with asyncio.timeout(remaining):
                    async with self._session.get(
                        target, headers=headers, allow_redirects=False
                    ) as resp:
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
            text = f"invalid HTTP response: {exc.message}"
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
