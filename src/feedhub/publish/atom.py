"""Render one topic document (subscription or archive) as Atom 1.0 bytes with feedgen.

Pure: no clock, no IO. Same input ⇒ byte-identical output, so the writer can skip unchanged
files and the server's ETag stays stable.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote, urlsplit

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedhub import __version__
from feedhub.dedupe.urls import public_url, without_trackers
from feedhub.publish.text import EPOCH, format_day, is_web_url, utc, xml_safe
from feedhub.publish.views import (
    ArchiveLinks,
    CopyRef,
    EntryView,
    RelatedLink,
    SiteInfo,
    SourceRef,
    StoryInfo,
    TopicInfo,
    TopStory,
)

FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
DEFAULT_MAX_RELATED = 5
STYLESHEET = "feed.xsl"  # written beside index.html by the publisher (stylesheet.py)

# An absolute URI (RFC 3986 scheme ":" rest) without characters that make it an invalid IRI.
# Control characters and surrogates are excluded too: an upstream feed id is echoed into
# atom:source/atom:id, and lxml refuses them (one JSON Feed's "feed_url" with a \x01 made
# every topic holding that source fail to publish).
_ABSOLUTE_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]+"
)
# Ids some readers follow as links when nothing else is there: never echo a script URL.
_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:")


def feed_url(site: SiteInfo, topic: TopicInfo) -> str:
    """URL of a topic's subscription document; also its atom:id (unique per installation)."""
    return f"{site.base_url}{topic.slug}.atom"


STORIES_DIR = "stories"  # story feeds: stories/<id>.atom under the output folder
FOLLOW_TITLE = "Follow this story"


def story_path(story_id: str) -> str:
    """A story feed's path relative to the output folder."""
    return f"{STORIES_DIR}/{story_id}.atom"


def story_feed_url(site: SiteInfo, story_id: str) -> str:
    """URL of a story's feed; also its atom:id."""
    return site.base_url + story_path(story_id)


def follow_html(site: SiteInfo, story_id: str | None) -> str:
    """The "Follow this story" link in an entry's content (readers ignore rel="related")."""
    if story_id is None:
        return ""
    href = html.escape(story_feed_url(site, story_id))
    return f'<p><a href="{href}" type="application/atom+xml">{FOLLOW_TITLE}</a></p>'


def entry_id(view: EntryView) -> str:
    """The one atom:id of a story in every feed that carries it: topics, archives, pages.

    Derived from the representative's (source, guid), both stable in the store, so the id
    survives republishing, re-rendering and a new base URL (RFC 4287 §4.2.6). Not scoped to
    a topic: readers key read-state on the id across subscriptions (newsboat keeps one item
    per id), so a story filed under three topics is one item read once, not three.
    Ids were ``tag:feedhub,2024:<topic>/<hash>`` before: a one-time change, so readers show
    each entry once more after the upgrade (README, "Upgrading").
    """
    key = f"{view.article.source}\0{view.article.guid}".encode("utf-8", "surrogatepass")
    return f"tag:feedhub,2024:story/{hashlib.sha1(key).hexdigest()}"


def stylesheet_href(site: SiteInfo) -> str:
    """The XSLT that makes a feed readable in a browser, by absolute path on the site.

    A path, not a URL: browsers load an XSLT only from the feed's own origin, and the same
    site may be reached under another host name (127.0.0.1 and localhost) than base_url's.
    """
    return urlsplit(site.base_url).path + STYLESHEET


def with_stylesheet(document: bytes, href: str) -> bytes:
    """``document`` with ``<?xml-stylesheet?>`` after its XML declaration.

    feedgen 1.0.0 has no API for processing instructions; the declaration it writes is one
    fixed line, so inserting after it keeps the bytes a function of the input.
    """
    head, sep, rest = document.partition(b"\n")
    if not head.startswith(b"<?xml ") or not sep:
        raise ValueError("expected an XML declaration on the first line")
    pi = f'<?xml-stylesheet type="text/xsl" href="{html.escape(href)}"?>'.encode()
    return head + sep + pi + sep + rest


def source_id(source: SourceRef) -> str:
    """atom:id for atom:source: the origin feed's id, else its URL, else one derived from name."""
    for candidate in (source.feed_id, source.feed_url):
        if (
            candidate
            and _ABSOLUTE_URI.fullmatch(candidate)
            and not candidate.startswith("/")
            and not candidate.lower().startswith(_SCRIPT_SCHEMES)
        ):
            return candidate
    return f"tag:feedhub,2024:source/{quote(source.name, safe='')}"


def chosen_related(view: EntryView, max_related: int) -> tuple[RelatedLink, ...]:
    """The related links shown for an entry: the N most relevant, then newest first.

    Upstream orders by relevance; the box shows them by date like a news site does
    (shared/reference). Ties on date fall back to article id so the order is total.
    """
    # Published without tracking parameters (issue 18): the box links to the story.
    top = [replace(r, url=without_trackers(r.url)) for r in view.related if is_web_url(r.url)]
    top = top[:max_related]
    return tuple(sorted(top, key=lambda r: (utc(r.published), r.article_id), reverse=True))


