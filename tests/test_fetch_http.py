"""HTTP fetching against a real server on 127.0.0.1 (tests/support/httpserver.py), no mocks.

No test asserts on elapsed time: slow cases are told apart by their error messages.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from feedhub import __version__
from feedhub.fetch import FetchSettings, HttpFetcher
from feedhub.fetch.headers import format_size, parse_max_age, parse_retry_after
from feedhub.fetch.http import NO_STATE
from feedhub.fetch.limits import HostLimiter
from feedhub.fetch.ssrf import DEFAULT_PRIVATE_NETWORKS, first_private, is_private, refusal
from feedhub.model import FetchResult, FetchState
from tests.support.httpserver import HttpServer, Reply, SeenRequest, redirect

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LM1 = "Mon, 02 Jan 2023 10:00:00 GMT"
LM2 = "Tue, 03 Jan 2023 10:00:00 GMT"


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as srv:
        yield srv


def fetch_all(
    urls: list[str], state: FetchState = NO_STATE, **settings: object
) -> list[FetchResult]:
    """Fetch ``urls`` concurrently through one fetcher built from ``settings``."""

    async def run() -> list[FetchResult]:
        async with HttpFetcher(FetchSettings(**settings)) as fetcher:  # type: ignore[arg-type]
            return list(await asyncio.gather(*(fetcher.fetch(u, state) for u in urls)))

    return asyncio.run(run())


def fetch(url: str, state: FetchState = NO_STATE, **settings: object) -> FetchResult:
    return fetch_all([url], state, **settings)[0]


# -- success and conditional GET ---------------------------------------------------------


def test_200_returns_body_validators_and_hints(server: HttpServer) -> None:
    headers = {
        "ETag": '"v1"',
        "Last-Modified": LM1,
        "Content-Type": "application/rss+xml; charset=utf-8",
        "Cache-Control": "public, max-age=600",
    }
    server.route("/feed", Reply(body=FEED, headers=headers))
    r = fetch(server.url("/feed"))
    assert r.error is None and r.ok
    assert r.status == 200 and r.body == FEED and not r.not_modified
    assert (r.etag, r.last_modified) == ('"v1"', LM1)
    assert r.content_type == "application/rss+xml; charset=utf-8"
    assert r.max_age == timedelta(seconds=600)
    assert r.final_url == server.url("/feed") and r.moved_to is None
    assert r.duration > 0


def test_request_identifies_feedhub_and_prefers_feed_types(server: HttpServer) -> None:
    server.route("/feed", Reply(body=FEED))
    assert fetch(server.url("/feed")).ok
    (req,) = server.requests
    assert f"feedhub/{__version__}" in req.headers["User-Agent"]
    assert req.headers["Accept"].startswith("application/atom+xml")
    assert "gzip" in req.headers["Accept-Encoding"]
    assert "If-None-Match" not in req.headers and "If-Modified-Since" not in req.headers


def _conditional(new_etag: str | None = None, new_lm: str | None = None):
    """A responder that answers 304 when the client's validators match "v1"/LM1."""

    def respond(req: SeenRequest) -> Reply:
        h = req.headers
        if h.get("If-None-Match") == '"v1"' and h.get("If-Modified-Since") == LM1:
            headers = {k: v for k, v in (("ETag", new_etag), ("Last-Modified", new_lm)) if v}
            return Reply(status=304, headers=headers)
        return Reply(body=FEED, headers={"ETag": '"v1"', "Last-Modified": LM1})

    return respond


def test_304_not_modified_keeps_state_validators(server: HttpServer) -> None:
    server.route("/feed", _conditional())
    r = fetch(server.url("/feed"), FetchState(etag='"v1"', last_modified=LM1))
    assert r.ok and r.not_modified and r.status == 304 and r.body is None
    assert (r.etag, r.last_modified) == ('"v1"', LM1)
    (req,) = server.requests
    assert req.headers["If-None-Match"] == '"v1"' and req.headers["If-Modified-Since"] == LM1


def test_304_with_new_validators_returns_them(server: HttpServer) -> None:
    server.route("/feed", _conditional(new_etag='"v2"', new_lm=LM2))
    r = fetch(server.url("/feed"), FetchState(etag='"v1"', last_modified=LM1))
    assert r.not_modified and (r.etag, r.last_modified) == ('"v2"', LM2)


