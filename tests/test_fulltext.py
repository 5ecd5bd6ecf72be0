"""Full text of article pages (issue 15), end to end: a feed and its article pages served
from 127.0.0.1, ingested into a real SQLite store, published to real files.

The pages are real news pages (newspaper4k's test data, MIT, unpacked into .cache by
`make pages`); the bad pages are those pages damaged the way real sites damage them, or
real pages that hold no article (home pages).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from feedhub.config import Config, load_config
from feedhub.fetch import FetchSettings, HttpFetcher
from feedhub.ingest.pages import retryable
from feedhub.ingest.run import Ingester, fetch_pages, ingest
from feedhub.model import FetchResult
from feedhub.pipeline import publish
from feedhub.related import semantic
from feedhub.related.text import lead_text
from feedhub.related.vectors import body_text, embed
from feedhub.retention import prune
from feedhub.store import Store
from feedhub.store import vectors as vdb
from feedhub.store.pages import article_pages, page_stats
from feedhub.store.related import read_articles
from feedhub.store.schema import article_topics, articles
from feedhub.util.text import html_to_text
from tests.conftest import REPO
from tests.support.httpserver import HttpServer, Reply, redirect

PAGES = REPO / ".cache" / "article-pages" / "html"
pytestmark = pytest.mark.skipif(
    not (PAGES / "time_001.html").exists(), reason="run `make pages` (the real article pages)"
)
TEASER = "James Hansen has a new warning about how fast the planet is heating up."
HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(name: str) -> bytes:
    return (PAGES / f"{name}.html").read_bytes()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """A feed of (guid, link, teaser) items."""
    body = "".join(
        f"<item><title>Story {guid}</title><link>{html.escape(link)}</link><guid>{guid}</guid>"
        f"<pubDate>Thu, 02 Nov 2023 1{i}:00:00 GMT</pubDate>"
        f"<description>{html.escape(teaser)}</description></item>"
        for i, (guid, link, teaser) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://news.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


def make_config(
    tmp_path: Path, sources: dict[str, tuple[str, str]], *, topics: str = "", **fetch: object
) -> Config:
    """``sources``: name → (feed URL, full_text mode)."""
    settings = {"allow_private_redirects": "true", "timeout": "10s", "page_backoff": "0.05s",
                **fetch}
    lines = [
        "store: data/feedhub.db",
        "output: {dir: out}",
        "fetch: {" + ", ".join(f"{k}: {v}" for k, v in settings.items()) + "}",
        "schedule: {interval: 1h, jitter: 0%}",
        "sources:",
        *(f"  - {{name: {n}, url: '{u}', full_text: {m}}}" for n, (u, m) in sources.items()),
    ]
    if topics:
        lines.append(topics)
    path = tmp_path / "feedhub.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


def run_ingest(cfg: Config) -> None:
    store = Store.open(cfg.store_url)
    try:
        asyncio.run(ingest(cfg, store, workers=1))
    finally:
        store.close()


def rows(cfg: Config) -> dict[str, dict[str, object]]:
    """guid → the article's stored columns plus its page row (``page_*``)."""
    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            a, p = articles.c, article_pages.c
            q = select(
                a.guid, a.summary, a.content, a.updated, a.authors, p.state, p.error, p.chars
            ).outerjoin(article_pages, p.article_id == a.id)
            return {
                r.guid: {
                    "summary": r.summary, "content": r.content, "updated": r.updated,
                    "authors": r.authors, "page_state": r.state, "page_error": r.error,
                    "page_chars": r.chars,
                }
                for r in conn.execute(q)
            }
    finally:
        store.close()


def stats(cfg: Config) -> dict[str, object]:
    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            return dict(page_stats(conn))
    finally:
        store.close()


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as srv:
        yield srv


def one_source(server: HttpServer, tmp_path: Path, mode: str, reply: Reply, **fetch: object
               ) -> Config:
    server.route("/feed", Reply(body=rss([("a1", server.url("/story"), TEASER)])))
    server.route("/story", reply)
    return make_config(tmp_path, {"news": (server.url("/feed"), mode)}, **fetch)


# -- the modes ----------------------------------------------------------------------------


def test_off_fetches_no_page(server: HttpServer, tmp_path: Path) -> None:
    cfg = one_source(server, tmp_path, "off", Reply(body=page("time_001"), headers=HTML))
    run_ingest(cfg)
    assert server.count("/story") == 0 and server.count("/robots.txt") == 0
    row = rows(cfg)["a1"]
    assert row["content"] == "" and TEASER in str(row["summary"]) and row["page_state"] is None


