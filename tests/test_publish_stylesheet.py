"""feed.xsl applied by libxslt (through lxml: the engine Chromium uses) to rendered feeds:
the page a browser shows, without a browser (test_readers.py has the Chromium run)."""

from __future__ import annotations

import lxml.html
from lxml import etree

from feedhub.publish.archive import plan_archives, render_plan
from feedhub.publish.atom import render_topic_feed
from feedhub.publish.stylesheet import render_stylesheet
from tests.test_publish_helpers import SITE, TOPIC, article, dt, reference_entry, view


def page(feed: bytes) -> lxml.html.HtmlElement:
    """The HTML a browser builds from ``feed`` through feed.xsl (output escaping as libxslt
    serializes it, which is what honours disable-output-escaping)."""
    transform = etree.XSLT(etree.fromstring(render_stylesheet()))
    return lxml.html.fromstring(str(transform(etree.fromstring(feed))))


def test_a_topic_feed_becomes_a_page_with_entries_box_and_subscribe_note() -> None:
    entries = [reference_entry(), view(article(2, dt(2024, 6, 1, 7), title="Second & last"))]
    doc = page(render_topic_feed(SITE, TOPIC, entries))
    assert doc.findtext(".//h1") == TOPIC.title
    assert [h.text_content().strip() for h in doc.xpath("//main/article/h2")] == [
        "Second & last",
        "Russian Military Instructors Arrive in Niger with Air Defense System",
    ]
    text = doc.text_content()
    assert "<h3>" not in text and "<p>" not in text  # the content is rendered, not shown
    box = next(h for h in doc.iter("h3") if h.text == "Related News").getnext()
    assert next(a.text for a in box.iter("a")) == "U.S. Troop Withdrawal from Niger Kicks off"
    assert "Wire · Apr 12, 2024" in " ".join(text.split())
    assert [c.text for c in doc.iter("code")] == [f"{SITE.base_url}sahel.atom"]
    assert "This page is a news feed." in text


def test_an_archive_page_names_its_month_and_the_feed_to_follow() -> None:
    entries = [view(article(i, dt(2024, m, 10))) for i, m in enumerate((3, 4, 5, 6), 1)]
    plan = plan_archives(SITE, TOPIC.slug, entries, entries_per_feed=1)
    docs = dict((d.path, data) for d, data in render_plan(SITE, TOPIC, plan))
    doc = page(docs["sahel/2024-04.atom"])
    text = " ".join(doc.text_content().split())
    assert "Archive: the articles of Apr 2024." in text
    assert [c.text for c in doc.iter("code")] == [f"{SITE.base_url}sahel.atom"]
    nav = {a.text: a.get("href") for a in doc.xpath("//nav[@class='archive']/a")}
    assert nav == {
        "Newer articles": f"{SITE.base_url}sahel/2024-05.atom",
        "Older articles": f"{SITE.base_url}sahel/2024-03.atom",
    }