def related_html(related: Sequence[RelatedLink]) -> str:
    """The "Related News" box appended to the content (readers ignore rel="related")."""
    if not related:
        return ""
    items = "".join(
        f'<li><a href="{html.escape(r.url)}">{html.escape(r.title)}</a>'
        f" — {format_day(r.published)}</li>"
        for r in related
    )
    return f"<h3>Related News</h3><ul>{items}</ul>"


def copies_html(copies: Sequence[CopyRef]) -> str:
    """'Also reported by: A, B', each linked (to http(s) URLs only)."""
    if not copies:
        return ""
    parts = [
        f'<a href="{html.escape(without_trackers(c.url))}">{html.escape(c.source_title)}</a>'
        if is_web_url(c.url)
        else html.escape(c.source_title)
        for c in copies
    ]
    return f"<p>Also reported by: {', '.join(parts)}</p>"


def _content_html(view: EntryView, related: Sequence[RelatedLink], site: SiteInfo) -> str:
    a = view.article
    # Content and summary arrive sanitized from the parse stage: embed them as they are.
    body = a.content or a.summary or f"<p>{html.escape(a.title)}</p>"
    return (
        body + related_html(related) + copies_html(view.copies) + follow_html(site, view.story_id)
    )


class _EntryExtras(BaseEntryExtension):
    """Writes the entry's <link>s and <source> onto the lxml element feedgen builds.

    Why: feedgen 1.0.0 drops rel/type/hreflang/title/length from entry <link> elements
    (lkiesow/python-feedgen#135, unfixed: the loop variable shadows the link dict), so related
    links would come out as extra alternates (invalid Atom, readers open the wrong URL); and its
    atom:source has no atom:id. The extension hook is feedgen's public, documented way to add
    elements to an entry, unlike its private _create_atom or re-parsing its output, so this
    keeps working whether or not the bug is fixed: we never hand links to feedgen at all.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []
        self.source: SourceRef | None = None

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        # Un-namespaced names on purpose: feedgen builds the whole tree that way and declares
        # the Atom namespace as the default on <feed>, so these serialize as Atom elements.
        for attrs in self.links:
            etree.SubElement(entry, "link", {k: xml_safe(v) for k, v in attrs.items()})
        if self.source is not None:
            src = etree.SubElement(entry, "source")
            etree.SubElement(src, "id").text = source_id(self.source)
            etree.SubElement(src, "title").text = xml_safe(self.source.title or self.source.name)
            # xml_safe as for entry links: a URL stored before http_url refused control
            # characters may still carry them, and lxml refuses those.
            if is_web_url(self.source.link):
                href = xml_safe(self.source.link or "")
                etree.SubElement(src, "link", {"rel": "alternate", "href": href})
            if is_web_url(self.source.feed_url):
                href = xml_safe(self.source.feed_url or "")
                etree.SubElement(src, "link", {"rel": "self", "href": href})
        return entry


class _ArchiveMarker(BaseExtension):
    """Adds <fh:archive/> to an RFC 5005 archive document."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        etree.SubElement(feed, f"{{{FH_NS}}}archive")
        return feed


def _entry(view: EntryView, site: SiteInfo, max_related: int) -> FeedEntry:
    a = view.article
    fe = FeedEntry()
    fe.register_extension("feedhub", _EntryExtras, atom=True, rss=False)
    extras: _EntryExtras = fe.feedhub  # type: ignore[attr-defined]
    fe.id(entry_id(view))
    fe.title(xml_safe(a.title) or "(untitled)")  # atom:title is required, even if empty upstream
    fe.published(utc(a.published, "published"))
    fe.updated(utc(a.updated, "updated"))  # set explicitly: feedgen defaults it to now()
    # Entries copied out of this feed stay attributed; with no upstream author the feed's
    # author applies (RFC 4287 §4.2.1), written out so every entry carries one.
    for name in [n for n in a.authors if n.strip()] or [site.author]:
        fe.author(name=xml_safe(name))
    for term in dict.fromkeys(c for c in a.categories if c.strip()):
        fe.category(term=xml_safe(term))
    if a.summary and a.content:
        fe.summary(xml_safe(a.summary), type="html")
    related = chosen_related(view, max_related)
    fe.content(xml_safe(_content_html(view, related, site)), type="html")
    link = public_url(a.url, a.canonical_url)
    if is_web_url(link):
        extras.links.append({"rel": "alternate", "type": "text/html", "href": link or ""})
    for r in related:
        extras.links.append({"rel": "related", "href": r.url, "title": r.title})
    if view.story_id is not None:
        extras.links.append({
            "rel": "related", "type": "application/atom+xml", "title": FOLLOW_TITLE,
            "href": story_feed_url(site, view.story_id),
        })
    extras.source = view.source
    return fe


def sort_newest_first(entries: Sequence[EntryView]) -> list[EntryView]:
    """Newest published first; article id breaks ties so the order never depends on input."""
    return sorted(entries, key=lambda e: (utc(e.article.published), e.article.id), reverse=True)