def test_304_with_only_a_new_etag_keeps_the_stored_last_modified(server: HttpServer) -> None:
    server.route("/feed", _conditional(new_etag='"v2"'))
    r = fetch(server.url("/feed"), FetchState(etag='"v1"', last_modified=LM1))
    assert r.not_modified and (r.etag, r.last_modified) == ('"v2"', LM1)


def test_changed_content_returns_the_new_etag(server: HttpServer) -> None:
    server.route("/feed", Reply(body=FEED, headers={"ETag": '"v2"', "Last-Modified": LM2}))
    r = fetch(server.url("/feed"), FetchState(etag='"v1"', last_modified=LM1))
    assert r.ok and not r.not_modified and r.body == FEED
    assert (r.etag, r.last_modified) == ('"v2"', LM2)


def test_200_without_validators_clears_them(server: HttpServer) -> None:
    # Keeping the stored ETag here would make the next request claim a version we no longer have.
    server.route("/feed", Reply(body=FEED))
    r = fetch(server.url("/feed"), FetchState(etag='"v1"', last_modified=LM1))
    assert r.ok and (r.etag, r.last_modified) == (None, None)


# -- redirects ----------------------------------------------------------------------------


def _chain(server: HttpServer, statuses: tuple[int, ...]) -> str:
    """Routes /hop0 → /hop1 → … → /feed with the given redirect statuses; returns the start URL."""
    for i, status in enumerate(statuses):
        nxt = f"/hop{i + 1}" if i + 1 < len(statuses) else "/feed"
        server.route(f"/hop{i}", redirect(nxt, status))
    server.route("/feed", Reply(body=FEED))
    return server.url("/hop0")


@pytest.mark.parametrize("statuses", [(301,), (308,), (301, 308, 301)])
def test_permanent_redirects_set_moved_to(server: HttpServer, statuses: tuple[int, ...]) -> None:
    start = _chain(server, statuses)
    r = fetch(start)
    assert r.ok and r.body == FEED and r.url == start
    assert r.final_url == server.url("/feed") and r.moved_to == server.url("/feed")


@pytest.mark.parametrize("statuses", [(302,), (303,), (307,), (301, 302), (302, 301)])
def test_a_temporary_hop_means_not_moved(server: HttpServer, statuses: tuple[int, ...]) -> None:
    r = fetch(_chain(server, statuses))
    assert r.ok and r.body == FEED
    assert r.final_url == server.url("/feed") and r.moved_to is None


def test_absolute_redirect_location(server: HttpServer) -> None:
    server.route("/old", redirect(server.url("/feed"), 301))
    server.route("/feed", Reply(body=FEED))
    assert fetch(server.url("/old")).moved_to == server.url("/feed")


def test_redirect_loop_is_an_error(server: HttpServer) -> None:
    server.route("/a", redirect("/b", 301))
    server.route("/b", redirect("/a", 301))
    r = fetch(server.url("/a"))
    assert r.error is not None and "redirect loop" in r.error
    assert r.body is None and r.moved_to is None


def test_too_many_redirects_is_an_error(server: HttpServer) -> None:
    r = fetch(_chain(server, (302,) * 6), max_redirects=5)
    assert r.error == "too many redirects (more than 5)"
    assert server.count("/feed") == 0


def test_exactly_max_redirects_is_followed(server: HttpServer) -> None:
    r = fetch(_chain(server, (302,) * 5), max_redirects=5)
    assert r.ok and r.body == FEED


def test_redirect_to_another_scheme_is_refused(server: HttpServer) -> None:
    server.route("/a", redirect("ftp://127.0.0.1/feed", 301))
    r = fetch(server.url("/a"))
    assert r.error is not None and "unsupported URL" in r.error


# -- HTTP errors and server hints ---------------------------------------------------------


