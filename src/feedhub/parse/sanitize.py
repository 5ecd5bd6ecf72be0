"""The one HTML allowlist for everything feedhub publishes, plus HTML → plain text.

Every piece of HTML that leaves the parse stage goes through :func:`clean_html`, whatever
produced it (feedparser, JSON Feed, Markdown, local HTML files). feedparser's own sanitizer
keeps HTML comments, including ``<!--[if IE]><script>…<![endif]-->`` conditional comments
that old browsers executed, so its output is cleaned again here (nh3 strips comments).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import urlsplit

import nh3

# nh3's default tag set minus image maps (<area href> is a second, rarely needed link
# channel), plus table footers, which the default forgets.
TAGS: frozenset[str] = frozenset((nh3.ALLOWED_TAGS - {"area", "map"}) | {"tfoot"})

# Removed together with their content: their text is code or page furniture, not article
# text. Must be disjoint from TAGS (nh3 raises otherwise).
DROP_WITH_CONTENT: frozenset[str] = frozenset(
    {"script", "style", "title", "template", "iframe", "object", "embed", "applet", "head"}
)

# nh3's defaults minus nothing dangerous; no on* handlers, no style, no id/class (they
# would collide with the reader's page).
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"title", "lang", "dir"},
}
ATTRIBUTES["a"] = {"href", "hreflang"}
ATTRIBUTES["img"] = {"src", "alt", "width", "height", "align"}

# data: is allowed nowhere (it can carry HTML/SVG with script); javascript: and every other
# scheme are dropped by not being listed.
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})

_WS = re.compile(r"\s+")
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|br|li|ul|ol|dd|dt|dl|h[1-6]|tr|td|th|table|blockquote|pre|hr|section"
    r"|article|header|footer|figure|figcaption)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=512)
def _cleaner(base: str | None) -> nh3.Cleaner:
    """A cleaner that resolves relative URLs against ``base`` (or drops them without one).

    Cached per base: one feed reuses one cleaner for all its entries.
    """
    # A relative URL in published HTML would point at feedhub's own host, so without an
    # http(s) base it is removed rather than passed through. nh3 does not re-check the
    # scheme of a rewritten URL (a file: base yields file: links), hence the check here.
    relative: str | tuple[str, str] = "deny"
    if base and urlsplit(base).scheme.lower() in ("http", "https"):
        relative = ("rewrite_with_base", base)
    return nh3.Cleaner(
        tags=set(TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        url_relative=relative,
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


def clean_html(fragment: str, base: str | None = None) -> str:
    """Sanitize an HTML fragment with the house allowlist; relative URLs resolve to ``base``."""
    if not fragment:
        return ""
    return _cleaner(base).clean(fragment)


_TEXT_CLEANER = nh3.Cleaner(
    tags=set(), clean_content_tags=set(DROP_WITH_CONTENT), attributes={}, link_rel=None
)


def to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags stripped, entities unescaped, whitespace collapsed.

    Used for titles, author names and excerpts, which are stored as plain text.
    """
    if not fragment:
        return ""
    # Block boundaries would otherwise glue words together ("end.</p><p>Next"); inline
    # tags get no space ("<b>W</b>ord" stays one word).
    spaced = _BLOCK_TAG.sub(r" \g<0>", fragment) if "<" in fragment else fragment
    text = html.unescape(_TEXT_CLEANER.clean(spaced))
    return collapse(text)


def collapse(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def text_to_html(text: str, *, single_lines: bool = False) -> str:
    """Escape plain text into ``<p>`` paragraphs split on blank lines.

    With ``single_lines`` every non-empty line is its own paragraph (wire copy, which puts
    one paragraph per line). Lines inside a paragraph are joined with a space.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n") if single_lines else re.split(r"\n[ \t]*\n", text)
    paragraphs = (collapse(block) for block in blocks)
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)
