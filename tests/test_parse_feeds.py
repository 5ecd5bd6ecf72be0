"""RSS 0.91, RSS 2.0, RSS 1.0 (RDF), Atom 0.3 and Atom 1.0 fixtures → stored Article fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedhub.model import Article, ParsedFeed
from feedhub.parse import parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def parse(name: str, url: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), url=url, content_type=content_type, now=NOW)


def by_title(feed: ParsedFeed, title: str) -> Article:
    return next(a for a in feed.articles if a.title == title)


def test_rss091_netscape_doctype() -> None:
    feed = parse("rss091.xml", "http://gazette.example.com/rss.xml")
    assert feed.version == "rss091n"
    assert feed.title == "Harbour Gazette"
    assert feed.link == "http://gazette.example.com/"
    assert [a.title for a in feed.articles] == [
        "Ferry timetable changes & delays",
        "Fish market reopens",
    ]
    market = feed.articles[1]
    # No guid: the link is the identity; no date: None for the store to fill.
    assert market.guid == "http://gazette.example.com/news/market.html"
    assert market.url == "http://gazette.example.com/news/market.html"
    assert market.published is None and market.updated is None
    assert market.summary == "After repairs the market reopens <b>Saturday</b>."
    assert market.content == ""


def test_rss20_fields() -> None:
    feed = parse("rss20.xml", "https://feeds.example.net/citydesk", "application/rss+xml")
    assert feed.version == "rss20"
    assert feed.ttl == timedelta(minutes=45)
    assert feed.warning is None
    tram = by_title(feed, "Council approves new tram line")
    assert tram.guid == "citydesk-4711"
    assert tram.url == "https://feeds.example.net/~r/citydesk/~3/abc123/"
    assert tram.canonical_url == "https://citydesk.example.org/2024/03/tram-line"
    assert tram.published == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert tram.published is not None and tram.published.tzinfo is UTC
    assert tram.authors == ("Jane Roe",)
    # "transport" repeats "Transport" ignoring case.
    assert tram.categories == ("Transport", "Council")
    assert tram.content == (
        "<p>The council voted <strong>31–12</strong> for the line.</p>"
        '<img src="https://citydesk.example.org/img/tram.jpg" alt="Tram">'
    )
    assert tram.summary == "The council voted 31–12 for the line."

    library = by_title(feed, "Library opens on Sundays")
    assert library.guid == "https://citydesk.example.org/2024/03/library"
    assert library.published == datetime(2024, 3, 4, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert library.authors == ("John Doe",)  # "email (Name)" → the name
    assert library.canonical_url is None
    assert library.summary == "<p>From April the central library opens on <em>Sundays</em>.</p>"


def test_rss10_rdf() -> None:
    feed = parse("rss10.rdf", "https://science.example.org/rss")
    assert feed.version == "rss10"
    (comet,) = feed.articles
    assert comet.title == "Comet visible at dawn"
    assert comet.guid == "https://science.example.org/notes/comet"
    assert comet.published == datetime(2024, 2, 10, 3, 15, tzinfo=UTC)
    assert comet.authors == ("Ada Quill",)
    assert comet.categories == ("Astronomy",)


def test_atom03() -> None:
    feed = parse("atom03.xml", "http://oldblog.example.com/atom.xml")
    assert feed.version == "atom03"
    (entry,) = feed.articles
    assert entry.guid == "tag:oldblog.example.com,2005:atom03"
    assert entry.url == "http://oldblog.example.com/2005/07/atom03"
    assert entry.published == datetime(2005, 7, 31, 12, 29, 29, tzinfo=UTC)
    assert entry.content == "<p>Some feeds never upgraded.</p>"
    assert entry.authors == ("Mark Writer",)  # inherited from the feed


def test_atom10_xml_base_and_text_constructs() -> None:
    feed = parse("atom10.xml", "https://blog.example.com/feed.atom", "application/atom+xml")
    assert feed.version == "atom10"
    assert feed.title == "Tech & Society"
    assert feed.link == "https://blog.example.com/"
    assert feed.feed_id == "urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6"
    assert feed.ttl is None

    post = feed.articles[0]
    assert post.title == "Open data & cities"  # type="html" title → plain text
    # Entry xml:base "/posts/2024/" on top of the feed's xml:base.
    assert post.url == "https://blog.example.com/posts/2024/open-data"
    assert post.content == (
        '<p>See <a href="https://blog.example.com/posts/2024/charts/" '
        'rel="noopener noreferrer">the charts</a> and '
        '<img src="https://blog.example.com/img/map.png" alt="map">.</p>'
    )
    assert post.summary == "<p>Cities publish more data than ever.</p>"  # type="text"
    assert post.published == datetime(2024, 1, 14, 14, 0, tzinfo=UTC)
    assert post.updated == datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
    assert post.authors == ("Alice Author", "Bob Author")
    assert post.categories == ("data", "cities")

    xhtml = feed.articles[1]
    assert xhtml.title == "Plain <title> text"  # type="text": "<" is a character, kept
    assert xhtml.url == "https://other.example.net/story"
    assert xhtml.content == (
        '<p>XHTML <a href="https://blog.example.com/about" rel="noopener noreferrer">'
        "content</a>.</p>"
    )
    assert xhtml.summary == ""  # feedparser's copy of the content is not kept twice
    # Only <updated>: it stands for published too.
    assert xhtml.published == xhtml.updated == datetime(2024, 1, 10, tzinfo=UTC)
    assert xhtml.authors == ("Feed Author",)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("rss091.xml", "http://gazette.example.com/rss.xml"),
        ("rss20.xml", "https://feeds.example.net/citydesk"),
        ("rss10.rdf", "https://science.example.org/rss"),
        ("atom03.xml", "http://oldblog.example.com/atom.xml"),
        ("atom10.xml", "https://blog.example.com/feed.atom"),
        ("messy.xml", "https://cdn.feedhost.example/messy/feed.xml"),
        ("jsonfeed10.json", "https://podnotes.example.com/feed.json"),
        ("jsonfeed11.json", "https://cdn.example.net/reports/feed.json"),
    ],
)
def test_same_input_same_output(name: str, url: str) -> None:
    first, second = parse(name, url), parse(name, url)
    assert first == second
    assert first.articles, name
    for article in first.articles:
        assert article.url is None or article.url.startswith(("http://", "https://"))
        for value in (article.published, article.updated):
            assert value is None or value.utcoffset() == timedelta(0)
    assert len({a.guid for a in first.articles}) == len(first.articles)


def test_epoch_dates_count_as_missing_and_repeated_guids_are_counted() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>Epoch</title><guid>a</guid><pubDate>Thu, 01 Jan 1970 00:00:00 GMT"
        b"</pubDate></item>"
        b"<item><title>Fine</title><guid>b</guid><pubDate>Mon, 01 Jan 1990 00:00:00 GMT"
        b"</pubDate></item>"
        b"<item><title>Again</title><guid>b</guid></item></channel></rss>"
    )
    feed = parse_feed(body, url="https://x.example/feed", now=NOW)
    assert [(a.title, a.published) for a in feed.articles] == [
        ("Epoch", None), ("Fine", datetime(1990, 1, 1, tzinfo=UTC))
    ]
    assert feed.ancient_dates == 1 and feed.duplicate_guids == 1
