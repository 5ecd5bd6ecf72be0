"""JSON Feed 1.0 and 1.1 → ``ParsedFeed`` (feedparser 6.0 cannot read JSON Feed).

Spec: https://www.jsonfeed.org/version/1.1/ — 1.1 replaced ``author`` with ``authors``;
both are read, at feed and item level, so 1.0 and 1.1 documents parse alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from feedhub.model import Article, ParsedFeed, ParseError
from feedhub.parse import normalize as n
from feedhub.parse.sanitize import text_to_html

_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}


def parse_json_feed(body: bytes, *, url: str, now: datetime) -> ParsedFeed:
    """Parse a JSON Feed document; raise ParseError when it is not one."""
    try:
        # JSON is UTF-8 (RFC 8259); utf-8-sig also accepts a leading BOM.
        doc = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError("not a JSON Feed: body is not UTF-8") from exc
    except RecursionError as exc:
        raise ParseError("not a JSON Feed: JSON nested too deeply") from exc
    except ValueError as exc:
        raise ParseError(n.one_line(f"not a JSON Feed: invalid JSON: {exc}")) from exc
    if not isinstance(doc, dict):
        raise ParseError("not a JSON Feed: top level is not an object")
    raw_version = doc.get("version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("not a JSON Feed: no items list")
    warnings: list[str] = []
    version = _VERSIONS.get(raw_version) if isinstance(raw_version, str) else None
    if version is None:
        # Unknown/missing version but the right shape: read it as the newest we know.
        version = "json11"
        warnings.append(f"unknown JSON Feed version {str(raw_version)[:80]!r}")

    home = n.http_url(doc.get("home_page_url"), url)
    feed_url = n.http_url(doc.get("feed_url"), url)
    # The spec names no base for relative item URLs; the site's home page is the natural
    # one (as a channel <link> is for RSS), then the feed's own URL.
    base = home or feed_url or url
    feed_authors = _authors(doc)

    articles: list[Article] = []
    skipped = 0
    for item in items:
        if isinstance(item, dict):
            articles.append(_article(item, base=base, feed_authors=feed_authors, now=now))
        else:
            skipped += 1
    if skipped:
        warnings.append(f"{skipped} item(s) are not objects and were skipped")

    return ParsedFeed(
        version=version,
        title=n.plain_title(_str(doc.get("title")), is_html=False),
        link=home,
        feed_id=feed_url,
        articles=tuple(articles),  # deduped by guid in parse/__init__.py
        warning="; ".join(warnings) or None,
    )


def _article(
    item: Mapping[str, Any], *, base: str, feed_authors: tuple[str, ...], now: datetime
) -> Article:
    """One JSON Feed item → Article."""
    # external_url is where a link-blog item points; it is the article URL only when the
    # item has no page of its own (it is not a canonical URL of this item).
    url = n.http_url(item.get("url"), base) or n.http_url(item.get("external_url"), base)
    html = _str(item.get("content_html"))
    text = _str(item.get("content_text"))
    content = n.cap_html(html, base) if html else n.cap_html(text_to_html(text[: n.HTML_MAX]))
    # summary is plain text in the spec.
    summary = n.cap_html(text_to_html(_str(item.get("summary"))[: n.HTML_MAX]))
    # title is plain text in the spec, but publishers put entities and tags in it; treating
    # it as HTML turns "&amp;" into "&" and drops stray tags from the stored plain title.
    title = n.fallback_title(
        n.plain_title(_str(item.get("title")), is_html=True), summary, content, url
    )
    raw_id = item.get("id")
    if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)  # 1.0 feeds in the wild use numbers; the spec says string
    published = n.from_any_date(item.get("date_published"))
    updated = n.from_any_date(item.get("date_modified"))
    tags = item.get("tags")
    return Article(
        guid=n.make_guid(raw_id, url, title, content or summary),
        title=title,
        url=url,
        summary=summary,
        content=content,
        authors=_authors(item) or feed_authors,
        categories=n.names(tags if isinstance(tags, list) else ()),
        published=n.clamp_date(published or updated, now),
        updated=n.clamp_date(updated or published, now),
    )


def _authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Names from ``authors`` (1.1) or ``author`` (1.0); entries without a name are skipped."""
    people = obj.get("authors")
    if not isinstance(people, list):
        people = [obj.get("author")]
    return n.names(p.get("name") for p in people if isinstance(p, dict))


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
