"""index.opml and index.html: structure, autodiscovery, escaping, determinism."""

from __future__ import annotations

import lxml.html
from lxml import etree

from feedhub.publish.index import render_index_html, render_opml
from feedhub.publish.views import Headline, SiteInfo, TopicInfo, TopicListing
from tests.test_publish_helpers import SITE, dt

EVIL = '<script>alert("pwned")</script>'
TOPICS = [
    TopicInfo("sahel", "Sahel", "Niger, Mali, Burkina Faso"),
    TopicInfo("markets", f"Markets {EVIL} & more"),
]


def listings() -> list[TopicListing]:
    return [
        TopicListing(
            TOPICS[0],
            (
                Headline("Older one", "https://a.example/1", dt(2024, 5, 20, 8), "Wire"),
                Headline(f"Newest {EVIL}", "https://a.example/2?x=1&y=2", dt(2024, 6, 11, 9)),
                Headline("No link", None, dt(2024, 5, 30)),
                Headline("Bad scheme", "javascript:alert(1)", dt(2024, 5, 1)),
            ),
        ),
        TopicListing(TOPICS[1]),
    ]


def test_opml_has_one_rss_outline_per_topic() -> None:
    data = render_opml(SITE, TOPICS, created=dt(2024, 6, 1))
    root = etree.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "feedhub news"
    assert root.findtext("head/dateCreated") == "Sat, 01 Jun 2024 00:00:00 GMT"
    outlines = root.findall("body/outline")
    assert [o.attrib for o in outlines] == [
        {
            "type": "rss",
            "text": "Sahel",
            "title": "Sahel",
            "xmlUrl": "https://news.example/sahel.atom",
            "htmlUrl": "https://news.example/#sahel",
            "description": "Niger, Mali, Burkina Faso",
        },
        {  # issue 16: each topic's top stories beside it
            "type": "rss",
            "text": "Top stories: Sahel",
            "title": "Top stories: Sahel",
            "xmlUrl": "https://news.example/top/sahel.atom",
            "htmlUrl": "https://news.example/#sahel",
        },
        {
            "type": "rss",
            "text": f"Markets {EVIL} & more",
            "title": f"Markets {EVIL} & more",
            "xmlUrl": "https://news.example/markets.atom",
            "htmlUrl": "https://news.example/#markets",
        },
        {
            "type": "rss",
            "text": f"Top stories: Markets {EVIL} & more",
            "title": f"Top stories: Markets {EVIL} & more",
            "xmlUrl": "https://news.example/top/markets.atom",
            "htmlUrl": "https://news.example/#markets",
        },
    ]
    assert b"<script>" not in data
    assert data == render_opml(SITE, TOPICS, created=dt(2024, 6, 1))
    assert b"Thu, 01 Jan 1970 00:00:00 GMT" in render_opml(SITE, TOPICS)


def test_index_html_autodiscovery_and_outline_links() -> None:
    doc = lxml.html.document_fromstring(render_index_html(SITE, listings()))
    feeds = doc.xpath('//head/link[@rel="alternate"][@type="application/atom+xml"]')
    assert [(ln.get("title"), ln.get("href")) for ln in feeds] == [
        ("Sahel", "https://news.example/sahel.atom"),
        ("Top stories: Sahel", "https://news.example/top/sahel.atom"),
        (f"Markets {EVIL} & more", "https://news.example/markets.atom"),
        (f"Top stories: Markets {EVIL} & more", "https://news.example/top/markets.atom"),
    ]
    (outline,) = doc.xpath('//head/link[@rel="outline"]')
    assert (outline.get("type"), outline.get("href")) == ("text/x-opml", "index.opml")
    # One feed link per topic in the body too, and one to its top stories (issue 16).
    body_feeds = [a.get("href") for a in doc.xpath('//section//a[@class="feed"]')]
    assert body_feeds == ["https://news.example/sahel.atom", "https://news.example/top/sahel.atom",
                          "https://news.example/markets.atom",
                          "https://news.example/top/markets.atom"]


def test_index_html_lists_headlines_newest_first_with_dates() -> None:
    doc = lxml.html.document_fromstring(render_index_html(SITE, listings()))
    (section,) = doc.xpath('//section[@id="sahel"]')
    items = section.xpath(".//li")
    assert [li.xpath("string(.//time)") for li in items] == [
        "Jun 11, 2024",
        "May 30, 2024",
        "May 20, 2024",
        "May 1, 2024",
    ]
    first = items[0].find("a")
    assert first.text == f"Newest {EVIL}" and first.get("href") == "https://a.example/2?x=1&y=2"
    assert items[1].find("a") is None  # no URL: plain text
    assert items[3].find("a") is None  # javascript: is never made a link
    assert "Wire" in items[2].text_content()
    assert "No articles yet." in doc.xpath('string(//section[@id="markets"])')


def test_index_html_escapes_hostile_titles_everywhere() -> None:
    site = SiteInfo(f"News {EVIL}", "https://news.example/", f"Ed {EVIL}")
    data = render_index_html(site, listings())
    assert b"<script" not in data.lower()
    assert b"&lt;script&gt;" in data
    doc = lxml.html.document_fromstring(data)
    assert doc.findtext(".//title") == f"News {EVIL}"
    assert doc.xpath("//script") == []
    assert data == render_index_html(site, listings())  # deterministic