def test_publish_makes_the_page_the_content_and_keeps_the_teaser(
    server: HttpServer, tmp_path: Path
) -> None:
    cfg = one_source(server, tmp_path, "publish", Reply(body=page("time_001"), headers=HTML))
    run_ingest(cfg)
    row = rows(cfg)["a1"]
    assert row["page_state"] == "done" and server.count("/story") == 1
    content = str(row["content"])
    assert "James Hansen first warned Congress of the threat from climate change in 1988" in (
        content
    )
    assert "<script" not in content and "<nav" not in content  # sanitized, no page chrome
    assert TEASER in str(row["summary"])  # the feed's teaser stays the summary
    assert row["authors"] == ["Alejandro de la Garza"]  # the page's byline: the feed had none
    assert stats(cfg)["news"].full_text == 1


def test_analyze_feeds_topics_but_publishes_the_feeds_content(
    server: HttpServer, tmp_path: Path
) -> None:
    # "geoengineering" is in the article page, not in the feed's title or teaser.
    topics = "topics:\n  - {name: geo, title: Geo, keywords: [geoengineering]}"
    cfg = one_source(
        server, tmp_path, "analyze", Reply(body=page("time_001"), headers=HTML)
    )
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "analyze")}, topics=topics)
    run_ingest(cfg)
    row = rows(cfg)["a1"]
    assert row["page_state"] == "done" and int(row["page_chars"]) > 3000  # type: ignore[arg-type]
    assert row["content"] == ""  # the entry keeps the feed's own content
    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            filed = set(conn.execute(select(article_topics.c.topic)).scalars())
    finally:
        store.close()
    assert filed == {"geo"}
    publish(cfg, Store.open(cfg.store_url))
    atom = (cfg.output_dir / "geo.atom").read_text()
    assert TEASER in atom and "first warned Congress" not in atom


def test_the_text_vector_is_the_pages_not_the_teasers(server: HttpServer, tmp_path: Path
                                                      ) -> None:
    # The parse worker embeds the feed's teaser; Related News and stories must compare the
    # article the page holds, as its term vector does.
    cfg = one_source(server, tmp_path, "analyze", Reply(body=page("time_001"), headers=HTML))
    run_ingest(cfg)
    store = Store.open(cfg.store_url)
    try:
        publish(cfg, store)
        with store.read() as conn:
            (doc,) = read_articles(conn, [rows_ids(conn)["a1"]]).values()
            stored = vdb.read_vectors(conn, [doc.id], semantic.MODEL_ID)[doc.id]
    finally:
        store.close()
    assert "first warned Congress" in body_text(doc)  # the page's text, not the teaser
    # The page's text as the body, the feed's teaser as its lead (issue 15: a fixed share).
    assert doc.page
    made = embed(doc.title, doc.summary, doc.content, doc.page)
    assert made is not None and stored.words == made[1] > 300
    assert stored.vec == semantic.to_blob(made[0])
    assert lead_text(html_to_text(doc.summary), html_to_text(doc.content)) != ""
    teaser = semantic.embed_article(doc.title, TEASER)
    assert teaser is not None and stored.words != teaser[1]


def rows_ids(conn: Connection) -> dict[str, int]:
    return {guid: aid for guid, aid in conn.execute(select(articles.c.guid, articles.c.id))}


def test_publish_updates_the_entry_when_the_text_arrives_and_only_then(
    server: HttpServer, tmp_path: Path
) -> None:
    topics = "topics:\n  - {name: all, title: All, sources: [news]}"
    server.route("/feed", Reply(body=rss([("a1", server.url("/story"), TEASER)])))
    server.route("/story", Reply(body=page("time_001"), headers=HTML))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")}, topics=topics)
    store = Store.open(cfg.store_url)
    try:
        # Ingest alone: the entry is stored (and published) with its teaser; the page waits.
        asyncio.run(Ingester(cfg, store).run())
        assert rows(cfg)["a1"]["page_state"] == "pending" and server.count("/story") == 0
        publish(cfg, store)
        feed = cfg.output_dir / "all.atom"
        before = feed.read_text()
        assert TEASER in before
        updated = re.search(r"<updated>([^<]+)</updated>", before)
        assert updated is not None
        asyncio.run(fetch_pages(cfg, store, None, ["news"]))
        publish(cfg, store)
        after = feed.read_text()
        assert "first warned Congress" in after
        moved = re.search(r"<updated>([^<]+)</updated>", after)
        assert moved is not None and moved.group(1) > updated.group(1)
        # Nothing new: the feed (its updated included) stays byte for byte.
        run_ingest(cfg)
        publish(cfg, store)
        assert feed.read_text() == after
        assert server.count("/story") == 1  # fetched once for the article
    finally:
        store.close()