def test_410_means_gone(server: HttpServer) -> None:
    server.route("/feed", Reply(status=410))
    r = fetch(server.url("/feed"), FetchState(etag='"v1"'))
    assert r.gone and r.status == 410 and r.error == "HTTP 410 Gone"
    assert r.body is None and r.etag == '"v1"'


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(server: HttpServer, status: int) -> None:
    server.route("/feed", Reply(status=status, headers={"Retry-After": "120"}))
    r = fetch(server.url("/feed"))
    assert r.status == status and r.error is not None and r.error.startswith(f"HTTP {status} ")
    assert r.retry_after == timedelta(seconds=120) and not r.gone


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_http_date(server: HttpServer, status: int) -> None:
    when = datetime.now(UTC) + timedelta(hours=2)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    server.route("/feed", Reply(status=status, headers=headers))
    r = fetch(server.url("/feed"))
    assert r.retry_after is not None
    # A clock reading, not a duration measurement: an hour of slack either side.
    assert timedelta(hours=1) < r.retry_after <= timedelta(hours=2)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, "HTTP 500 Internal Server Error"),
        (404, "HTTP 404 Not Found"),
        (403, "HTTP 403 Forbidden"),
    ],
)
def test_other_http_errors(server: HttpServer, status: int, error: str) -> None:
    server.route("/feed", Reply(status=status, body=b"oops", headers={"ETag": '"err"'}))
    r = fetch(server.url("/feed"), FetchState(etag='"v1"', last_modified=LM1))
    assert r.error == error and r.status == status and r.body is None
    assert r.retry_after is None and not r.gone
    # The error page's validators must not replace the feed's.
    assert (r.etag, r.last_modified) == ('"v1"', LM1)


# -- body size cap ------------------------------------------------------------------------

CAP = 64 * 1024


def test_body_at_the_cap_is_accepted(server: HttpServer) -> None:
    server.route("/plain", Reply(body=b"a" * CAP))
    server.route("/gz", Reply.gzipped(b"a" * CAP))
    plain, gz = fetch_all([server.url("/plain"), server.url("/gz")], max_bytes=CAP)
    assert plain.body == b"a" * CAP and gz.body == b"a" * CAP


def test_content_length_over_the_cap_is_refused(server: HttpServer) -> None:
    server.route("/feed", Reply(body=b"a" * (CAP + 1)))
    r = fetch(server.url("/feed"), max_bytes=CAP)
    assert r.error == f"response body exceeds 64 KB limit (Content-Length {CAP + 1})"
    assert r.body is None and r.status == 200


def test_content_length_over_the_cap_is_refused_before_reading(server: HttpServer) -> None:
    # The server announces 1 GB and then stalls: reading would end in a timeout instead.
    server.route("/feed", Reply(body=b"a" * 10, content_length=10**9))
    r = fetch(server.url("/feed"), max_bytes=CAP, timeout=5)
    assert r.error is not None and "Content-Length 1000000000" in r.error


def test_chunked_body_over_the_cap_is_refused(server: HttpServer) -> None:
    server.route("/feed", Reply(body=b"a" * (CAP * 3), chunked=True, chunk_size=4096))
    r = fetch(server.url("/feed"), max_bytes=CAP)
    assert r.error == "response body exceeds 64 KB limit" and r.body is None


@pytest.mark.parametrize("chunked", [False, True])
def test_gzip_bomb_is_refused(server: HttpServer, chunked: bool) -> None:
    reply = Reply.gzipped(b"\0" * (20 * 1024 * 1024), chunked=chunked, chunk_size=1024)
    assert len(reply.body) < CAP  # small on the wire, 20 MB once inflated
    server.route("/feed", reply)
    r = fetch(server.url("/feed"), max_bytes=CAP)
    assert r.error == "response body exceeds 64 KB limit" and r.body is None


