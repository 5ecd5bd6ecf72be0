"""A folder of local article files (the publisher side) → ``ParsedFeed``.

Markdown (.md/.markdown), HTML (.html/.htm) and plain-text wire stories (.txt), each with
optional YAML front matter. One bad file never fails the folder: it yields an article with
a warning, and only empty files are skipped.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import markdown

from feedhub.model import Article, LocalFile, ParsedFeed, readable_name
from feedhub.parse import normalize as n
from feedhub.parse.frontmatter import split_front_matter
from feedhub.parse.sanitize import text_to_html
from feedhub.util.time import utc

_KINDS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".txt": "txt"}
_MD_HEADING = re.compile(r"\A\s*#[ \t]+(.+?)[ \t#]*(?:\n|\Z)")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_HTML_BODY = re.compile(r"<body[^>]*>(.*?)(?:</body>|\Z)", re.IGNORECASE | re.DOTALL)


def parse_article_folder(
    files: Sequence[LocalFile], *, base_url: str, source_name: str, now: datetime
) -> ParsedFeed:
    """Parse a snapshot of a folder source; articles come out sorted by path."""
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    folder_url = f"{base_url}articles/{quote(source_name, safe='')}/"
    candidates = sorted(
        (f for f in files if _kind(f.path) and f.body.strip()), key=lambda f: f.path
    )
    slugs = _unique_slugs([f.path for f in candidates])
    problems: list[str] = []
    articles: list[Article] = []
    for f in candidates:
        article, warning = _article(f, url=f"{folder_url}{slugs[f.path]}.html", now=now)
        articles.append(article)
        if warning:
            problems.append(f"{f.path}: {warning}")
    if n.http_url(base_url) is None:
        problems.insert(0, f"base_url {base_url!r} is not an absolute http(s) URL")
    return ParsedFeed(
        version="folder",
        title=readable_name(source_name),
        link=n.http_url(base_url),
        articles=tuple(articles),  # deduped by guid in parse/__init__.py
        warning=n.one_line("; ".join(problems), 1_000) if problems else None,
    )


def _kind(path: str) -> str | None:
    """The file kind, or None for files that are not articles (images, hidden files)."""
    p = PurePosixPath(path)
    if any(part.startswith(".") for part in p.parts):
        return None  # .git, editor swap files, .DS_Store
    return _KINDS.get(p.suffix.lower())


def _article(f: LocalFile, *, url: str, now: datetime) -> tuple[Article, str | None]:
    """One file → (Article, warning or None)."""
    warnings: list[str] = []
    try:
        text = f.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Wire copy and old exports are often windows-1252; decoding never fails this way.
        text = f.body.decode("cp1252", "replace")
        warnings.append("not UTF-8, read as windows-1252")
    fm = split_front_matter(text.replace("\r\n", "\n"))
    if fm.warning:
        warnings.append(fm.warning)
    meta = fm.meta
    kind = _kind(f.path)
    title = n.plain_title(_text(meta.get("title")), is_html=False)
    body = fm.body[: n.HTML_MAX]
    if kind == "md":
        heading = _MD_HEADING.match(body)
        if heading and not title:
            title = n.plain_title(heading.group(1), is_html=False)
            body = body[heading.end() :]  # shown as the title; not twice
        content = n.cap_html(markdown.markdown(body, extensions=["extra"]), url)
    elif kind == "html":
        found = _HTML_TITLE.search(body) or _HTML_H1.search(body)
        if found and not title:
            title = n.plain_title(found.group(1), is_html=True)
        inner = _HTML_BODY.search(body)
        content = n.cap_html(inner.group(1) if inner else body, url)
    else:
        if not title:
            lines = body.strip().split("\n", 1)
            title = n.plain_title(lines[0], is_html=False)
            body = lines[1] if len(lines) > 1 else ""
        # Wire copy puts one paragraph per line and never a blank line between them.
        content = n.cap_html(text_to_html(body, single_lines="\n\n" not in body.strip()))
    summary = n.cap_html(text_to_html(_text(meta.get("summary"))))
    title = n.fallback_title(title, summary, content, url)

    published = n.from_any_date(meta.get("date"))
    if "date" in meta and published is None:
        warnings.append(f"unreadable date {str(meta.get('date'))[:40]!r}, used file time")
    published = published or utc(f.mtime, naive_is_utc=True)
    updated = n.from_any_date(meta.get("updated") or meta.get("lastmod"))
    raw_id = meta.get("id")
    guid = str(raw_id) if isinstance(raw_id, str | int) and str(raw_id).strip() else ""
    article = Article(
        guid=n.make_guid(guid or f"file:{f.path}", None, title, content),
        title=title,
        url=n.http_url(url),
        summary=summary,
        content=content,
        authors=n.names(_list(meta.get("authors") or meta.get("author"))),
        categories=n.names(_list(meta.get("tags") or meta.get("categories"))),
        published=n.clamp_date(published, now),
        updated=n.clamp_date(updated or published, now),
        path=f.path,
    )
    return article, "; ".join(warnings) or None


def _text(value: object) -> str:
    """A scalar front-matter value as text (YAML may give numbers or dates for a title)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _list(value: Any) -> list[str]:
    """A YAML list, or a comma-separated string, as a list of strings."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, str):
        return value.split(",")
    return []


def _slug(path: str) -> str:
    """URL-safe slug of a relative path without its extension; folders are kept as "/".

    Derived from the path only, so editing a file never moves its URL.
    """
    parts = []
    for part in PurePosixPath(path).with_suffix("").parts:
        ascii_ = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
        if slug and slug not in (".", ".."):
            parts.append(slug)
    return "/".join(parts) or "article"


def _unique_slugs(paths: Sequence[str]) -> dict[str, str]:
    """Slugs per path; paths whose slugs collide ("a.md" vs "A.md") get a path-hash suffix.

    The suffix depends only on the path, so each colliding file keeps its URL for as long as
    the collision exists.
    """
    slugs = {p: _slug(p) for p in paths}
    counts = Counter(slugs.values())
    for p, s in slugs.items():
        if counts[s] > 1:
            slugs[p] = f"{s}-{hashlib.sha1(p.encode()).hexdigest()[:8]}"
    return slugs