# -- bad pages ----------------------------------------------------------------------------


def damaged(name: str, body_html: str) -> bytes:
    """A real page with its <body> replaced (its head, scripts and styles kept)."""
    raw = page(name).decode("utf-8", "replace")
    head = raw[: raw.lower().index("<body")]
    return (head + f"<body>{body_html}</body></html>").encode()


PAYWALL = damaged(
    "time_001",
    "<header><a href='/'>TIME</a></header><article><h1>James Hansen's new climate warning</h1>"
    "<p>James Hansen has a new warning.</p><div class='paywall'><p>Subscribe to continue "
    "reading. Already a subscriber? Sign in.</p></div></article>",
)
COOKIE_WALL = damaged(
    "cnn_article",
    "<div id='consent'><h2>We value your privacy</h2><p>We and our 842 partners use cookies "
    "and similar technologies to store and access information on your device, for "
    "personalised advertising and content, measurement, audience research and services "
    "development. With your permission we and our partners may use precise geolocation "
    "data and identification through device scanning. You may click to consent to our and "
    "our partners' processing as described above. Alternatively you may access more "
    "detailed information and change your preferences before consenting or refuse to "
    "consent.</p><button>Accept all</button><button>Reject all</button>"
    "<a href='/privacy'>Privacy settings</a></div>",
)
LOGIN = damaged(
    "wired_001",
    "<main><h1>Sign in to WIRED</h1><p>Sign in or create an account to keep reading. Your "
    "subscription gives you unlimited access to WIRED.com and the magazine, plus exclusive "
    "subscriber-only content, newsletters and events, for one low price.</p><form "
    "action='/login'><label>Email address<input name='email'></label><label>Password<input "
    "type='password' name='password'></label><button>Sign in</button></form><p>Forgot your "
    "password? Reset it here. New to WIRED? Create an account to start your subscription "
    "today and read every story on the site, in the apps and in print.</p></main>",
)
LONG_TEASER = " ".join(["A long feed summary that already tells the whole story."] * 150)


@pytest.mark.parametrize(
    ("case", "reply", "teaser", "error"),
    [
        ("404", Reply(status=404, body=b"<h1>Not Found</h1>", headers=HTML), TEASER,
         "HTTP 404 Not Found"),
        ("paywall stub", Reply(body=PAYWALL, headers=HTML), TEASER, "no article found"),
        ("cookie wall", Reply(body=COOKIE_WALL, headers=HTML), TEASER, "boilerplate"),
        ("home page, no article", Reply(body=page("yahoo_main_site"), headers=HTML), TEASER,
         "no article found"),
        ("PDF", Reply(body=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n" * 50,
                      headers={"Content-Type": "application/pdf"}), TEASER,
         "not an HTML page (a PDF)"),
        ("50 MB page", Reply(body=b"<p>" + b"x" * 65536 + b"</p>", endless=True,
                             content_length=50 * 1024 * 1024, headers=HTML), TEASER,
         "exceeds 10 MB limit"),
        ("redirect to a login page", redirect("/login"), TEASER, "boilerplate"),
        ("text shorter than the teaser", Reply(body=page("time_001"), headers=HTML),
         LONG_TEASER, "no longer than the teaser"),
    ],
)
def test_a_bad_page_keeps_the_teaser_with_one_log_line(
    server: HttpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
    reply: Reply,
    teaser: str,
    error: str,
) -> None:
    server.route("/feed", Reply(body=rss([("a1", server.url("/story"), teaser)])))
    server.route("/story", reply)
    server.route("/login", Reply(body=LOGIN, headers=HTML))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")})
    with caplog.at_level(logging.WARNING, logger="feedhub.pages"):
        run_ingest(cfg)
    row = rows(cfg)["a1"]
    assert row["content"] == "" and teaser[:60] in str(row["summary"])  # the teaser stays
    assert row["page_state"] == "failed" and error in str(row["page_error"]), row["page_error"]
    lines = [r for r in caplog.records if r.name == "feedhub.pages"]
    assert len(lines) == 1 and error in lines[0].getMessage()
    s = stats(cfg)["news"]
    assert (s.full_text, s.failed) == (0, 1) and error in str(s.last_error)
    assert server.count("/story") == 1  # a permanent failure is not retried