def render_topic_feed(
    site: SiteInfo,
    topic: TopicInfo,
    entries: Sequence[EntryView],
    *,
    archive: ArchiveLinks | None = None,
    max_related: int = DEFAULT_MAX_RELATED,
    empty_updated: datetime = EPOCH,
) -> bytes:
    """Render a topic's subscription document (or, with ``archive.self_url``, an archive one).

    ``updated`` is the newest entry date (``empty_updated`` when there are none), so the bytes
    depend on the input only.
    """
    views = sort_newest_first(entries)
    fg = FeedGenerator()
    fg.id(feed_url(site, topic))  # archives share the logical feed's id (RFC 5005 §4)
    fg.title(xml_safe(topic.title))
    if topic.subtitle:
        fg.subtitle(xml_safe(topic.subtitle))
    fg.author(name=xml_safe(site.author))
    fg.generator("feedhub", version=__version__)
    newest = [max(utc(v.article.updated), utc(v.article.published)) for v in views]
    fg.updated(max(newest) if newest else utc(empty_updated))
    self_url = archive.self_url if archive and archive.self_url else feed_url(site, topic)
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=site.base_url, rel="alternate", type="text/html")
    if site.websub_hub:
        fg.link(href=site.websub_hub, rel="hub")
    if archive is not None:
        if archive.current:
            fg.link(href=archive.current, rel="current", type="application/atom+xml")
        if archive.prev_archive:
            fg.link(href=archive.prev_archive, rel="prev-archive", type="application/atom+xml")
        if archive.next_archive:
            fg.link(href=archive.next_archive, rel="next-archive", type="application/atom+xml")
        if archive.is_archive:
            fg.register_extension("fh", _ArchiveMarker, None, atom=True, rss=False)
    for view in views:
        # order="append": feedgen's add_entry() prepends by default.
        fg.add_entry(_entry(view, site, max_related), order="append")
    document = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return with_stylesheet(document, stylesheet_href(site))


TOP_DIR = "top"  # top stories: top/<topic>.atom under the output folder


def top_path(slug: str) -> str:
    """A topic's top-stories feed, relative to the output folder."""
    return f"{TOP_DIR}/{slug}.atom"


def top_feed_url(site: SiteInfo, topic: TopicInfo) -> str:
    """URL of a topic's top-stories feed; also its atom:id."""
    return site.base_url + top_path(topic.slug)


def render_story_feed(
    site: SiteInfo,
    story: StoryInfo,
    entries: Sequence[EntryView],
    *,
    max_related: int = DEFAULT_MAX_RELATED,
) -> bytes:
    """A story's feed: its articles (one entry per dedupe cluster), newest first, titled
    by the story; ``rel="self"`` is ``stories/<id>.atom``."""
    topic = TopicInfo(
        story_path(story.id).removesuffix(".atom"),
        # A title of control characters alone is empty in XML (a hypothesis example of
        # tests/test_safety.py): atom:title is required.
        xml_safe(story.title).strip() or "(untitled story)",
        "Every article of this story, newest first",
    )
    return render_topic_feed(site, topic, entries, max_related=max_related)


def sources_html(item: TopStory) -> str:
    """"N sources: A, B" of a top story."""
    n = len(item.sources)
    names = ", ".join(html.escape(t) for t in item.sources)
    return f"<p><strong>{n} source{'s' if n != 1 else ''}</strong>: {names}</p>"


def render_top_feed(
    site: SiteInfo,
    topic: TopicInfo,
    items: Sequence[TopStory],
    *,
    max_related: int = DEFAULT_MAX_RELATED,
    empty_updated: datetime = EPOCH,
) -> bytes:
    """A topic's top stories, in the order given (most outlets first): one entry per story
    showing its representative article, how many outlets covered it and its feed.

    The entry keeps the representative's atom:id (one article, one id in every feed:
    issue 18), so a reader who read it in the topic feed does not get it twice."""
    fg = FeedGenerator()
    fg.id(top_feed_url(site, topic))
    fg.title(xml_safe(f"Top stories: {topic.title}"))
    fg.subtitle(xml_safe(f"The stories of {topic.title} covered by the most outlets lately"))
    fg.author(name=xml_safe(site.author))
    fg.generator("feedhub", version=__version__)
    dates = [max(utc(i.view.article.updated), utc(i.view.article.published)) for i in items]
    fg.updated(max(dates) if dates else utc(empty_updated))
    fg.link(href=top_feed_url(site, topic), rel="self", type="application/atom+xml")
    fg.link(href=site.base_url, rel="alternate", type="text/html")
    for item in items:
        view = replace(item.view, story_id=item.story_id if item.followable else None)
        fe = _entry(view, site, max_related)
        related = chosen_related(view, max_related)
        fe.content(
            xml_safe(sources_html(item) + _content_html(view, related, site)), type="html"
        )
        fg.add_entry(fe, order="append")
    document = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return with_stylesheet(document, stylesheet_href(site))
