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

# html5ever (inside nh3) takes time quadratic in how deeply elements nest: 40,000 nested
# <div>s (200 KB) took 10 s per clean, and one entry is cleaned several times (content,
# summary, title fallback), so one 10 MB feed could hold a parse worker for hours. Like
# Chromium's HTML parser (which stops nesting at 512), tags deeper than this are dropped,
# their text kept, before nh3 sees the fragment. Real articles nest a few dozen deep.
MAX_DEPTH = 512
# [^<>]: a tag never runs past the next "<", so an unclosed "<a<a<a…" is linear, not quadratic.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*>")
# Tags that never add depth: void elements, and those the parser closes by itself when a
# sibling starts (feeds often leave <p>, <li>, <td> … open).
_FLAT: frozenset[str] = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
        "param", "source", "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "tbody",
        "thead", "tfoot", "option", "optgroup", "rb", "rt", "rp", "rtc", "caption",
        "colgroup", "html", "head", "body",
    }
)  # fmt: skip

_WS = re.compile(r"\s+")
# Lone surrogates: JSON "\ud800" escapes and YAML "\ud800" escapes decode to them. Nothing
# downstream can encode them (nh3, SQLite and lxml all raise): one in a JSON Feed title
# failed the whole source in nh3, and one in an author name crashed the store write.
_SURROGATE = re.compile("[\ud800-\udfff]")
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|br|li|ul|ol|dd|dt|dl|h[1-6]|tr|td|th|table|blockquote|pre|hr|section"
    r"|article|header|footer|figure|figcaption)\b",
    re.IGNORECASE,
)


_USERINFO = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*@")


def strip_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part: credentials in a link must never be
    published (a private link pasted into an item, or a feed URL used as the base)."""
    m = _USERINFO.match(url)
    if m is None:
        return url
    authority_end = m.end()
    return url[: m.start() + len(m.group(1) or "")] + "//" + url[authority_end:]


def _no_userinfo(tag: str, attr: str, value: str) -> str:
    """nh3's attribute filter: every kept URL attribute loses its userinfo."""
    return strip_userinfo(value) if "@" in value else value


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
        relative = ("rewrite_with_base", strip_userinfo(base))
    return nh3.Cleaner(
        tags=set(TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        url_relative=relative,
        strip_comments=True,
        link_rel="noopener noreferrer",
        attribute_filter=_no_userinfo,
    )


def flatten_deep(fragment: str) -> str:
    """``fragment`` without the tags that nest deeper than ``MAX_DEPTH`` (text is kept).

    A tag count, not a parse: end tags are matched by depth, not by name, which is exact
    for well-formed markup and close enough for the rest — only depth past 512 is cut.
    """
    if fragment.count("<") <= MAX_DEPTH:
        return fragment
    depth = excess = 0
    drop: list[tuple[int, int]] = []
    for m in _TAG.finditer(fragment):
        if m.group(2).lower() in _FLAT or m.group(0).endswith("/>"):
            continue
        if not m.group(1):  # a start tag
            if depth < MAX_DEPTH:
                depth += 1
            else:
                excess += 1
                drop.append(m.span())
        elif excess:
            excess -= 1
            drop.append(m.span())
        elif depth:
            depth -= 1
    if not drop:
        return fragment
    parts, last = [], 0
    for start, end in drop:
        parts.append(fragment[last:start])
        last = end
    parts.append(fragment[last:])
    return "".join(parts)


def no_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (see ``_SURROGATE``)."""
    # isascii() is O(1) (a flag of the str object) and ASCII holds no surrogate: skips 60k
    # regex calls per 200 benchmark feeds (0.07 s).
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def clean_html(fragment: str, base: str | None = None) -> str:
    """Sanitize an HTML fragment with the house allowlist; relative URLs resolve to ``base``."""
    if not fragment:
        return ""
    return _cleaner(base).clean(flatten_deep(no_surrogates(fragment)))


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
    fragment = no_surrogates(fragment)
    spaced = _BLOCK_TAG.sub(r" \g<0>", fragment) if "<" in fragment else fragment
    text = html.unescape(_TEXT_CLEANER.clean(flatten_deep(spaced)))
    return collapse(text)


def collapse(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends (and drop surrogates:
    names, ids and plain titles all pass through here)."""
    return _WS.sub(" ", no_surrogates(text)).strip()


def text_to_html(text: str, *, single_lines: bool = False) -> str:
    """Escape plain text into ``<p>`` paragraphs split on blank lines.

    With ``single_lines`` every non-empty line is its own paragraph (wire copy, which puts
    one paragraph per line). Lines inside a paragraph are joined with a space.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n") if single_lines else re.split(r"\n[ \t]*\n", text)
    paragraphs = (collapse(block) for block in blocks)
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)
