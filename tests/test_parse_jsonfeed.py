"""JSON Feed 1.0 and 1.1 fixtures and edge cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedhub.model import ParsedFeed, ParseError
from feedhub.parse import parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def parse_json(doc: object, content_type: str | None = "application/feed+json") -> ParsedFeed:
    body = json.dumps(doc).encode()
    return parse_feed(body, url="https://j.example/feed.json", content_type=content_type, now=NOW)


def test_json_feed_10() -> None:
    body = (FEEDS / "jsonfeed10.json").read_bytes()
    # Detected by the leading "{" even when the server calls it text/plain.
    feed = parse_feed(
        body, url="https://podnotes.example.com/feed.json", content_type="text/plain", now=NOW
    )
    assert feed.version == "json10"
    assert feed.title == "Podcast Notes"
    assert feed.link == "https://podnotes.example.com/"
    assert feed.feed_id == "https://podnotes.example.com/feed.json"
    rivers, first = feed.articles
    assert rivers.guid == "2"
    assert rivers.title == "Episode 2: Rivers"
    # content_text is escaped into paragraphs.
    assert rivers.content == "<p>We talk about rivers.</p><p>And &lt;bridges&gt; &amp; dams.</p>"
    assert rivers.published == datetime(2023, 11, 3, 1, 0, tzinfo=UTC)
    assert rivers.authors == ("Pat Host",)  # feed-level 1.0 author
    assert rivers.categories == ("geography", "water")
    assert first.guid == "1"  # a number in the wild; stored as a string
    assert first.url == "https://podnotes.example.com/episodes/1"  # relative → home page
    assert first.content == (
        '<p>The first <a href="https://podnotes.example.com/episodes/1/notes" '
        'rel="noopener noreferrer">episode</a>.</p>'
    )
    assert first.title == "The first episode."  # no title: an excerpt of the content
    assert first.authors == ("Guest Speaker",)


def test_json_feed_11() -> None:
    body = (FEEDS / "jsonfeed11.json").read_bytes()
    feed = parse_feed(body, url="https://cdn.example.net/reports/feed.json", now=NOW)
    assert feed.version == "json11"
    assert feed.warning is None
    flood, linked = feed.articles
    assert flood.title == "Flood warning & evacuations"
    assert flood.url == "https://reports.example.com/field/flood"
    assert flood.summary == "<p>Rivers rise after storms.</p>"
    # Sanitized: no handler, no script, no javascript: link; relative img → home page.
    assert flood.content == (
        '<p>Water rose <img src="https://reports.example.com/field/photos/flood.jpg">.</p>'
        '<a rel="noopener noreferrer">x</a>'
    )
    assert flood.published == datetime(2024, 4, 1, 4, 30, tzinfo=UTC)
    assert flood.updated == datetime(2024, 4, 1, 9, 0, tzinfo=UTC)
    assert flood.authors == ("Rita Reporter", "Sam Photographer")
    assert flood.categories == ("weather", "floods")
    assert linked.url == "https://elsewhere.example.org/piece"  # external_url as fallback
    assert linked.published is None and linked.updated is None
    assert linked.authors == ("Desk Editor",)  # feed-level 1.1 authors


def test_non_rfc3339_dates_and_missing_version() -> None:
    feed = parse_json(
        {
            "items": [
                {"id": "a", "title": "x", "date_published": "Tue, 05 Mar 2024 14:30:00 +0100"},
                {"id": "b", "title": "y", "date_published": "2024-03-05T10:00:00"},
                {"id": "c", "title": "z", "date_published": "not a date"},
                "not an item",
            ]
        }
    )
    a, b, c = feed.articles
    assert a.published == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert b.published == datetime(2024, 3, 5, 10, 0, tzinfo=UTC)  # naive = UTC
    assert c.published is None
    assert feed.warning is not None
    assert "unknown JSON Feed version" in feed.warning and "skipped" in feed.warning


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "no items"),
        (b"[1, 2]", "not an object"),
        (b'{"items": []}\xff', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_broken_json_raises(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_feed(body, url="https://j.example/f", content_type="application/json", now=NOW)


def test_json_with_bom_and_whitespace_is_detected() -> None:
    body = b'\xef\xbb\xbf \n{"version": "https://jsonfeed.org/version/1.1", "items": []}'
    feed = parse_feed(body, url="https://j.example/f", now=NOW)
    assert feed.version == "json11" and feed.articles == ()