def test_a_page_in_another_encoding_is_read_in_its_own(server: HttpServer, tmp_path: Path
                                                        ) -> None:
    # The Spanish page re-encoded to ISO-8859-1, said by the HTTP header only (first source:
    # its <meta> still says UTF-8, and the header wins) or by the page's <meta> only (second);
    # a UTF-8 reading would garble every accent.
    raw = page("spanish_article").decode("utf-8")
    latin = re.sub(r'charset=["\']?utf-8', "charset=iso-8859-1", raw, flags=re.I)
    assert latin != raw
    server.route("/feed", Reply(body=rss([("h", server.url("/h"), TEASER),
                                          ("m", server.url("/m"), TEASER)])))
    server.route("/h", Reply(body=raw.encode("iso-8859-1", "xmlcharrefreplace"),
                             headers={"Content-Type": "text/html; charset=latin-1"}))
    server.route("/m", Reply(body=latin.encode("iso-8859-1", "xmlcharrefreplace"),
                             headers={"Content-Type": "text/html"}))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")})
    run_ingest(cfg)
    for guid in ("h", "m"):
        content = str(rows(cfg)[guid]["content"])
        assert "Anticorrupción decidirá en Madrid si recurre la imputación" in content, guid


def test_sources_shows_full_text_counts_and_the_last_error(
    server: HttpServer, tmp_path: Path, cli
) -> None:
    server.route("/feed", Reply(body=rss([("ok", server.url("/ok"), TEASER),
                                          ("gone", server.url("/gone"), TEASER)])))
    server.route("/ok", Reply(body=page("time_001"), headers=HTML))
    server.route("/gone", Reply(status=404))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "analyze")})
    run_ingest(cfg)
    out = cli("-c", str(cfg.path), "sources", "--json")
    assert out.returncode == 0, out.stderr
    [src] = json.loads(out.stdout)
    assert src["full_text"] == {"mode": "analyze", "articles": 1, "failed": 1, "pending": 0,
                                "last_error": "HTTP 404 Not Found"}
    table = cli("-c", str(cfg.path), "sources")
    assert "full text" in table.stdout and "1, 1 failed (analyze)" in table.stdout
    assert "full text: HTTP 404 Not Found" in table.stdout


# -- politeness ---------------------------------------------------------------------------


def test_one_request_per_host_at_a_time_and_each_page_once(
    server: HttpServer, tmp_path: Path
) -> None:
    items = [(f"p{i}", server.url(f"/p{i}"), TEASER) for i in range(5)]
    server.route("/feed", Reply(body=rss(items)))
    for i in range(5):
        # Slow pages: concurrent requests would overlap.
        server.route(f"/p{i}", Reply(body=page("time_001"), headers=HTML, delay=0.2))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")})
    run_ingest(cfg)
    assert server.max_active == 1  # pages_per_host: 1 (the robots.txt request included)
    assert [server.count(f"/p{i}") for i in range(5)] == [1] * 5
    assert server.count("/robots.txt") == 1  # once per host
    run_ingest(cfg)  # the feed is unchanged: no page is fetched again
    assert [server.count(f"/p{i}") for i in range(5)] == [1] * 5
    # A changed entry may have a changed page: fetched again, once.
    items[0] = ("p0", server.url("/p0"), TEASER + " Updated.")
    server.route("/feed", Reply(body=rss(items)))
    run_ingest(cfg)
    assert [server.count(f"/p{i}") for i in range(5)] == [2, 1, 1, 1, 1]


def test_per_host_limit_is_a_setting(server: HttpServer, tmp_path: Path) -> None:
    items = [(f"p{i}", server.url(f"/p{i}"), TEASER) for i in range(4)]
    server.route("/feed", Reply(body=rss(items)))
    for i in range(4):
        # Slow answers: the four requests are sent at once, two at a time get through.
        server.route(f"/p{i}", Reply(body=page("time_001"), headers=HTML, delay=1.5))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")}, pages_per_host=2,
                      robots_txt="false")
    run_ingest(cfg)
    assert 1 < server.max_active <= 2