def test_gzip_bomb_is_never_inflated_in_memory(server: HttpServer) -> None:
    # Refusing after inflating everything would pass the test above; memory tells them apart.
    server.route("/feed", Reply.gzipped(b"\0" * (50 * 1024 * 1024)))
    tracemalloc.start()
    try:
        r = fetch(server.url("/feed"), max_bytes=CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.error == "response body exceeds 64 KB limit"
    assert peak < 10 * 1024 * 1024


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_zlib_and_raw_are_decoded(server: HttpServer, wbits: int) -> None:
    c = zlib.compressobj(wbits=wbits)
    body = c.compress(FEED) + c.flush()
    server.route("/feed", Reply(body=body, headers={"Content-Encoding": "deflate"}))
    assert fetch(server.url("/feed")).body == FEED


def test_truncated_gzip_is_an_error(server: HttpServer) -> None:
    body = gzip.compress(FEED * 50)[:-20]
    server.route("/feed", Reply(body=body, headers={"Content-Encoding": "gzip"}))
    r = fetch(server.url("/feed"))
    assert r.error == "gzip body is truncated"


def test_unknown_content_encoding_is_an_error(server: HttpServer) -> None:
    server.route("/feed", Reply(body=b"xx", headers={"Content-Encoding": "br"}))
    r = fetch(server.url("/feed"))
    assert r.error is not None and "unsupported Content-Encoding 'br'" in r.error


# -- network trouble ----------------------------------------------------------------------


def test_slow_body_hits_the_total_timeout(server: HttpServer) -> None:
    server.route("/feed", Reply(body=b"a" * 200, chunk_size=1, trickle=0.05))  # 10 s to send
    r = fetch(server.url("/feed"), timeout=0.5)
    assert r.error == "timed out after 0.5 s" and r.body is None and r.status == 200


def test_slow_headers_hit_the_total_timeout(server: HttpServer) -> None:
    server.route("/feed", Reply(body=FEED, delay=10))
    r = fetch(server.url("/feed"), timeout=0.5)
    assert r.error == "timed out after 0.5 s" and r.status is None


def test_timeout_budget_spans_redirect_hops(server: HttpServer) -> None:
    # Each hop alone fits in the budget; together they do not.
    for i in range(4):
        server.route(f"/hop{i}", Reply(status=302, headers={"Location": f"/hop{i + 1}"}, delay=0.3))
    server.route("/hop4", Reply(body=FEED))
    r = fetch(server.url("/hop0"), timeout=0.5)
    assert r.error == "timed out after 0.5 s"
    assert server.count("/hop4") == 0


def test_reset_is_an_error_while_a_concurrent_fetch_succeeds(server: HttpServer) -> None:
    server.route("/reset", Reply(reset=True))
    server.route("/feed", Reply(body=FEED, delay=0.2))
    bad, good = fetch_all([server.url("/reset"), server.url("/feed")])
    assert bad.error is not None and "\n" not in bad.error and bad.body is None
    assert good.ok and good.body == FEED


def test_connection_refused_is_an_error() -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = fetch(f"http://127.0.0.1:{port}/feed")
    assert r.error == f"cannot connect to 127.0.0.1:{port}: Connection refused"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_untrusted_tls_certificate_is_an_error(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with HttpServer(ssl_context=context) as tls:
        tls.route("/feed", Reply(body=FEED))
        r = fetch(tls.url("/feed"))
    assert r.error is not None and r.error.startswith("TLS certificate error for 127.0.0.1")
    assert r.body is None


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/feed", "/relative/feed", "http://"])
def test_unfetchable_urls_are_errors(url: str) -> None:
    r = fetch(url)
    assert r.error is not None and r.url == url


def test_fetch_outside_the_context_manager_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        asyncio.run(HttpFetcher().fetch("http://127.0.0.1/"))


# -- concurrency caps ---------------------------------------------------------------------


@pytest.mark.parametrize("per_host", [1, 2, 3])
def test_per_host_cap_is_what_the_server_sees(server: HttpServer, per_host: int) -> None:
    server.route("/feed", Reply(body=FEED, delay=0.2))
    results = fetch_all([server.url("/feed")] * 6, per_host=per_host, concurrency=20)
    assert all(r.ok for r in results)
    assert server.max_active == per_host


def test_global_cap_is_what_the_server_sees(server: HttpServer) -> None:
    server.route("/feed", Reply(body=FEED, delay=0.2))
    results = fetch_all([server.url("/feed")] * 8, per_host=8, concurrency=3)
    assert all(r.ok for r in results)
    assert server.max_active == 3


# -- pure helpers -------------------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("Wed, 01 May 2024 12:05:00 GMT", timedelta(minutes=5)),
        ("Wed, 01 May 2024 11:00:00 GMT", timedelta(0)),  # in the past
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=300", timedelta(seconds=300)),
        ('public, MAX-AGE="60", must-revalidate', timedelta(seconds=60)),
        ("no-cache", None),
        ("max-age=-1", None),
        ("max-age=abc", None),
        (None, None),
    ],
)
def test_parse_max_age(value: str | None, expected: timedelta | None) -> None:
    assert parse_max_age(value) == expected


