"""Full text in ``feedhub run`` (issue 15): an entry is published with its teaser at once and
updated when its page arrives; an article host that does not answer holds up neither the
other pages, nor the publishing, nor the other sources. Every wait is a poll with a deadline.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.httpserver import HttpServer, Reply, SeenRequest
from tests.support.service import Service, free_port

PAGES = REPO / ".cache" / "article-pages" / "html"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PAGES / "time_001.html").exists(), reason="run `make pages`"),
]
HTML = {"Content-Type": "text/html; charset=utf-8"}


def rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{title}</title><link>{html.escape(link)}</link><guid>{link}</guid>"
        f"<pubDate>Thu, 02 Nov 2023 1{i}:00:00 GMT</pubDate>"
        f"<description>{html.escape(teaser)}</description></item>"
        for i, (title, link, teaser) in enumerate(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://news.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


@pytest.fixture
def hosts() -> Iterator[tuple[HttpServer, HttpServer]]:
    with HttpServer() as fast, HttpServer(host="127.0.0.2") as slow:
        yield fast, slow


def test_entry_published_with_its_teaser_then_updated_and_a_dead_host_holds_nothing_up(
    tmp_path: Path, hosts: tuple[HttpServer, HttpServer]
) -> None:
    fast, slow = hosts
    release = threading.Event()

    def stuck(_: SeenRequest) -> Reply:
        # This host answers nothing (robots.txt included) until the test lets it: the
        # server's own thread blocks, as a dead host's connection hangs.
        release.wait(60)
        return Reply(body=(PAGES / "wired_001.html").read_bytes(), headers=HTML)

    fast.route("/feed", Reply(body=rss([
        ("Hansen warns", fast.url("/hansen"), "Hansen teaser."),
        ("West Bank surveillance", slow.url("/wired"), "Wired teaser."),
    ])))
    fast.route("/hansen", Reply(body=(PAGES / "time_001.html").read_bytes(), headers=HTML))
    fast.route("/other", Reply(body=rss([("Other one", "https://o.example/1", "Other.")])))
    slow.route("/wired", stuck)
    slow.route("/robots.txt", stuck)
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    config.write_text("\n".join([
        f"site: {{base_url: 'http://127.0.0.1:{port}/'}}",
        "store: data/feedhub.db",
        "output: {dir: feeds}",
        f"server: {{host: 127.0.0.1, port: {port}}}",
        "schedule: {interval: 1s, jitter: 0%}",
        "fetch: {timeout: 60s, allow_private_redirects: true}",
        "sources:",
        f"  - {{name: news, url: '{fast.url('/feed')}', full_text: publish, topics: [all]}}",
        f"  - {{name: other, url: '{fast.url('/other')}', topics: [all]}}",
        "topics:",
        "  - {name: all, title: All}",
    ]) + "\n")
    svc = Service(config, port)
    try:
        svc.ready()
        feed = tmp_path / "feeds" / "all.atom"

        def text() -> str:
            return feed.read_text() if feed.exists() else ""

        # The entries are published (with their teasers), the fast page's text arrives, and
        # the dead host's page and robots.txt are still outstanding meanwhile.
        svc.wait_for("teasers published", lambda: "Wired teaser." in text())
        svc.wait_for("the fast page's text published",
                     lambda: "James Hansen first warned Congress" in text())
        assert "Ahmed Azza was given permission" not in text() and not release.is_set()
        # Other sources go on being fetched on their 1 s interval.
        seen = fast.count("/other")
        svc.wait_for("other source fetched again", lambda: fast.count("/other") > seen + 1)
        updated = re.search(r"<updated>([^<]+)</updated>", text())
        assert updated is not None
        release.set()
        svc.wait_for("the slow page's text published",
                     lambda: "Ahmed Azza was given permission" in text())
        # The feed's updated moved with the text's arrival.
        moved = re.search(r"<updated>([^<]+)</updated>", text())
        assert moved is not None and moved.group(1) > updated.group(1)
        assert slow.count("/wired") == 1 and slow.count("/robots.txt") == 1
    finally:
        release.set()
        svc.stop()
