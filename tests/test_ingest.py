"""Ingest over real HTTP (a server on 127.0.0.1) into a real SQLite file: each fetch behaviour."""

from __future__ import annotations

import asyncio
import gzip
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feedhub.config import Config, load_config
from feedhub.ingest.run import SourceReport, ingest
from feedhub.store import Store
from feedhub.store.schema import articles, sources
from feedhub.store.sources import source_infos
from tests.support.httpserver import HttpServer, Reply, redirect


def rss(n: int, *, prefix: str = "item", extra: str = "") -> bytes:
    items = "".join(
        f"<item><title>{prefix} {i}</title><link>https://news.example/{prefix}/{i}</link>"
        f"<guid>{prefix}-{i}</guid><pubDate>Mon, 0{1 + i % 9} Apr 2024 10:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Body {i} {extra}&lt;/p&gt;</description></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{prefix} feed</title><link>https://news.example/</link>"
        f"<description>d</description>{items}</channel></rss>"
    ).encode()


def make_config(tmp_path: Path, urls: dict[str, str], **fetch: str) -> Config:
    fetch_yaml = ", ".join(f"{k}: {v}" for k, v in fetch.items())
    lines = [
        "store: data/feedhub.db",
        f"fetch: {{{fetch_yaml}}}" if fetch_yaml else "",
        "schedule: {interval: 1h, jitter: 0%}",
        "sources:",
    ]
    lines += [f"  - {{name: {name}, url: '{url}'}}" for name, url in urls.items()]
    path = tmp_path / "feedhub.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


def run(cfg: Config, names: list[str] | None = None) -> dict[str, SourceReport]:
    store = Store.open(cfg.store_url)
    try:
        return {r.name: r for r in asyncio.run(ingest(cfg, store, names, workers=2))}
    finally:
        store.close()


def state(cfg: Config) -> dict[str, object]:
    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            return {i.name: i for i in source_infos(conn)}
    finally:
        store.close()


def snapshot(cfg: Config) -> list[tuple]:
    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            return list(
                conn.execute(
                    select(
                        sources.c.name,
                        articles.c.guid,
                        articles.c.content_hash,
                        articles.c.published,
                        articles.c.changed,
                    )
                    .join(sources)
                    .order_by(sources.c.name, articles.c.guid)
                )
            )
    finally:
        store.close()


@pytest.fixture
def server():
    with HttpServer() as srv:
        yield srv