def test_format_size() -> None:
    sizes = [format_size(n) for n in (10 * 1024 * 1024, 2048, 1500)]
    assert sizes == ["10 MB", "2 KB", "1500 bytes"]


def test_host_limiter_forgets_idle_hosts() -> None:
    async def run() -> tuple[int, int]:
        limiter = HostLimiter(1)
        async with limiter.slot("a"), limiter.slot("b"):
            during = len(limiter)
        return during, len(limiter)

    assert asyncio.run(run()) == (2, 0)


@pytest.mark.parametrize("field", ["timeout", "max_bytes", "concurrency", "per_host"])
def test_settings_reject_non_positive_limits(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FetchSettings(**{field: 0})  # type: ignore[arg-type]


# -- SSRF guard ---------------------------------------------------------------------------
# Everything runs on loopback, so the tests narrow what counts as private: with only
# 127.0.0.2 private, a server on 127.0.0.1 plays a public host and one on 127.0.0.2 (Linux
# routes all of 127/8 to lo) a private one.

ONLY_2 = (ip_network("127.0.0.2/32"),)
NO_LOOPBACK_V4 = tuple(n for n in DEFAULT_PRIVATE_NETWORKS if n != ip_network("127.0.0.0/8"))


def refused(url: str, address: str, how: str = "resolves to") -> str:
    return (
        f"redirect to a private address refused: {url} {how} {address} "
        "(fetch.allow_private_redirects allows it)"
    )


@pytest.fixture
def inner() -> Iterator[HttpServer]:
    """A second server, on 127.0.0.2: the "private" host of the SSRF tests."""
    with HttpServer(host="127.0.0.2") as srv:
        srv.route("/feed", Reply(body=FEED))
        yield srv


class PrecheckSkippingFetcher(HttpFetcher):
    """Skips the DNS check before connecting, as if the name had resolved to a public
    address and then to a private one when the connector looked (DNS rebinding): what is
    left is the check of the address the connection reached."""

    async def check_destination(self, url, progress):  # type: ignore[no-untyped-def]
        return None


def fetch_each(fetcher_class: type[HttpFetcher], urls: list[str], **settings: object):
    """Fetch ``urls`` one after another through one fetcher of ``fetcher_class``."""

    async def run() -> list[FetchResult]:
        async with fetcher_class(FetchSettings(**settings)) as fetcher:  # type: ignore[arg-type]
            return [await fetcher.fetch(u) for u in urls]

    return asyncio.run(run())


def test_redirect_from_public_to_private_is_refused_before_any_request(
    server: HttpServer, inner: HttpServer
) -> None:
    # Every hop is judged: the public server first redirects to itself, then away.
    server.route("/a", redirect("/b", 301))
    server.route("/b", redirect(inner.url("/feed"), 302))
    r = fetch(server.url("/a"), private_networks=ONLY_2)
    assert r.error == refused(inner.url("/feed"), "127.0.0.2")
    assert r.body is None and r.moved_to is None
    assert server.count() == 2 and inner.requests == []


def test_allow_private_redirects_turns_the_guard_off(server: HttpServer, inner: HttpServer) -> None:
    server.route("/a", redirect(inner.url("/feed")))
    r = fetch(server.url("/a"), private_networks=ONLY_2, allow_private_redirects=True)
    assert r.ok and r.body == FEED and inner.count("/feed") == 1


def test_configured_private_source_may_redirect_within_private(inner: HttpServer) -> None:
    inner.route("/old", redirect(inner.url("/feed"), 301))
    r = fetch(inner.url("/old"), private_networks=ONLY_2)
    assert r.ok and r.body == FEED and r.moved_to == inner.url("/feed")


def test_a_public_hop_in_a_private_chain_turns_the_guard_on(
    server: HttpServer, inner: HttpServer
) -> None:
    # private source → public server → private: the public server is as untrusted as a
    # public source would be.
    inner.route("/start", redirect(server.url("/bounce")))
    server.route("/bounce", redirect(inner.url("/feed")))
    r = fetch(inner.url("/start"), private_networks=ONLY_2)
    assert r.error == refused(inner.url("/feed"), "127.0.0.2")
    assert inner.count("/feed") == 0


def test_loopback_source_redirecting_to_loopback_is_allowed_by_default(
    server: HttpServer,
) -> None:
    server.route("/a", redirect(f"http://localhost:{server.port}/feed"))
    server.route("/feed", Reply(body=FEED))
    r = fetch(server.url("/a"))
    assert r.ok and r.body == FEED


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:a00:1]/", "http://0.0.0.0/"],
)
def test_metadata_and_private_literals_are_refused_without_connecting(
    server: HttpServer, location: str
) -> None:
    # Only 127/8 is taken out of the defaults, to make the origin public. Nothing listens
    # at these addresses here: a connection attempt would end in a connect error instead.
    server.route("/a", redirect(location))
    r = fetch(server.url("/a"), private_networks=NO_LOOPBACK_V4)
    assert r.error is not None
    assert r.error.startswith(f"redirect to a private address refused: {location} resolves to")


