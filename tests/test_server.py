"""The HTTP server against real files on 127.0.0.1: types, validators, gzip, traversal, probes.

Requests go through http.client, which sends the request target exactly as written, so
traversal attempts reach the server raw (a browser or yarl would normalize them first).
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import pytest
from aiohttp import web

from feedhub.config import Config, parse_config
from feedhub.service.files import FileCache, resolve_request
from feedhub.service.server import make_app
from feedhub.service.state import ServiceState
from feedhub.store import Store

ATOM = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">' + (
    b"<entry><title>Niger news</title></entry>" * 40
) + b"</feed>\n"
HTML = b"<!doctype html><title>feedhub</title><p>" + b"headline " * 60 + b"</p>\n"
OPML = b'<?xml version="1.0"?><opml version="2.0"><body/></opml>\n'


def make_config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "feedhub.yaml"
    text = f"store: data/feedhub.db\noutput: {{dir: feeds}}\n{extra}"
    path.write_text(text)
    return parse_config(text, path)


@dataclass
class Served:
    """An app running on 127.0.0.1 in a thread, and what it serves."""

    port: int
    state: ServiceState
    out: Path

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()


def serve(config: Config, store: Store, state: ServiceState) -> Iterator[int]:
    """Run make_app() on a free port of 127.0.0.1 in a thread; yields the port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(make_app(config, store, state), shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield int(holder["port"])  # type: ignore[call-overload]
    finally:
        runner = holder["runner"]
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    config = make_config(tmp_path, "site: {websub_hub: 'https://hub.example/'}\n")
    out = config.output_dir
    (out / "archive").mkdir(parents=True)
    (out / "index.html").write_bytes(HTML)
    (out / "niger.atom").write_bytes(ATOM)
    (out / "index.opml").write_bytes(OPML)
    (out / "archive" / "index.html").write_bytes(b"<p>archive</p>")
    (out / ".niger.atom.1234.tmp").write_bytes(b"half written")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    store = Store.open(config.store_url)
    state = ServiceState(config)
    state.scheduler_running = True
    try:
        for port in serve(config, store, state):
            yield Served(port, state, out)
    finally:
        store.close()


def test_content_types_and_index(served: Served) -> None:
    status, headers, body = served.request("/")
    assert (status, headers["Content-Type"], body) == (200, "text/html; charset=utf-8", HTML)
    status, headers, body = served.request("/niger.atom")
    assert (status, headers["Content-Type"], body) == (
        200, "application/atom+xml; charset=utf-8", ATOM
    )
    status, headers, _ = served.request("/index.opml")
    assert (status, headers["Content-Type"]) == (200, "text/x-opml; charset=utf-8")
    status, _, body = served.request("/archive/")
    assert (status, body) == (200, b"<p>archive</p>")
    assert served.request("/missing.atom")[0] == 404


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Chromium, Firefox
MINIFLUX = "application/xml, application/atom+xml, application/rss+xml, text/html, */*;q=0.9"


def test_a_browser_gets_a_feed_as_xml_and_the_stylesheet_with_feed_caching(
    served: Served,
) -> None:
    # Chromium shows application/atom+xml as text and never applies its XSLT (issue 18).
    status, headers, body = served.request("/niger.atom", headers={"Accept": BROWSER})
    assert (status, headers["Content-Type"], body) == (200, "application/xml; charset=utf-8", ATOM)
    assert headers["Vary"] == "Accept, Accept-Encoding"
    for reader in (MINIFLUX, "*/*", "application/atom+xml"):
        _, headers, _ = served.request("/niger.atom", headers={"Accept": reader})
        assert headers["Content-Type"] == "application/atom+xml; charset=utf-8", reader
    (served.out / "feed.xsl").write_bytes(b'<?xml version="1.0"?><xsl:stylesheet/>')
    status, headers, _ = served.request("/feed.xsl", headers={"Accept": BROWSER})
    assert (status, headers["Content-Type"]) == (200, "application/xslt+xml; charset=utf-8")
    assert "max-age=300" in headers["Cache-Control"] and headers["ETag"].startswith('"')
    assert headers["Vary"] == "Accept-Encoding"


def test_validators_cache_control_and_hub_link(served: Served) -> None:
    status, headers, _ = served.request("/niger.atom")
    assert status == 200
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    mtime = (served.out / "niger.atom").stat().st_mtime
    assert headers["Last-Modified"] == formatdate(int(mtime), usegmt=True)
    assert "max-age=300" in headers["Cache-Control"]
    assert '<https://hub.example/>; rel="hub"' in headers["Link"]
    assert '<http://127.0.0.1:8080/niger.atom>; rel="self"' in headers["Link"]


def test_if_none_match_gives_304_until_the_file_changes(served: Served) -> None:
    etag = served.request("/niger.atom")[1]["ETag"]
    status, headers, body = served.request("/niger.atom", headers={"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    status, _, _ = served.request("/niger.atom", headers={"If-None-Match": f'"x", W/{etag}'})
    assert status == 304
    assert served.request("/niger.atom", headers={"If-None-Match": '"other"'})[0] == 200
    # A new version (written like the publisher: a new file renamed over the old one).
    tmp = served.out / ".new.tmp"
    tmp.write_bytes(ATOM.replace(b"Niger news", b"Mali news"))
    os.replace(tmp, served.out / "niger.atom")
    status, headers, body = served.request("/niger.atom", headers={"If-None-Match": etag})
    assert status == 200 and b"Mali news" in body and headers["ETag"] != etag


def test_if_modified_since(served: Served) -> None:
    path = served.out / "niger.atom"
    os.utime(path, (1_700_000_000, 1_700_000_000))
    _status, headers, _ = served.request("/niger.atom")
    last_modified = headers["Last-Modified"]
    assert served.request("/niger.atom", headers={"If-Modified-Since": last_modified})[0] == 304
    older = formatdate(1_700_000_000 - 60, usegmt=True)
    assert served.request("/niger.atom", headers={"If-Modified-Since": older})[0] == 200
    assert served.request("/niger.atom", headers={"If-Modified-Since": "garbage"})[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    both = {"If-Modified-Since": last_modified, "If-None-Match": '"other"'}
    assert served.request("/niger.atom", headers=both)[0] == 200


def test_gzip_variant(served: Served) -> None:
    plain = served.request("/niger.atom")
    status, headers, body = served.request("/niger.atom", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == ATOM and len(body) < len(ATOM)
    assert headers["Vary"] == plain[1]["Vary"] == "Accept, Accept-Encoding"
    assert headers["ETag"] != plain[1]["ETag"] and headers["ETag"].endswith('-gzip"')
    assert "Content-Encoding" not in plain[1]
    again = {"Accept-Encoding": "gzip, deflate", "If-None-Match": headers["ETag"]}
    assert served.request("/niger.atom", headers=again)[0] == 304
    refused = served.request("/niger.atom", headers={"Accept-Encoding": "gzip;q=0, br"})
    assert "Content-Encoding" not in refused[1] and refused[2] == ATOM


def test_head(served: Served) -> None:
    status, headers, body = served.request("/niger.atom", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(ATOM))
    assert headers["ETag"] == served.request("/niger.atom")[1]["ETag"]
    assert served.request("/niger.atom", method="POST")[0] == 405


@pytest.mark.parametrize(
    "path",
    [
        "/../etc/passwd",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/..%2fsecret.txt",
        "/archive/..%2f..%2fsecret.txt",
        "/archive/../../secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/niger.atom%00.html",
        "//etc/passwd",
        "/etc/passwd",
        "/.niger.atom.1234.tmp",
        "/./niger.atom",
        "/escape.txt",
        "/escape-dir/secret.txt",
        "/%ff%fe",
    ],
)
def test_no_path_traversal(served: Served, path: str) -> None:
    (served.out / "escape.txt").symlink_to(served.out.parent / "secret.txt")
    (served.out / "escape-dir").symlink_to(served.out.parent)
    status, _, body = served.request(path)
    assert status == 404 and b"secret" not in body


def test_absolute_form_and_symlink_inside(served: Served) -> None:
    (served.out / "alias.atom").symlink_to(served.out / "niger.atom")
    assert served.request("/alias.atom")[2] == ATOM
    assert resolve_request(served.out, "http://evil/../secret.txt") is None
    assert resolve_request(served.out, "/niger.atom?x=../..") == (served.out / "niger.atom")


def test_probes(served: Served) -> None:
    assert served.request("/healthz")[:3:2] == (200, b"ok\n")
    status, _, body = served.request("/readyz")
    assert (status, body) == (200, b"ready\n")
    served.state.scheduler_running = False
    status, _, body = served.request("/readyz")
    assert (status, body) == (503, b"scheduler not running\n")
    served.state.scheduler_running = True
    served.state.beat = time.monotonic() - 10_000  # no progress for hours: stuck
    status, _, body = served.request("/readyz")
    assert status == 503 and body.startswith(b"no sweep progress for ")
    served.state.beat = time.monotonic()
    (served.out / "index.opml").unlink()  # published files gone: not ready until rewritten
    status, _, body = served.request("/readyz")
    assert (status, body) == (503, b"published files missing: index.opml\n")
    (served.out / "index.opml").write_bytes(OPML)
    assert served.request("/readyz")[0] == 200


def test_readyz_reports_a_dead_store(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store.open(config.store_url)
    state = ServiceState(config, with_scheduler=False)
    config.output_dir.mkdir()
    for name in ("index.html", "index.opml"):
        (config.output_dir / name).write_bytes(b"published")
    for port in serve(config, store, state):
        s = Served(port, state, config.output_dir)
        assert s.request("/readyz")[0] == 200
        store.engine.dispose()
        (tmp_path / "data" / "feedhub.db").unlink()
        (tmp_path / "data").rmdir()
        (tmp_path / "data").write_text("not a folder")  # the database cannot be reopened
        status, _, body = s.request("/readyz")
        assert status == 503 and body.startswith(b"store error: ")


def test_metrics(served: Served) -> None:
    from feedhub.ingest.run import SourceReport

    m = served.state.metrics
    m.observe_fetch(SourceReport("wire", "updated", status=200, new=3, updated=1, duration=0.2))
    m.observe_fetch(SourceReport("down", "error", status=None, error="timeout", duration=30))
    m.merged(2)
    m.observe_publish(0.5, ok=True)
    m.sources_in_error.set(1)
    status, headers, body = served.request("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    for line in (
        'feedhub_fetches_total{outcome="updated",status="200"} 1.0',
        'feedhub_fetches_total{outcome="error",status="none"} 1.0',
        "feedhub_fetch_duration_seconds_count 2.0",
        "feedhub_articles_ingested_total 3.0",
        "feedhub_duplicates_merged_total 2.0",
        "feedhub_publish_duration_seconds_count 1.0",
        "feedhub_sources_in_error 1.0",
    ):
        assert line in text.splitlines(), line


def test_two_apps_in_one_process(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store.open(config.store_url)
    try:
        a, b = (make_app(config, store, ServiceState(config)) for _ in range(2))
        assert a is not b  # each has its own metrics registry: no duplicate-series error
    finally:
        store.close()


def test_cache_sees_replaced_files(tmp_path: Path) -> None:
    path = tmp_path / "a.atom"
    path.write_bytes(b"one")
    cache = FileCache()
    first = cache.load(path)
    assert cache.get(path, path.stat()) is first
    tmp = tmp_path / "b"
    tmp.write_bytes(b"two")
    os.replace(tmp, path)
    assert cache.get(path, path.stat()) is None
    assert cache.load(path).etag != first.etag
