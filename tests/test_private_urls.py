"""A private feed's URL (a password, a ?token=) is for fetching only: it is never published in
the topic feeds' atom:source, and shown masked in errors and in `feedhub sources`."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedhub.config.env import has_secret, mask_url
from tests.support.httpserver import HttpServer, Reply, redirect
from tests.test_ingest import rss

SECRETS = ("s3cretpw", "TOKEN123", "LOOPSECRET")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:pw@h.example/f", "https://u:***@h.example/f"),
        ("https://h.example/f?token=abc&page=2", "https://h.example/f?token=***&page=2"),
        ("https://gitlab.example/a.atom?feed_token=XyZ", "https://gitlab.example/a.atom?feed_token=***"),
        ("https://h.example/f?x=1&API_KEY=k#top", "https://h.example/f?x=1&API_KEY=***#top"),
        ("https://h.example/f?access-token=q;sig=s", "https://h.example/f?access-token=***;sig=***"),
    ],
)
def test_secrets_in_urls_are_masked(url: str, shown: str) -> None:
    assert has_secret(url)
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url", ["https://h.example/f?monkey=1", "https://h.example/f?keyword=sahel&page=2",
            "https://h.example/token/feed.xml", "https://h.example/f"],
)
def test_ordinary_urls_are_left_alone(url: str) -> None:
    assert not has_secret(url)
    assert mask_url(url) == url


def test_a_private_feed_url_is_fetched_but_never_published_or_printed(tmp_path: Path, cli) -> None:
    with HttpServer() as srv:
        srv.route("/private.xml", Reply(body=rss(2, prefix="private")))
        srv.route("/public.xml", Reply(body=rss(2, prefix="public")))
        srv.route("/loop", redirect("/loop?token=LOOPSECRET"))
        private = srv.url("/private.xml?token=TOKEN123").replace("://", "://reader:s3cretpw@")
        cfg = tmp_path / "feedhub.yaml"
        cfg.write_text(
            "site: {title: T, base_url: 'http://127.0.0.1:8080/'}\n"
            "store: data/feedhub.db\noutput: {dir: feeds}\n"
            "sources:\n"
            f"  - {{name: private, url: '{private}'}}\n"
            f"  - {{name: public, url: '{srv.url('/public.xml')}'}}\n"
            f"  - {{name: looping, url: '{srv.url('/loop')}'}}\n"
            "topics:\n  - {name: all, title: All, sources: [private, public, looping]}\n"
        )
        r = cli("-c", str(cfg), "fetch", "--publish")
        assert r.returncode == 0, r.stderr
        seen = [q for q in srv.requests if q.path == "/private.xml"]
        assert seen and "token=TOKEN123" in seen[0].query  # fetched with its secrets
        assert "looping: redirect loop" in r.stderr and "token=***" in r.stderr
        listing = cli("-c", str(cfg), "sources")
        assert listing.returncode == 0 and "private" in listing.stdout
    published = sorted((tmp_path / "feeds").rglob("*.*"))
    feed = (tmp_path / "feeds" / "all.atom").read_text()
    assert "private 0" in feed and "public 0" in feed  # both sources' entries are there
    assert srv.url("/public.xml") in feed  # a public feed URL is still named in atom:source
    for text in (r.stdout, r.stderr, listing.stdout, listing.stderr,
                 *(p.read_text(errors="replace") for p in published)):
        assert not any(s in text for s in SECRETS)
