"""Atom rendering: validity, readers' view, related links (feedgen#135), ids, determinism."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import feedparser
import lxml.html
import pytest
from feedgen.feed import FeedGenerator
from lxml import etree

from feedhub.publish.atom import entry_id, render_story_feed, render_topic_feed
from feedhub.publish.text import EPOCH
from feedhub.publish.views import (
    ArchiveLinks,
    CopyRef,
    RelatedLink,
    SiteInfo,
    SourceRef,
    StoryInfo,
    TopicInfo,
)
from tests.test_publish_helpers import (
    REFERENCE_RELATED,
    SITE,
    TOPIC,
    WIRE,
    article,
    dt,
    reference_entry,
    validate_atom,
    view,
)

ATOM = "{http://www.w3.org/2005/Atom}"


def sample_entries() -> list:
    """A realistic mix: the reference article, one with authors, one without URL or content."""
    return [
        reference_entry(),
        view(article(2, dt(2024, 6, 1, 7), authors=("A. Reporter", "B. Editor"))),
        view(article(3, dt(2024, 3, 2, 7), guid="42", url=None, content="", summary="")),
        view(
            article(4, dt(2024, 5, 5), source="courier"),
            source=SourceRef("courier", "", None, "/srv/feeds/courier.xml", None),
        ),
    ]


def entries_of(doc: bytes) -> list[etree._Element]:
    return etree.fromstring(doc).findall(f"{ATOM}entry")


def test_every_shape_of_document_validates(tmp_path: Path) -> None:
    docs = {
        "subscription.atom": render_topic_feed(SITE, TOPIC, sample_entries()),
        "no-hub.atom": render_topic_feed(
            SiteInfo("t", "https://x.example/", "me"), TOPIC, sample_entries()[:1]
        ),
        "archive.atom": render_topic_feed(
            SITE,
            TOPIC,
            sample_entries(),
            archive=ArchiveLinks(
                prev_archive="https://news.example/sahel/2024-01.atom",
                next_archive="https://news.example/sahel/2024-03.atom",
                current="https://news.example/sahel.atom",
                self_url="https://news.example/sahel/2024-02.atom",
            ),
        ),
        "empty.atom": render_topic_feed(SITE, TOPIC, []),
    }
    for name, data in docs.items():
        (tmp_path / name).write_bytes(data)
    validate_atom(*(tmp_path / name for name in docs))


def test_feedparser_reads_it_and_entry_link_is_the_article() -> None:
    entries = sample_entries()
    parsed = feedparser.parse(render_topic_feed(SITE, TOPIC, entries))
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Sahel"
    rels = {(ln.rel, ln.href) for ln in parsed.feed.links}
    assert ("self", "https://news.example/sahel.atom") in rels
    assert ("alternate", "https://news.example/") in rels
    assert ("hub", "https://hub.example/") in rels
    by_id = {e.id: e for e in parsed.entries}
    for v in entries:
        e = by_id[entry_id(v)]
        assert e.title == v.article.title
        if v.article.url:
            assert e.link == v.article.url  # never a related link, never the source's link
        else:
            assert all(ln.rel != "alternate" for ln in e.get("links", []))
    related_urls = {r.url for r in REFERENCE_RELATED}
    assert not related_urls & {e.get("link") for e in parsed.entries}


def test_related_links_keep_rel_and_title_feedgen_135() -> None:
    """Regression for lkiesow/python-feedgen#135: related links must not turn into alternates."""
    doc = render_topic_feed(SITE, TOPIC, [reference_entry()])
    (entry,) = entries_of(doc)
    links = entry.findall(f"{ATOM}link")
    alternates = [ln for ln in links if ln.get("rel", "alternate") == "alternate"]
    assert [ln.get("href") for ln in alternates] == [
        "https://news.example.org/russian-instructors-niger"
    ]
    related = [ln for ln in links if ln.get("rel") == "related"]
    assert len(related) == len(REFERENCE_RELATED)
    want = {r.url: r.title for r in REFERENCE_RELATED}
    assert {ln.get("href"): ln.get("title") for ln in related} == want
    assert all(ln.get("rel") is not None for ln in links)


