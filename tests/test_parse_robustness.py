"""Messy feeds, non-feeds, entity bombs and oversized fields."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.model import ParseError
from feedhub.parse import parse_feed
from feedhub.parse.normalize import HTML_MAX, TITLE_MAX

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
MESSY_URL = "https://cdn.feedhost.example/messy/feed.xml"  # not the site's host
_TAG = re.compile(r"<[^>]*>")
_BAD_TAG = re.compile(
    r"^</?\s*(?:script|style|iframe|object|embed|form)\b|\son\w+\s*="
    r"|(?:href|src)\s*=\s*[\"']?\s*(?:javascript|data|vbscript):",
    re.IGNORECASE,
)


def unsafe(html: str) -> bool:
    """True when published HTML carries a comment, a dangerous tag, handler or URL."""
    return "<!--" in html or any(_BAD_TAG.search(tag) for tag in _TAG.findall(html))


def test_unsafe_detector_detects() -> None:
    assert unsafe('<a href="javascript:x()">') and unsafe("<p onclick='x'>")
    assert unsafe("<!--[if IE]>") and unsafe("<script>")
    assert not unsafe("<p>metadata: onion=1 &lt;script&gt;</p>")


def rss(items: str, channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://site.example/</link>{channel}{items}</channel></rss>"
    ).encode()


def test_messy_feed() -> None:
    feed = parse_feed((FEEDS / "messy.xml").read_bytes(), url=MESSY_URL, now=NOW)
    # Declared UTF-8 but written in windows-1252: read correctly, with a warning.
    assert feed.title == "Messy News – café edition"
    assert feed.warning is not None and "windows-1252" in feed.warning
    assert "\n" not in feed.warning
    first, second, scripted, untitled = feed.articles
    assert first.title == "“Café prices” rise to €5"
    # Relative item links resolve against the channel <link>, not the feed file's host.
    assert first.url == "https://www.messynews.example/news/story-1.html"
    assert second.url == "https://www.messynews.example/world/story-2.html"
    assert first.guid == first.url  # no guids: the link is the identity
    assert first.published is None and first.updated is None  # no dates
    assert first.summary == (
        '<p>Prices <b>rose</b>.</p><img src="https://www.messynews.example/news/img/cup.jpg">'
        '<a rel="noopener noreferrer">click</a>'
    )
    assert second.title == "Second story on two lines"
    # A javascript: link is dropped; identity falls back to a hash of title + content.
    assert scripted.url is None
    assert re.fullmatch(r"sha1:[0-9a-f]{40}", scripted.guid)
    assert untitled.title == "No title and no link: only this description text."
    assert untitled.guid.startswith("sha1:") and untitled.guid != scripted.guid
    for article in feed.articles:
        assert not unsafe(article.summary + article.content)


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed((FEEDS / "page.html").read_bytes(), url="https://x.example/", now=NOW)


def test_well_formed_html_page_is_not_a_feed() -> None:
    # feedparser reports bozo=False and 0 entries for this one: only `version` tells.
    body = b"<html><head><title>Hi</title></head><body><p>Hello</p></body></html>"
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed(body, url="https://x.example/", content_type="text/html", now=NOW)


@pytest.mark.parametrize("body", [b"", b"   \r\n\t", b"\xef\xbb\xbf  \n"])
def test_empty_body(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty body"):
        parse_feed(body, url="https://x.example/feed", now=NOW)


def test_png_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="PNG image"):
        parse_feed((FEEDS / "pixel.png").read_bytes(), url="https://x.example/f", now=NOW)


def test_image_content_type_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="image/webp"):
        parse_feed(b"RIFF....WEBP", url="https://x.example/f", content_type="image/webp", now=NOW)


@pytest.mark.parametrize(
    "body", [b"\x00\x01\x02 garbage \xff\xfe", b"just some text", b"<notafeed><x/></notafeed>"]
)
def test_garbage_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(body, url="https://x.example/f", now=NOW)
    assert "\n" not in str(info.value) and str(info.value)


def test_entity_bomb_is_defused() -> None:
    """feedparser would expand this 558-byte document to 1,000,000-character fields."""
    body = (FEEDS / "entities.xml").read_bytes()
    start = time.perf_counter()
    feed = parse_feed(body, url="https://bomb.example/rss", now=NOW)
    assert time.perf_counter() - start < 2
    assert len(feed.title) <= TITLE_MAX
    (article,) = feed.articles
    assert article.url == "https://bomb.example/1"
    assert "aaaaaaaaaa" not in article.title + article.summary + article.guid
    assert all(len(c) <= 200 for c in article.categories + article.authors)


def test_flat_entity_amplification_is_defused() -> None:
    # One "safe" entity referenced many times: 40 KB became 100,000,000 characters in
    # feedparser's loose-parser fallback.
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + b"a" * 10_000 + b'">\n'
        b']>\n<rss version="2.0"><channel><item><title>x'
        + b"&a;" * 10_000
        + b"</title><link>https://bomb.example/2</link></item></channel></rss>"
    )
    start = time.perf_counter()
    feed = parse_feed(body, url="https://bomb.example/rss", now=NOW)
    assert time.perf_counter() - start < 2
    (article,) = feed.articles
    assert len(article.title) <= TITLE_MAX
    assert "aaaaaaaaaa" not in article.title


def test_tiny_internal_entities_still_work() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n'
        b'<!ENTITY co "Co.">\n]>\n<rss version="2.0"><channel><item>'
        b"<title>x&nbsp;y &co;</title><link>https://e.example/3</link></item></channel></rss>"
    )
    (article,) = parse_feed(body, url="https://e.example/rss", now=NOW).articles
    assert article.title == "x y Co."  # expanded (and the nbsp collapsed like all space)


def test_huge_author_does_not_hang() -> None:
    # feedparser's e-mail regex is quadratic: 64 KB took 9.5 s unguarded.
    body = rss(f"<item><title>t</title><author>{'a' * 200_000}</author></item>")
    start = time.perf_counter()
    (article,) = parse_feed(body, url="https://site.example/feed", now=NOW).articles
    assert time.perf_counter() - start < 2
    assert len(article.authors[0]) <= 200


def test_oversized_fields_are_capped() -> None:
    big = "<p>" + "word " * 300_000 + "</p>"  # 1.5 M characters
    body = rss(
        f"<item><title>{'Long title ' * 500}</title><link>https://site.example/a</link>"
        f"<description><![CDATA[{big}]]></description>"
        + "".join(f"<category>c{i}</category>" for i in range(80))
        + f"<category>{'x' * 500}</category></item>"
    )
    (article,) = parse_feed(body, url="https://site.example/feed", now=NOW).articles
    assert len(article.title) <= TITLE_MAX and article.title.endswith("…")
    assert len(article.summary) <= HTML_MAX
    assert article.summary.startswith("<p>word word") and article.summary.endswith("</p>")
    assert len(article.categories) == 50


def test_far_future_dates_count_as_missing() -> None:
    body = rss(
        "<item><title>future</title><link>https://site.example/f</link>"
        "<pubDate>Sat, 01 Jan 2101 00:00:00 GMT</pubDate></item>"
        "<item><title>soon</title><link>https://site.example/s</link>"
        "<pubDate>Sun, 02 Jun 2024 06:00:00 GMT</pubDate></item>"
    )
    future, soon = parse_feed(body, url="https://site.example/feed", now=NOW).articles
    assert future.published is None  # treated as missing: the store uses first-seen
    assert soon.published == NOW + timedelta(hours=18)  # within a day: kept


def test_duplicate_guids_keep_the_first() -> None:
    body = rss(
        "<item><title>one</title><guid>same</guid></item>"
        "<item><title>two</title><guid>same</guid></item>"
    )
    feed = parse_feed(body, url="https://site.example/feed", now=NOW)
    assert [a.title for a in feed.articles] == ["one"]


def test_missing_title_falls_back_to_url() -> None:
    body = rss(
        "<item><link>https://site.example/only-a-link</link></item>"
        '<item><guid isPermaLink="false">g</guid></item>'
    )
    with_link, bare = parse_feed(body, url="https://site.example/feed", now=NOW).articles
    assert with_link.title == "https://site.example/only-a-link"
    assert bare.title == "(untitled)"


def test_text_plain_atom_content_is_escaped() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>e1</id>'
        b'<title>t</title><content type="text">1 &lt; 2 &amp; &lt;b&gt;not bold&lt;/b&gt;'
        b"</content></entry></feed>"
    )
    (article,) = parse_feed(body, url="https://a.example/feed", now=NOW).articles
    assert article.content == "<p>1 &lt; 2 &amp; &lt;b&gt;not bold&lt;/b&gt;</p>"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_any_description_text_comes_out_safe(text: str) -> None:
    payload = (
        text + '<img src=x onerror="a()"><!--[if IE]><script>b()</script><![endif]-->'
        '<a href="javascript:c()">x</a><style>p{}</style><iframe src="//e"></iframe>'
    )
    escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = rss(f"<item><title>t</title><guid>g</guid><description>{escaped}</description></item>")
    try:
        feed = parse_feed(body, url="https://site.example/feed", now=NOW)
    except ParseError:
        return  # control characters make some inputs unreadable: refused, not crashed
    for article in feed.articles:
        assert not unsafe(article.summary + article.content)


def test_entry_cap_keeps_the_newest_in_document_order() -> None:
    # Oldest first on purpose: the cap must go by date, not by position.
    items = "".join(
        f"<item><guid>e{i}</guid><title>t{i}</title>"
        f"<pubDate>{(NOW - timedelta(days=30 - i)).strftime('%a, %d %b %Y %H:%M:%S GMT')}"
        "</pubDate></item>"
        for i in range(30)
    )
    body = rss(items + "<item><guid>undated</guid><title>u</title></item>")
    feed = parse_feed(body, url="https://site.example/feed", now=NOW, max_entries=5)
    assert [a.guid for a in feed.articles] == ["e25", "e26", "e27", "e28", "e29"]
    assert feed.dropped == 26
    uncapped = parse_feed(body, url="https://site.example/feed", now=NOW)
    assert len(uncapped.articles) == 31 and uncapped.dropped == 0


def test_entry_cap_without_dates_keeps_the_first_entries() -> None:
    # Feeds list their newest entries first.
    body = rss("".join(f"<item><guid>e{i}</guid><title>t</title></item>" for i in range(10)))
    feed = parse_feed(body, url="https://site.example/feed", now=NOW, max_entries=3)
    assert [a.guid for a in feed.articles] == ["e0", "e1", "e2"] and feed.dropped == 7


def test_entry_cap_applies_to_json_feed() -> None:
    items = ",".join(f'{{"id": "j{i}", "content_text": "x"}}' for i in range(10))
    body = f'{{"version": "https://jsonfeed.org/version/1.1", "items": [{items}]}}'.encode()
    feed = parse_feed(body, url="https://site.example/feed.json", now=NOW, max_entries=4)
    assert len(feed.articles) == 4 and feed.dropped == 6


GREEK = "<item><title>Ελληνικά νέα €</title><guid>g1</guid></item>"


@pytest.mark.parametrize("gap", ["", "\n"])  # the body's length parity decided it before
@pytest.mark.parametrize(
    ("declared", "content_type"),
    [
        ("utf-16", None),
        ("UTF-32", None),
        ("utf-8", "application/rss+xml; charset=utf-16"),
        ("utf-16", "application/rss+xml; charset=UTF-16LE"),
    ],
)
def test_utf8_declared_as_utf16_is_read_as_utf8(
    gap: str, declared: str, content_type: str | None
) -> None:
    body = (
        f'<?xml version="1.0" encoding="{declared}"?>{gap}<rss version="2.0"><channel>'
        f"<title>T</title>{GREEK}</channel></rss>"
    ).encode()
    feed = parse_feed(body, url="https://e.example/f", content_type=content_type, now=NOW)
    assert [a.title for a in feed.articles] == ["Ελληνικά νέα €"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_real_utf16_feeds_still_read(codec: str) -> None:
    declared = "utf-16" if codec == "utf-16" else codec  # "utf-16" writes a BOM
    body = (
        f'<?xml version="1.0" encoding="{declared}"?>\n<rss version="2.0"><channel>'
        f"<title>T</title>{GREEK}</channel></rss>"
    ).encode(codec)
    feed = parse_feed(
        body, url="https://e.example/f", content_type=f"application/rss+xml; charset={declared}",
        now=NOW,
    )
    assert [a.title for a in feed.articles] == ["Ελληνικά νέα €"]