def test_conditional_get_304_parses_nothing_and_new_etag_is_stored(tmp_path, server) -> None:
    def feed(req):
        if req.headers.get("If-None-Match") == '"v1"':
            return Reply(status=304, headers={"ETag": '"v1"'})
        return Reply(body=rss(3), headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"})

    server.route("/feed", feed)
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    first = run(cfg)["wire"]
    assert (first.outcome, first.new) == ("updated", 3)
    assert state(cfg)["wire"].state.etag == '"v1"'
    before = snapshot(cfg)
    second = run(cfg)["wire"]
    assert second.outcome == "not-modified" and second.new == 0
    assert server.requests[-1].headers["If-None-Match"] == '"v1"'
    assert snapshot(cfg) == before

    server.route("/feed", Reply(body=rss(4), headers={"ETag": '"v2"'}))
    third = run(cfg)["wire"]
    assert (third.outcome, third.new) == ("updated", 1)
    assert state(cfg)["wire"].state.etag == '"v2"'


def test_unchanged_body_without_validators_is_not_parsed_again(tmp_path, server) -> None:
    server.route("/feed", Reply(body=rss(2)))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    assert run(cfg)["wire"].new == 2
    before = snapshot(cfg)
    assert run(cfg)["wire"].outcome == "unchanged"
    assert snapshot(cfg) == before


def test_permanent_redirect_records_the_new_url(tmp_path, server) -> None:
    server.route("/old", redirect("/new", 301))
    server.route("/new", Reply(body=rss(1)))
    cfg = make_config(tmp_path, {"wire": server.url("/old")})
    assert run(cfg)["wire"].new == 1
    assert state(cfg)["wire"].moved_to == server.url("/new")
    server.reset_stats()
    run(cfg)
    assert server.count("/old") == 0 and server.count("/new") == 1


def test_gone_disables_the_source(tmp_path, server) -> None:
    server.route("/feed", Reply(status=410))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    assert run(cfg)["wire"].outcome == "error"
    info = state(cfg)["wire"]
    assert not info.enabled and "410" in info.disabled_reason
    server.reset_stats()
    assert run(cfg) == {}  # disabled sources are not fetched
    assert server.count() == 0


def test_429_retry_after_moves_next_due(tmp_path, server) -> None:
    server.route("/feed", Reply(status=429, headers={"Retry-After": "7200"}))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    before = datetime.now(UTC)
    report = run(cfg)["wire"]
    assert report.status == 429 and report.error
    info = state(cfg)["wire"]
    assert info.next_due >= before + timedelta(seconds=7200)
    assert info.error_count == 1


def test_failures_stay_on_their_source(tmp_path, server) -> None:
    big = b"<rss>" + b" " * (3 * 1024 * 1024) + b"</rss>"
    server.route("/good", Reply(body=rss(2)))
    server.route("/big-gzip", Reply.gzipped(big))
    server.route("/big", Reply(body=big))
    server.route("/slow", Reply(body=rss(1), delay=5))
    server.route("/reset", Reply(reset=True))
    server.route(
        "/html",
        Reply(
            body=b"<!doctype html><html><body>hi</body></html>",
            headers={"Content-Type": "text/html"},
        ),
    )
    cfg = make_config(
        tmp_path,
        {n: server.url("/" + n) for n in ("good", "big-gzip", "big", "slow", "reset", "html")},
        max_bytes="1MB",
        timeout="1s",
    )
    reports = run(cfg)
    assert reports["good"].new == 2 and reports["good"].error is None
    assert "limit" in reports["big-gzip"].error and "limit" in reports["big"].error
    assert "tim" in reports["slow"].error.lower()
    assert reports["reset"].error
    assert "not a feed" in reports["html"].error
    infos = state(cfg)
    assert infos["good"].article_count == 2
    for name in ("big-gzip", "big", "slow", "reset", "html"):
        assert infos[name].error_count == 1 and infos[name].last_error == reports[name].error


def test_same_sources_twice_leave_the_store_unchanged(tmp_path, server) -> None:
    server.route("/a", Reply(body=rss(5, prefix="a")))
    server.route(
        "/b", Reply(body=gzip.compress(rss(5, prefix="b")), headers={"Content-Encoding": "gzip"})
    )
    cfg = make_config(tmp_path, {"a": server.url("/a"), "b": server.url("/b")})
    run(cfg)
    before = snapshot(cfg)
    assert len(before) == 10
    # Same bytes, but force a re-parse by forgetting the body hashes: still nothing changes.
    store = Store.open(cfg.store_url)
    with store.write() as conn:
        conn.execute(sources.update().values(body_hash=None))
    store.close()
    reports = run(cfg)
    assert all(r.outcome == "unchanged" for r in reports.values())
    assert snapshot(cfg) == before


def test_changed_entry_is_updated_in_place(tmp_path, server) -> None:
    server.route("/feed", Reply(body=rss(2)))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    run(cfg)
    server.route("/feed", Reply(body=rss(2, extra="corrected")))
    report = run(cfg)["wire"]
    assert (report.new, report.updated) == (0, 2)
    store = Store.open(cfg.store_url)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(articles)).scalar() == 2
        contents = [s + c for s, c in conn.execute(select(articles.c.summary, articles.c.content))]
    store.close()
    assert all("corrected" in c for c in contents)


def test_fetch_command_exits_0_and_prints_failures(tmp_path, server, cli) -> None:
    server.route("/good", Reply(body=rss(2)))
    server.route("/bad", Reply(status=500))
    cfg = make_config(tmp_path, {"good": server.url("/good"), "bad": server.url("/bad")})
    r = cli("-c", str(cfg.path), "fetch")
    assert r.returncode == 0, r.stderr
    assert "bad: HTTP 500" in r.stderr and "Traceback" not in r.stderr
    assert "2 new" in r.stdout and "1 failed" in r.stdout
    r = cli("-c", str(cfg.path), "sources")
    assert r.returncode == 0 and "good" in r.stdout and "HTTP 500" in r.stdout
    r = cli("-c", str(cfg.path), "fetch", "--source", "nope")
    assert r.returncode == 2 and "no source named 'nope'" in r.stderr


def test_far_future_and_missing_dates_stay_put_across_fetches(tmp_path, server) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<link>https://news.example/</link><description>d</description>"
        b"<item><title>future</title><link>https://news.example/f</link>"
        b"<pubDate>Sat, 01 Jan 2101 00:00:00 GMT</pubDate></item>"
        b"<item><title>undated</title><link>https://news.example/u</link></item>"
        b"</channel></rss>"
    )
    server.route("/feed", Reply(body=body))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    run(cfg)
    before = snapshot(cfg)
    assert all(row.published.year < 2100 for row in before)
    store = Store.open(cfg.store_url)
    with store.write() as conn:
        conn.execute(sources.update().values(body_hash=None))  # force a re-parse
    store.close()
    assert run(cfg)["wire"].outcome == "unchanged"
    assert snapshot(cfg) == before