def test_a_host_name_is_judged_by_its_resolved_address(
    server: HttpServer, inner: HttpServer
) -> None:
    # The origin, 127.0.0.2, is public here; "localhost" resolves to 127.0.0.1 (and
    # perhaps ::1), which are private here.
    target = f"http://localhost:{server.port}/feed"
    inner.route("/a", redirect(target))
    private = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
    r = fetch(inner.url("/a"), private_networks=private)
    assert r.error in (refused(target, "127.0.0.1"), refused(target, "::1"))
    assert server.requests == []


def test_the_address_actually_connected_to_is_checked(
    server: HttpServer, inner: HttpServer
) -> None:
    server.route("/a", redirect(inner.url("/feed")))
    (r,) = fetch_each(PrecheckSkippingFetcher, [server.url("/a")], private_networks=ONLY_2)
    assert r.error == refused(inner.url("/feed"), "127.0.0.2", "connected to")
    assert inner.requests == []  # refused before the request was written


def test_a_kept_alive_connection_is_checked_too(server: HttpServer, inner: HttpServer) -> None:
    # The direct fetch (allowed: configured) leaves a keep-alive connection to 127.0.0.2
    # in the pool; the redirect hop gets it without any DNS lookup, and is still refused.
    server.route("/a", redirect(inner.url("/feed")))
    direct, redirected = fetch_each(
        PrecheckSkippingFetcher, [inner.url("/feed"), server.url("/a")], private_networks=ONLY_2
    )
    assert direct.ok
    assert redirected.error == refused(inner.url("/feed"), "127.0.0.2", "connected to")
    assert inner.count("/feed") == 1


@pytest.mark.parametrize(
    "address",
    [
        *("10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1"),
        *("127.0.0.1", "127.1.2.3", "169.254.169.254", "169.254.0.1", "0.0.0.0", "100.64.0.1"),
        *("::1", "::", "fc00::1", "fd00:ec2::254", "fe80::1", "fe80::1%eth0", "[::1]"),
        *("::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1"),
        "not-an-address",  # what cannot be judged is refused
    ],
)
def test_private_addresses(address: str) -> None:
    assert is_private(address)


@pytest.mark.parametrize(
    "address",
    [
        *("8.8.8.8", "1.1.1.1", "11.0.0.1", "172.15.255.255", "172.32.0.1", "192.169.0.1"),
        *("169.255.0.1", "100.128.0.1", "2001:4860:4860::8888", "2606:4700::1111"),
        *("::ffff:8.8.8.8", "64:ff9b::808:808", "fbff::1", "fec0::1"),
    ],
)
def test_public_addresses(address: str) -> None:
    assert not is_private(address)


def test_classification_follows_the_given_networks() -> None:
    assert not is_private("127.0.0.1", ONLY_2) and is_private("127.0.0.2", ONLY_2)
    assert is_private("::ffff:127.0.0.2", ONLY_2)  # the IPv4 inside is what is reached
    assert not is_private("10.0.0.1", ONLY_2)
    assert first_private(["8.8.8.8", "10.0.0.1", "::1"]) == "10.0.0.1"
    assert first_private(["8.8.8.8", "2001:db8::1"]) is None
    assert FetchSettings().private_networks == DEFAULT_PRIVATE_NETWORKS
    assert not FetchSettings().allow_private_redirects


def test_refusal_is_one_line() -> None:
    assert refusal("http://10.0.0.1/", ip_address("10.0.0.1")) == (
        "redirect to a private address refused: http://10.0.0.1/ resolves to 10.0.0.1 "
        "(fetch.allow_private_redirects allows it)"
    )