def test_feedgen_itself_still_drops_entry_link_rel_feedgen_135() -> None:
    """Why the workaround exists. If this fails, feedgen fixed #135: the extension in atom.py
    still works, but could be replaced by plain FeedEntry.link() calls."""
    fg = FeedGenerator()
    fg.id("urn:x")
    fg.title("x")
    fe = fg.add_entry()
    fe.id("urn:y")
    fe.title("y")
    fe.content("z")
    fe.link(href="https://a.example/", rel="related", title="A")
    (link,) = etree.fromstring(fg.atom_str()).find(f"{ATOM}entry").findall(f"{ATOM}link")
    assert link.get("rel") is None and link.get("title") is None


def test_related_news_section_matches_links_newest_first() -> None:
    doc = render_topic_feed(SITE, TOPIC, [reference_entry()])
    (entry,) = entries_of(doc)
    html = lxml.html.fragment_fromstring(entry.findtext(f"{ATOM}content"), create_parent="div")
    assert html.findtext("h3") == "Related News"
    items = html.findall("ul/li")
    shown = [(li.find("a").get("href"), li.find("a").text, li.text_content()) for li in items]
    assert [s[1] for s in shown] == [
        "U.S. Troop Withdrawal from Niger Kicks off",
        "UNHCR Official Warns of Escalating Humanitarian Crisis in Sahel Region",
        "Niger and U.S. Finalize Agreement on American Troop Withdrawal by September",
    ]
    assert [s[2].rsplit(" — ", 1)[1] for s in shown] == [
        "Jun 11, 2024",
        "May 30, 2024",
        "May 20, 2024",
    ]
    # The same list, in the same order, as the rel="related" links.
    links = [ln for ln in entry.findall(f"{ATOM}link") if ln.get("rel") == "related"]
    assert [(ln.get("href"), ln.get("title")) for ln in links] == [s[:2] for s in shown]
    assert html.findtext("p") is not None and "Body text." in html.text_content()


def test_related_capped_to_most_relevant_then_sorted_by_date() -> None:
    v = reference_entry()
    doc = render_topic_feed(SITE, TOPIC, [v], max_related=2)
    (entry,) = entries_of(doc)
    hrefs = [ln.get("href") for ln in entry.findall(f"{ATOM}link") if ln.get("rel") == "related"]
    # The two most relevant are ids 11 (May 20) and 12 (Jun 11): shown newest first.
    assert hrefs == [REFERENCE_RELATED[1].url, REFERENCE_RELATED[0].url]
    assert "UNHCR" not in entry.findtext(f"{ATOM}content")


def test_also_reported_by_lists_copies_linked_and_escaped() -> None:
    doc = render_topic_feed(SITE, TOPIC, [reference_entry()])
    content = entries_of(doc)[0].findtext(f"{ATOM}content")
    html = lxml.html.fragment_fromstring(content, create_parent="div")
    para = [p for p in html.findall("p") if p.text_content().startswith("Also reported by:")]
    assert para[0].text_content() == "Also reported by: Wire, Daily Courier"
    assert [a.get("href") for a in para[0].findall("a")] == [
        "https://wire.example/a/99",
        "https://courier.example/niger",
    ]


def test_hostile_text_is_escaped_not_executed() -> None:
    evil = '<script>alert("x")</script> & <b>'
    related = (RelatedLink(7, evil, "https://e.example/?a=1&b=2", dt(2024, 1, 1)),)
    v = view(article(5, dt(2024, 1, 2), title=evil + "\x00\x1b"), related)
    doc = render_topic_feed(SITE, TOPIC, [v])
    parsed = feedparser.parse(doc)
    assert parsed.bozo is False
    assert parsed.entries[0].title == evil  # control characters dropped, text kept
    content = entries_of(doc)[0].findtext(f"{ATOM}content")
    assert "<script>" not in content and "&lt;script&gt;" in content
    assert 'href="https://e.example/?a=1&amp;b=2"' in content