def test_robots_txt_is_honoured_and_can_be_turned_off(
    server: HttpServer, tmp_path: Path
) -> None:
    items = [("open", server.url("/news/open"), TEASER), ("closed", server.url("/private/x"),
                                                          TEASER)]
    server.route("/feed", Reply(body=rss(items)))
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n"))
    for path in ("/news/open", "/private/x"):
        server.route(path, Reply(body=page("time_001"), headers=HTML))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")})
    run_ingest(cfg)
    got = rows(cfg)
    assert got["open"]["page_state"] == "done"
    assert got["closed"]["page_state"] == "failed"
    assert got["closed"]["page_error"] == "disallowed by robots.txt"
    assert server.count("/private/x") == 0 and server.count("/robots.txt") == 1

    server.reset_stats()
    off = tmp_path / "off"
    off.mkdir()
    cfg = make_config(off, {"news": (server.url("/feed"), "publish")}, robots_txt="false")
    run_ingest(cfg)
    assert rows(cfg)["closed"]["page_state"] == "done"
    assert server.count("/robots.txt") == 0 and server.count("/private/x") == 1


def test_robots_txt_names_feedhub(server: HttpServer, tmp_path: Path) -> None:
    server.route("/feed", Reply(body=rss([("a1", server.url("/story"), TEASER)])))
    server.route("/robots.txt", Reply(body=b"User-agent: feedhub\nDisallow: /\n\n"
                                           b"User-agent: *\nAllow: /\n"))
    server.route("/story", Reply(body=page("time_001"), headers=HTML))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")})
    run_ingest(cfg)
    assert rows(cfg)["a1"]["page_error"] == "disallowed by robots.txt"
    assert server.count("/story") == 0


def test_failures_that_may_pass_are_retried_a_bounded_number_of_times(
    server: HttpServer, tmp_path: Path
) -> None:
    calls = {"flaky": 0}

    def flaky(_: object) -> Reply:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            return Reply(status=503)
        return Reply(body=page("time_001"), headers=HTML)

    items = [("flaky", server.url("/flaky"), TEASER), ("down", server.url("/down"), TEASER)]
    server.route("/feed", Reply(body=rss(items)))
    server.route("/flaky", flaky)
    server.route("/down", Reply(status=503))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")}, page_retries=2)
    run_ingest(cfg)
    got = rows(cfg)
    assert got["flaky"]["page_state"] == "done" and server.count("/flaky") == 3
    assert got["down"]["page_state"] == "failed" and server.count("/down") == 3  # 1 + 2 retries
    assert got["down"]["page_error"] == "HTTP 503 Service Unavailable"


def test_pages_per_source_caps_the_pages_of_one_ingest(server: HttpServer, tmp_path: Path
                                                        ) -> None:
    items = [(f"p{i}", server.url(f"/p{i}"), TEASER) for i in range(4)]
    server.route("/feed", Reply(body=rss(items)))
    for i in range(4):
        server.route(f"/p{i}", Reply(body=page("time_001"), headers=HTML))
    cfg = make_config(tmp_path, {"news": (server.url("/feed"), "publish")}, pages_per_source=2)
    run_ingest(cfg)
    assert sum(server.count(f"/p{i}") for i in range(4)) == 2


def test_a_page_on_a_private_address_is_refused_on_the_first_hop(server: HttpServer) -> None:
    # The page's URL comes from a feed: unlike a configured feed URL, its first hop is
    # guarded too. 127.0.0.1 counts as private here (the test narrows the private networks).
    server.route("/story", Reply(body=page("time_001"), headers=HTML))

    async def go(as_page: bool) -> str | None:
        settings = FetchSettings(private_networks=(ip_network("127.0.0.1/32"),))
        async with HttpFetcher(settings) as f:
            return (await f.fetch(server.url("/story"), page=as_page)).error

    assert asyncio.run(go(False)) is None  # a feed the operator configured
    error = asyncio.run(go(True))
    assert error is not None and "refused" in error and server.count("/story") == 1


