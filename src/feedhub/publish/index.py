"""Render the site's front page (index.html) and topic list (index.opml). Pure: bytes only.

Everything that came from a source or the config is escaped: titles are plain text and may
contain anything, including markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from feedhub import __version__
from feedhub.publish.atom import feed_url, top_feed_url
from feedhub.publish.style import CSS
from feedhub.publish.text import EPOCH, format_day, is_web_url, utc, xml_safe
from feedhub.publish.views import Headline, SiteInfo, TopicInfo, TopicListing

DEFAULT_MAX_HEADLINES = 10


def render_opml(site: SiteInfo, topics: Sequence[TopicInfo], *, created: datetime = EPOCH) -> bytes:
    """OPML 2.0 subscription list: one ``type="rss"`` outline per topic feed, each followed
    by one for the topic's top stories (``top/<topic>.atom``).

    ``created`` is passed in (no clock) so the same topics always give the same bytes.
    """
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = xml_safe(site.title)
    # RFC 822 date, as OPML 2.0 requires; email.utils is locale-independent, unlike strftime.
    etree.SubElement(head, "dateCreated").text = format_datetime(utc(created), usegmt=True)
    etree.SubElement(head, "ownerName").text = xml_safe(site.author)
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    for topic in topics:
        attrs = {
            "type": "rss",  # OPML 2.0 uses "rss" for any feed format, Atom included
            "text": xml_safe(topic.title),
            "title": xml_safe(topic.title),
            "xmlUrl": feed_url(site, topic),
            "htmlUrl": f"{site.base_url}#{topic.slug}",
        }
        if topic.subtitle:
            attrs["description"] = xml_safe(topic.subtitle)
        etree.SubElement(body, "outline", attrs)
        top = f"Top stories: {topic.title}"
        etree.SubElement(body, "outline", {
            "type": "rss",
            "text": xml_safe(top),
            "title": xml_safe(top),
            "xmlUrl": top_feed_url(site, topic),
            "htmlUrl": f"{site.base_url}#{topic.slug}",
        })
    return etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True)


def _headline(h: Headline) -> str:
    title = html.escape(xml_safe(h.title) or "(untitled)")
    link = f'<a href="{html.escape(h.url or "")}">{title}</a>' if is_web_url(h.url) else title
    day = utc(h.published)
    meta = f'<time datetime="{day.date().isoformat()}">{format_day(day)}</time>'
    if h.source_title:
        meta = f"{html.escape(xml_safe(h.source_title))} · {meta}"
    return f'<li>{link}<span class="meta">{meta}</span></li>'


def _section(site: SiteInfo, listing: TopicListing, max_headlines: int) -> str:
    t = listing.topic
    href = html.escape(feed_url(site, t))
    top = html.escape(top_feed_url(site, t))
    heads = sorted(listing.headlines, key=lambda h: utc(h.published), reverse=True)
    items = "\n".join(_headline(h) for h in heads[:max_headlines])
    parts = [
        f'<section class="topic" id="{html.escape(t.slug)}">',
        f"<h2><span>{html.escape(xml_safe(t.title))}</span>"
        f'<a class="feed" href="{href}" type="application/atom+xml">Atom feed</a>'
        f'<a class="feed" href="{top}" type="application/atom+xml">Top stories</a></h2>',
    ]
    if t.subtitle:
        parts.append(f'<p class="subtitle">{html.escape(xml_safe(t.subtitle))}</p>')
    parts.append(f'<ul class="headlines">\n{items}\n</ul>' if items else "<p>No articles yet.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def render_index_html(
    site: SiteInfo,
    listings: Sequence[TopicListing],
    *,
    max_headlines: int = DEFAULT_MAX_HEADLINES,
) -> bytes:
    """The front page: every topic with its latest headlines (newest first) and feed link,
    plus feed autodiscovery links and the OPML outline link. Inline CSS, no JavaScript."""
    title = html.escape(xml_safe(site.title))
    discovery = "\n".join(
        f'<link rel="alternate" type="application/atom+xml" '
        f'title="{html.escape(xml_safe(title))}" '
        f'href="{html.escape(url)}">'
        for li in listings
        for title, url in (
            (li.topic.title, feed_url(site, li.topic)),
            (f"Top stories: {li.topic.title}", top_feed_url(site, li.topic)),
        )
    )
    sections = "\n".join(_section(site, li, max_headlines) for li in listings)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="feedhub {html.escape(__version__)}">
<title>{title}</title>
{discovery}
<link rel="outline" type="text/x-opml" title="All topics (OPML)" href="index.opml">
<style>
{CSS}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>Subscribe to any topic in your feed reader, or import
<a href="index.opml" type="text/x-opml">all topics as OPML</a>.</p>
</header>
<main>
{sections or "<p>No topics yet.</p>"}
</main>
<footer>Published by {html.escape(xml_safe(site.author))} with feedhub {html.escape(__version__)}.
</footer>
</body>
</html>
"""
    return page.encode("utf-8")