def test_a_story_titled_by_control_characters_alone_gets_a_title(tmp_path: Path) -> None:
    # Found by tests/test_safety.py: the story's headline "\x01…\x08" is empty in XML, and
    # feedgen refused to write a feed without atom:title, so the publish failed.
    v = view(article(5, dt(2024, 1, 2), title="\x01\x02\x08"))
    doc = render_story_feed(SITE, StoryInfo("s-1", "\x01\x02\x08 "), [v])
    assert etree.fromstring(doc).findtext(f"{ATOM}title") == "(untitled story)"
    (tmp_path / "story.atom").write_bytes(doc)
    validate_atom(tmp_path / "story.atom")


def test_entry_ids_stable_and_derived_deterministically() -> None:
    kept = view(article(1, dt(2024, 1, 1), guid="urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"))
    derived = view(article(2, dt(2024, 1, 1), guid="post 17"))
    digest = hashlib.sha1(b"wire\0post 17").hexdigest()
    assert entry_id(derived) == f"tag:feedhub,2024:story/{digest}"
    # Same guid in another source is another entry.
    other = view(article(3, dt(2024, 1, 1), guid="post 17", source="Daily Courier"))
    assert entry_id(other) != entry_id(derived)
    assert entry_id(kept).startswith("tag:feedhub,2024:story/")
    # Republishing with new related links, another site URL and a newer update keeps ids.
    first = [
        e.findtext(f"{ATOM}id") for e in entries_of(render_topic_feed(SITE, TOPIC, [kept, derived]))
    ]
    changed = view(
        article(2, dt(2024, 1, 1), guid="post 17", updated=dt(2024, 2, 1)), REFERENCE_RELATED
    )
    moved = SiteInfo("t", "https://elsewhere.example/", "me")
    again = [
        e.findtext(f"{ATOM}id")
        for e in entries_of(render_topic_feed(moved, TOPIC, [kept, changed]))
    ]
    assert sorted(first) == sorted(again)


def test_bytes_are_deterministic_and_input_order_free() -> None:
    entries = sample_entries()
    one = render_topic_feed(SITE, TOPIC, entries)
    assert one == render_topic_feed(SITE, TOPIC, list(reversed(entries)))
    assert one == render_topic_feed(SITE, TOPIC, tuple(entries))


def test_entries_newest_first_and_feed_updated_is_newest_entry() -> None:
    doc = render_topic_feed(SITE, TOPIC, sample_entries())
    root = etree.fromstring(doc)
    published = [e.findtext(f"{ATOM}published") for e in root.findall(f"{ATOM}entry")]
    assert published == sorted(published, reverse=True)
    assert root.findtext(f"{ATOM}updated") == "2024-06-01T07:00:00+00:00"
    empty = etree.fromstring(render_topic_feed(SITE, TOPIC, []))
    assert empty.findtext(f"{ATOM}updated") == EPOCH.isoformat()
    fixed = etree.fromstring(render_topic_feed(SITE, TOPIC, [], empty_updated=dt(2024, 7, 1)))
    assert fixed.findtext(f"{ATOM}updated") == "2024-07-01T00:00:00+00:00"


def test_authors_kept_or_inherited_from_feed() -> None:
    root = etree.fromstring(render_topic_feed(SITE, TOPIC, sample_entries()))
    names = {
        e.findtext(f"{ATOM}title"): [a.findtext(f"{ATOM}name") for a in e.findall(f"{ATOM}author")]
        for e in root.findall(f"{ATOM}entry")
    }
    assert names["Headline number 2"] == ["A. Reporter", "B. Editor"]
    assert names["Headline number 3"] == ["Newsroom Bot"]
    assert [a.findtext(f"{ATOM}name") for a in root.findall(f"{ATOM}author")] == ["Newsroom Bot"]