def test_no_answer_is_retried_and_a_refusal_by_the_guard_is_not(server: HttpServer) -> None:
    # A host that refuses connections (restarting, say) may answer later; the SSRF guard's
    # refusal would refuse again. Both errors say "refused": the decision must not read text.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once the socket is closed

    async def go(url: str, private: str) -> FetchResult:
        settings = FetchSettings(private_networks=(ip_network(private),))
        async with HttpFetcher(settings) as f:
            return await f.fetch(url, page=True)

    down = asyncio.run(go(f"http://127.0.0.1:{closed}/story", "10.0.0.0/8"))
    assert down.error is not None and "Connection refused" in down.error
    assert retryable(down)
    guarded = asyncio.run(go(server.url("/story"), "127.0.0.1/32"))
    assert guarded.error is not None and "private address refused" in guarded.error
    assert not retryable(guarded)


# -- storage ------------------------------------------------------------------------------


def test_retention_removes_the_text_with_the_article(server: HttpServer, tmp_path: Path
                                                      ) -> None:
    cfg = one_source(server, tmp_path, "publish", Reply(body=page("time_001"), headers=HTML))
    run_ingest(cfg)
    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            assert conn.execute(select(article_pages.c.article_id)).all() != []
        later = datetime.now(UTC) + cfg.file.retention.max_age + timedelta(days=1)
        assert prune(cfg, store, later) == 1
        with store.read() as conn:
            assert conn.execute(select(article_pages.c.article_id)).all() == []
    finally:
        store.close()


@pytest.mark.postgres
def test_two_workers_never_claim_the_same_page_on_postgresql(pg_engine) -> None:
    from sqlalchemy import insert

    from feedhub.store.pages import claim_pages, queue_pages
    from feedhub.store.schema import sources

    now = datetime.now(UTC)
    with pg_engine.begin() as conn:
        sid = conn.execute(insert(sources).values(
            name="s", url="http://x.example/", kind="http", position=0)).inserted_primary_key[0]
        ids = [conn.execute(insert(articles).values(
            source_id=sid, guid=f"g{i}", title="t", published=now, updated=now,
            first_seen=now, changed=now, content_hash="h")).inserted_primary_key[0]
            for i in range(4)]
        queue_pages(conn, [(i, sid, f"http://x.example/{i}") for i in ids])
    until = now + timedelta(minutes=5)
    with pg_engine.connect() as one, pg_engine.connect() as two:
        first = claim_pages(one, now, until, 2)  # its transaction is still open
        second = claim_pages(two, now, until, 10)
        one.commit()
        two.commit()
        third = claim_pages(one, now, until, 10)  # every page is claimed now
        one.commit()
    got = [j.article_id for j in first] + [j.article_id for j in second]
    assert sorted(got) == sorted(ids) and third == []


def test_a_claim_that_never_ends_is_bounded_and_a_stopped_runner_hands_back(
    tmp_path: Path,
) -> None:
    from sqlalchemy import insert

    from feedhub.store.pages import MAX_CLAIMS, claim_pages, queue_pages, release_pages
    from feedhub.store.schema import sources

    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    now = datetime.now(UTC)
    lease = timedelta(minutes=10)
    try:
        with store.write() as conn:
            sid = conn.execute(insert(sources).values(
                name="s", url="http://x.example/", kind="http", position=0)
            ).inserted_primary_key[0]
            ids = [conn.execute(insert(articles).values(
                source_id=sid, guid=f"g{i}", title="t", published=now, updated=now,
                first_seen=now, changed=now, content_hash="h")).inserted_primary_key[0]
                for i in range(2)]
            queue_pages(conn, [(i, sid, f"http://x.example/{i}") for i in ids])
            # Handed back: claimable again at once.
            assert [j.article_id for j in claim_pages(conn, now, now + lease, 1)] == ids[:1]
            release_pages(conn, ids[:1])
            assert [j.article_id for j in claim_pages(conn, now, now + lease, 1)] == ids[:1]
            # A claim that runs out is taken again, MAX_CLAIMS times, then the page failed.
            t = now
            for _ in range(MAX_CLAIMS - 2):
                t += lease * 2
                assert ids[0] in [j.article_id for j in claim_pages(conn, t, t + lease, 5)]
            t += lease * 2
            assert ids[0] not in [j.article_id for j in claim_pages(conn, t, t + lease, 5)]
            row = conn.execute(select(article_pages.c.state, article_pages.c.error).where(
                article_pages.c.article_id == ids[0])).one()
        assert row.state == "failed" and str(MAX_CLAIMS) in row.error
    finally:
        store.close()