FEEDS = Path(__file__).parent / "data" / "feeds"


def test_every_format_and_a_messy_feed_are_stored_clean(tmp_path, server) -> None:
    names = {
        "rss091": "rss091.xml", "rss20": "rss20.xml", "rss10": "rss10.rdf",
        "atom03": "atom03.xml", "atom10": "atom10.xml", "json10": "jsonfeed10.json",
        "json11": "jsonfeed11.json", "messy": "messy.xml",
    }
    for name, file in names.items():
        ctype = "application/feed+json" if file.endswith(".json") else "application/xml"
        server.route(f"/{name}/feed", Reply(body=(FEEDS / file).read_bytes(),
                                            headers={"Content-Type": ctype}))
    cfg = make_config(tmp_path, {n: server.url(f"/{n}/feed") for n in names})
    reports = run(cfg)
    assert all(r.error is None and r.new > 0 for r in reports.values()), reports
    store = Store.open(cfg.store_url)
    with store.read() as conn:
        rows = conn.execute(select(articles, sources.c.name.label("src")).join(sources)).all()
    store.close()
    assert {r.src for r in rows} == set(names)
    for r in rows:
        assert r.url is None or re.match(r"https?://[^/]+\.", r.url), r.url  # absolute, not ours
        assert r.published.tzinfo is not None and r.title
        for field in (r.summary, r.content):
            assert not re.search(r"<script|\son\w+=|javascript:|<!--", field, re.I), field
    messy = {r.title: r for r in rows if r.src == "messy"}
    first = messy["“Café prices” rise to €5"]  # windows-1252 bytes declared as UTF-8
    # A relative RSS item link resolves against the channel's site, not the feed's host.
    assert first.url == "https://www.messynews.example/news/story-1.html"
    assert first.guid == first.url  # no guid: the link is the identity
    assert "https://www.messynews.example/news/img/cup.jpg" in first.summary + first.content
    assert first.published == first.first_seen  # no date: first-seen time
    assert "Second story on two lines" in messy
    scripted = messy["Scripted link"]
    assert scripted.url is None


def test_retention_deletes_old_articles_and_tombstones_keep_them_away(tmp_path, server, cli):
    old = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<link>https://news.example/</link><description>d</description>"
        b"<item><title>old</title><link>https://news.example/old</link>"
        b"<pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>"
        b"<item><title>fresh</title><link>https://news.example/fresh</link></item>"
        b"</channel></rss>"
    )
    server.route("/feed", Reply(body=old))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    cfg.path.write_text(cfg.path.read_text() + "retention: {max_age: 30d}\n")
    run(cfg)
    store = Store.open(cfg.store_url)
    with store.write() as conn:  # as if first seen a year ago
        conn.execute(
            articles.update()
            .where(articles.c.title == "old")
            .values(first_seen=datetime(2024, 1, 2, tzinfo=UTC))
        )
        conn.execute(sources.update().values(body_hash=None))
    store.close()
    r = cli("-c", str(cfg.path), "prune")
    assert r.returncode == 0 and "deleted 1 articles" in r.stdout, r.stdout + r.stderr
    run(load_config(cfg.path))  # the source still lists it
    assert [row.guid for row in snapshot(cfg)] == ["https://news.example/fresh"]


def test_related_command_finds_an_article_by_id_url_or_canonical_url(
    tmp_path, server, cli
) -> None:
    server.route("/feed", Reply(body=rss(2)))
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    run(cfg)
    store = Store.open(cfg.store_url)
    with store.read() as conn:
        rows = conn.execute(select(articles.c.id, articles.c.title, articles.c.url)).all()
    store.close()
    first = min(rows)
    for key in (str(first.id), first.url, first.url + "?utm_source=x"):  # the last: canonical
        r = cli("-c", str(cfg.path), "related", key)
        assert r.returncode == 0 and r.stdout.startswith(f"{first.id}  {first.title}  ("), (
            key, r.stdout + r.stderr
        )
    r = cli("-c", str(cfg.path), "related", "https://elsewhere.example/none")
    assert r.returncode == 2 and "no stored article with id or URL" in r.stderr