def test_atom_source_names_the_origin_feed() -> None:
    root = etree.fromstring(render_topic_feed(SITE, TOPIC, sample_entries()))
    sources = {
        e.findtext(f"{ATOM}title"): e.find(f"{ATOM}source") for e in root.findall(f"{ATOM}entry")
    }
    wire = sources["Headline number 2"]
    assert wire.findtext(f"{ATOM}id") == WIRE.feed_url
    assert wire.findtext(f"{ATOM}title") == "Wire"
    assert {(ln.get("rel"), ln.get("href")) for ln in wire.findall(f"{ATOM}link")} == {
        ("alternate", "https://wire.example/"),
        ("self", "https://wire.example/feed.xml"),
    }
    local = sources["Headline number 4"]  # a file source: no local path leaks as id or link
    assert local.findtext(f"{ATOM}id") == "tag:feedhub,2024:source/courier"
    assert local.findtext(f"{ATOM}title") == "courier"
    assert local.findall(f"{ATOM}link") == []


def test_naive_datetime_is_rejected() -> None:
    from datetime import datetime

    naive = article(1, datetime(2024, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        render_topic_feed(SITE, TOPIC, [view(naive)])


def test_one_story_has_one_id_in_every_topic_feed() -> None:
    """Readers keep read-state per id across subscriptions (issue 18): a story filed under
    two topics is the same entry in both feeds, archives included."""
    story = view(article(2, dt(2024, 1, 1), guid="post 17"))
    niger = TopicInfo("niger", "Niger")
    ids = {
        etree.fromstring(doc).find(f"{ATOM}entry").findtext(f"{ATOM}id")
        for doc in (
            render_topic_feed(SITE, TOPIC, [story]),
            render_topic_feed(SITE, niger, [story]),
            render_topic_feed(
                SITE, niger, [story],
                archive=ArchiveLinks(current=f"{SITE.base_url}niger.atom",
                                     self_url=f"{SITE.base_url}niger/2024-01.atom"),
            ),
        )
    }
    assert ids == {entry_id(story)}


def test_every_document_names_the_stylesheet_after_its_declaration() -> None:
    doc = render_topic_feed(SITE, TOPIC, sample_entries())
    first, second, _ = doc.split(b"\n", 2)
    assert first.startswith(b"<?xml version=")
    assert second == b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>'
    sub = SiteInfo("t", "https://example.org/news/", "me")
    assert b'href="/news/feed.xsl"' in render_topic_feed(sub, TOPIC, [])
    pi = etree.fromstring(doc).getroottree().getroot().getprevious()
    assert pi.target == "xml-stylesheet" and pi.get("href") == "/feed.xsl"


def test_published_links_carry_no_tracking_parameters() -> None:
    """Entry, Related News and "Also reported by" links lose utm_* and the like, keep the
    rest of the address; a feed's own original (origLink) wins over a redirector."""
    tracked = "https://wire.example/a/1?id=7&utm_source=rss&utm_medium=feed"
    a = replace(article(1, dt(2024, 1, 1), url=tracked),
                canonical_url="https://wire.example/a/1?id=7")
    routed = replace(article(2, dt(2024, 1, 2), url="https://feeds.example/~r/w/3?utm_source=rss"),
                     canonical_url="https://wire.example/a/3")
    related = (RelatedLink(9, "Other", "https://o.example/x?utm_campaign=c&fbclid=1",
                           dt(2024, 1, 1)),)
    copies = (CopyRef("Courier", "http://www.courier.example/n/?utm_medium=feed"),)
    doc = render_topic_feed(SITE, TOPIC, [view(a, related, copies), view(routed)])
    assert b"utm_" not in doc and b"fbclid" not in doc
    links = {
        e.findtext(f"{ATOM}title"): e.find(f"{ATOM}link[@rel='alternate']").get("href")
        for e in entries_of(doc)
    }
    assert links == {"Headline number 1": "https://wire.example/a/1?id=7",
                     "Headline number 2": "https://wire.example/a/3"}
    content = entries_of(doc)[1].findtext(f"{ATOM}content")
    assert 'href="https://o.example/x"' in content
    assert 'href="http://www.courier.example/n/"' in content  # only the tracker goes
