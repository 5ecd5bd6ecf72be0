"""HTML pages for local (publisher-side) articles, so their URLs under base_url resolve.

Articles from a folder source get ``{base_url}articles/<source>/<slug>.html`` as their URL
(parse/folder.py); this renders that page, with the same Related News box as the feed.
"""

from __future__ import annotations

import html

from feedhub.publish.atom import related_html
from feedhub.publish.style import CSS
from feedhub.publish.text import format_day, xml_safe
from feedhub.publish.views import EntryView, SiteInfo

ARTICLES_DIR = "articles/"


def page_path(site: SiteInfo, url: str | None) -> str | None:
    """The output-relative path of a local article's page, or None for other articles."""
    prefix = site.base_url + ARTICLES_DIR
    if not url or not url.startswith(prefix) or not url.endswith(".html"):
        return None
    rel = url[len(site.base_url) :]
    # Only our own slug shapes: no traversal, no query, nothing a feed could smuggle in.
    # Folder slugs may keep subfolders (articles/<source>/2024/tram-line.html).
    parts = rel.split("/")
    if len(parts) < 3 or any(p in ("", ".", "..") or "\\" in p for p in parts):
        return None
    if any(c in rel for c in "?#%\0"):
        return None
    return rel


def render_article_page(site: SiteInfo, view: EntryView) -> bytes:
    """A readable page: title, date, authors, the (already sanitized) body, Related News."""
    a = view.article
    title = html.escape(xml_safe(a.title))
    byline = ", ".join(html.escape(xml_safe(x)) for x in a.authors)
    meta = format_day(a.published) + (f" · {byline}" if byline else "")
    body = a.content or a.summary
    box = related_html(view.related) if view.related else ""
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — {html.escape(xml_safe(site.title))}</title>
<style>{CSS}</style>
</head>
<body>
<header><p><a href="{html.escape(site.base_url)}">{html.escape(xml_safe(site.title))}</a></p>
<h1>{title}</h1><p class="meta">{meta}</p></header>
<main><article class="topic">{xml_safe(body)}{box}</article></main>
</body>
</html>
"""
    return page.encode("utf-8")