def _store_rows(cfg: Config) -> dict[str, object]:
    """What the write transaction derives per article, keyed by guid (ids differ by run)."""
    from feedhub.store.dedupe import dedupe_features, dedupe_keys
    from feedhub.store.schema import article_topics

    store = Store.open(cfg.store_url)
    try:
        with store.read() as conn:
            guid = dict(conn.execute(select(articles.c.id, articles.c.guid)).all())
            return {
                "articles": sorted(
                    (r.guid, r.canonical_url, r.content_hash, r.published, guid[r.cluster_id])
                    for r in conn.execute(select(articles))
                ),
                "topics": sorted((guid[i], t) for i, t in conn.execute(select(article_topics))),
                "features": sorted(
                    (guid[r.article_id], r.url_key, r.fingerprint, r.shingles, r.keys, r.published)
                    for r in conn.execute(select(dedupe_features))
                ),
                "keys": sorted((k, guid[i]) for k, i in conn.execute(select(dedupe_keys))),
            }
    finally:
        store.close()


def test_work_done_beside_the_parse_gives_what_the_writer_computes(
    tmp_path, server, monkeypatch
) -> None:
    """Canonical URLs, hashes, dedupe features and topics made in the parse worker must
    store exactly what the write transaction computes itself when it is not given them."""
    import feedhub.ingest.worker as worker

    copy = "Shared wire copy about the Niger ferry " + " ".join(f"w{i}" for i in range(60))
    for name in ("a", "b"):
        server.route(f"/{name}", Reply(body=rss(6, prefix=name, extra=copy)))
    results = []
    for beside_the_parse in (True, False):
        d = tmp_path / str(beside_the_parse)
        d.mkdir()
        path = d / "feedhub.yaml"
        path.write_text(
            "store: data/feedhub.db\nschedule: {interval: 1h, jitter: 0%}\nsources:\n"
            f"  - {{name: a, url: '{server.url('/a')}', topics: [wire]}}\n"
            f"  - {{name: b, url: '{server.url('/b')}'}}\n"
            "topics:\n  - {name: niger, title: Niger, keywords: [Niger]}\n"
            "  - {name: wire, title: Wire, keywords: [nothing-matches-this]}\n"
        )
        cfg = load_config(path)
        with monkeypatch.context() as m:
            if not beside_the_parse:
                m.setattr(worker, "prepare_articles", lambda *a, **k: worker.Prepared())
            run(cfg, ["a"])
            run(cfg, ["b"])
        results.append(_store_rows(cfg))
    prepared, written = results
    assert prepared == written
    assert {t for _, t in prepared["topics"]} == {"niger", "wire"}
    clusters = {cluster for *_, cluster in prepared["articles"]}
    assert len(clusters) < len(prepared["articles"])  # the copies were merged


def test_a_run_where_nothing_needs_parsing_starts_no_parse_workers(
    tmp_path, server, monkeypatch
) -> None:
    import feedhub.ingest.pool as pool

    started = []
    real_pool = pool.parse_pool
    monkeypatch.setattr(
        pool, "parse_pool", lambda *a, **k: started.append(1) or real_pool(*a, **k)
    )

    def feed(req):
        if req.headers.get("If-None-Match") == '"v1"':
            return Reply(status=304, headers={"ETag": '"v1"'})
        return Reply(body=rss(3), headers={"ETag": '"v1"'})

    server.route("/feed", feed)
    cfg = make_config(tmp_path, {"wire": server.url("/feed")})
    assert run(cfg)["wire"].new == 3
    assert started == [1]  # a source never parsed: the pool is forked up front
    assert run(cfg)["wire"].outcome == "not-modified"
    assert started == [1]  # every source answered 304: no worker was forked
    server.route("/feed", Reply(body=rss(4), headers={"ETag": '"v2"'}))
    assert run(cfg)["wire"].new == 1  # a body to parse after all: forked on demand
    assert started == [1, 1]


def test_parse_workers_are_forked_up_front_only_for_a_new_store(tmp_path) -> None:
    from feedhub.ingest.pool import prestart

    new = tmp_path / "new.db"
    pool = prestart(f"sqlite:///{new}", 2)
    try:
        assert pool is not None and pool.submit(pow, 2, 5).result(timeout=30) == 32
    finally:
        if pool is not None:
            pool.shutdown()
    new.write_bytes(b"")  # the store exists: the runner decides when it knows
    assert prestart(f"sqlite:///{new}", 2) is None
    assert prestart(f"sqlite:///{tmp_path / 'other.db'}", 1) is None  # one process: none
    assert prestart("postgresql://postgres@127.0.0.1/feedhub", 2) is None
