"""A strict lxml fast path for well-formed RSS 2.0/0.9x, RSS 1.0 (RDF) and Atom 1.0 (#17).

:func:`parse` reads a document with lxml (entities, DTDs and the network off) and returns
the same result dict feedparser would give ``feed.py`` — only the keys ``feed.py`` reads, with
the values feedparser 6.0.14 computes for them — or None whenever the document holds
anything it does not reproduce exactly. The caller then uses feedparser as shipped, so a
None costs one lxml parse and never changes a result.

Exactness comes from copying feedparser's dispatch, not from guessing at formats: every
element is named as feedparser names it (standard namespace prefix, lower-cased
``prefix_local``), and an element is accepted only when this module models feedparser's
handler for it, or when feedparser has no handler for it and the key it would store is
one ``feed.py`` never reads. The text of each value goes through the steps of feedparser's
``pop()`` (strip, relative-URI join, the UTF-8-read-as-Latin-1 repair, the cp1252 map).
Declined, among others: any DOCTYPE or entity declaration (no expansion is ever possible
here: billion laughs, XXE), encodings but UTF-8, xml:base but an absolute one on the root
or on a summary/content, inline XHTML, base64 or ``src`` content, two summaries or
contents in one entry, ``<source>``/``<textInput>``/``<contributor>``, ``media:description``
and iTunes elements (feedparser maps them into summaries, titles and tags), and anything
that is not well-formed. The one lxml parser per thread never loads a DTD or the network.
Differential tests (tests/test_parse_fastxml.py) compare it with feedparser on every file
of feedparser's corpus, real feeds and the benchmark's generated formats.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import feedparser
from feedparser.api import StrictFeedParser
from feedparser.datetimes import _parse_date
from feedparser.encodings import parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin
from lxml import etree

from feedhub.parse.feedparser_fixes import AUTHOR_MAX

log = logging.getLogger(__name__)

# The feedparser whose handlers were read for this module; any other version keeps the
# fast path off (feed.py then always uses feedparser).
AUDITED_VERSIONS = frozenset({"6.0.14"})
_AUDITED = feedparser.__version__ in AUDITED_VERSIONS

_LOCAL = threading.local()  # one parser per thread: parse workers may be threads (-j 1)


def _parser() -> etree.XMLParser:
    """This thread's strict parser: no entity expansion, no DTD, no network, no huge trees."""
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,  # feedparser ignores comments and PIs, joins the text around
            remove_pis=True,
            collect_ids=False,
        )
    return parser


_ATOM10 = "http://www.w3.org/2005/atom"
_RSS10 = "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
# feedparser's namespace table (lower-cased URI → standard prefix), as track_namespace uses it.
_MATCH: dict[str, str] = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_STANDARD_PREFIXES = frozenset(_MATCH.values()) - {""}
_HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_looks_like_html: Callable[[str], bool] = _FeedParserMixin.looks_like_html

_XML_10 = re.compile(rb"<\?xml\s+version\s*=\s*([\"'])1\.0\1")
_XML_DECL = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*([\"'])([^\"']*)\1")
_XMLNS = re.compile(rb"xmlns(?::([^\s=>/]+))?\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[" + "".join(map(chr, sorted(_cp1252))) + "]")
# feedparser's _sync_author_detail e-mail pattern, verbatim.
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
# Media types feedparser reads as XML in the encoding the document declares (RFC 3023).
_APPLICATION_XML = (
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
)

_PUBLISHED = frozenset({"pubdate", "published", "issued"})
_UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date"})
_PERSON = frozenset({"author", "dc_creator", "managingeditor"})
_CATEGORY = frozenset({"category", "dc_subject"})
# Feed-level elements whose feedparser handlers only touch keys feed.py never reads
# (subtitle, rights, language, dates, generator, publisher, the feed's tags).
_INERT_FEED = frozenset(
    {
        "description", "subtitle", "tagline", "rights", "copyright", "language",
        "dc_language", "dc_rights", "dc_publisher", "webmaster", "generator", "cloud",
        "category", "dc_subject", "created",
    }
    | _PUBLISHED | _UPDATED
)  # fmt: skip
# The same for entries: rights, language, publisher go to keys feed.py never reads.
_INERT_ENTRY = frozenset(
    {"rights", "copyright", "dc_rights", "language", "dc_language", "dc_publisher"}
)
# Media RSS handlers that only fill media_* keys (group and content only enclose others).
_MEDIA_INERT = frozenset(
    {
        "media_group", "media_content", "media_thumbnail", "media_credit", "media_rating",
        "media_restriction", "media_license", "media_player",
    }
)  # fmt: skip
_MEDIA_SCHEME = "http://search.yahoo.com/mrss/category_schema"
# Keys feed.py reads: an element without a feedparser handler stores its text under its
# own name, so one named like these (at any depth) would change a value.
_ENTRY_KEYS = frozenset(
    {
        "link", "links", "id", "title", "title_detail", "summary", "summary_detail", "content",
        "published_parsed", "created_parsed", "updated_parsed", "authors", "author",
        "author_detail", "tags", "feedburner_origlink", "guidislink",
    }
)  # fmt: skip
_FEED_KEYS = frozenset(
    {
        "link",
        "links",
        "id",
        "title",
        "title_detail",
        "ttl",
        "authors",
        "author",
        "author_detail",
        "guidislink",
    }
)


class _Decline(Exception):
    """The document holds something this module does not reproduce exactly."""


def _has_handler(name: str) -> bool:
    return hasattr(StrictFeedParser, "_start_" + name) or hasattr(StrictFeedParser, "_end_" + name)


def _fix(text: str) -> str:
    """The end of feedparser's ``pop()`` for a text value: UTF-8 mis-read as Latin-1
    repaired, C1 controls mapped as cp1252 (the document is UTF-8, so feedparser's
    ``self.encoding`` is "utf-8" and the repair applies)."""
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    # str.translate looks up every character (10 ms per feed of full articles): only when
    # there is a C1 control to map at all, which the map's keys are.
    return text.translate(_cp1252) if _C1.search(text) else text




def _map_type(value: str) -> str:
    """feedparser's ``map_content_type``."""
    value = value.lower()
    if value in ("text", "plain"):
        return "text/plain"
    if value == "html":
        return "text/html"
    if value == "xhtml":
        return "application/xhtml+xml"
    return value


def acceptable_bytes(body: bytes, content_type: str | None) -> bool:
    """UTF-8 (its BOM already removed), declared or defaulted so by both the XML declaration
    and the HTTP media type, and no DOCTYPE or entity declaration anywhere. White space may
    come before the root, not before an XML declaration."""
    if b"\x00" in body[:4]:  # UTF-16/32 begin with a NUL byte
        return False
    head = body.lstrip(b" \t\r\n")
    if not head.startswith(b"<") or (len(head) != len(body) and head.startswith(b"<?")):
        return False  # not markup, or a declaration after white space (not well-formed)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return False
    if body.startswith(b"<?xml") and not _XML_10.match(body):
        return False  # XML 1.1 (libxml2 reads it, expat does not) or an odd declaration
    m = _XML_DECL.match(body, 0, 200) if body.startswith(b"<?xml") else None
    if m is not None and m.group(2).lower() != b"utf-8":
        return False
    if body.startswith(b"<?xml") and m is None and b"encoding" in body[: body.find(b">")]:
        return False  # an encoding pseudo-attribute the pattern did not read
    if not content_type:
        return True  # feed.py sends feedparser no header at all: UTF-8 by default
    # feedparser's own reading of the header (case-sensitive media type, last charset).
    media, charset = parse_content_type(content_type)
    if charset and charset.lower() != "utf-8":
        return False
    if media in _APPLICATION_XML or (media.startswith("application/") and media.endswith("+xml")):
        return True
    # text/xml without a charset is us-ascii to feedparser (RFC 3023): declined.
    return bool(charset) and (
        media == "text/xml" or (media.startswith("text/") and media.endswith("+xml"))
    )


def _declarations(body: bytes) -> dict[str, str] | None:
    """Prefix → namespace URI of every xmlns attribute (the default one under ""), or None
    when the document declares something whose feedparser mapping this module does not
    follow: a prefix bound to two URIs, an unknown URI under two prefixes, a known URI under
    another standard prefix, an unknown URI under the standard prefix of a known URI also
    declared (feedparser's namespaces_in_use would lose it). A pattern over the bytes may
    also match text; that only declines more documents."""
    found: dict[str, str] = {}
    unknown: dict[str, str] = {}
    standard_used: set[str] = set()
    for m in _XMLNS.finditer(body):
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        if b"&" in raw:
            return None
        prefix = (m.group(1) or b"").decode("utf-8", "replace")
        uri = raw.decode("utf-8", "replace")
        if found.setdefault(prefix, uri) != uri and prefix:
            return None
        standard = _MATCH.get(_lower_ns(uri))
        if standard is None:
            if unknown.setdefault(uri, prefix) != prefix:
                return None
        elif prefix.lower() in _STANDARD_PREFIXES and prefix.lower() != standard:
            return None
        else:
            standard_used.add(standard)
    if any(p.lower() in standard_used for p in unknown.values()):
        return None
    return found


def _lower_ns(uri: str) -> str:
    lower = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in lower else lower


def _fp_name(tag: str, prefix: str | None) -> str:
    """feedparser's name for an element: standard prefix (or the document's own for an
    unknown namespace), "_", local name, lower-cased."""
    if tag[0] == "{":
        uri, local = tag[1:].split("}", 1)
        standard = _MATCH.get(_lower_ns(uri))
        prefix = (prefix or "") if standard is None else standard
    else:
        prefix, local = "", tag
    local = local.lower()
    return f"{prefix.lower()}_{local}" if prefix else local


class _Reader:
    """One document's walk: feedparser's state, reduced to what decides feed.py's keys."""

    def __init__(self, version: str, base: str = "") -> None:
        self.version = version
        self.base = base  # the root's xml:base: feedparser's baseuri for every element
        self.atom = version.startswith("atom")
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.title_depth = -1  # feedparser's title_depth: a later title at or below is ignored
        self.names: dict[str, str] = {}  # tag → feedparser's name, for this document

    # --- names and attributes, as feedparser's strict parser builds them -----------------

    def name(self, el: Any) -> str:
        tag = el.tag
        if not isinstance(tag, str):
            raise _Decline("entity or other special node")
        # Only an unknown namespace's name depends on the element's own prefix.
        name = self.names.get(tag)
        if name is None:
            name = _fp_name(tag, el.prefix)
            if tag[0] != "{" or _lower_ns(tag[1 : tag.index("}")]) in _MATCH:
                self.names[tag] = name
        return name

    @staticmethod
    def attrs(el: Any, *, root: bool = False) -> dict[str, str]:
        """feedparser's attribute dict; xml:base is declined except where allowed (``root``:
        the root and the summary/content elements, whose base ``detail_base`` checks)."""
        out: dict[str, str] = {}
        for key, value in el.items():
            if key[0] == "{":
                uri, local = key[1:].split("}", 1)
                prefix = _MATCH.get(_lower_ns(uri), "")
                key = f"{prefix}:{local}" if prefix else local
            key = key.lower()
            if key == "base" or (key == "xml:base" and not root):
                raise _Decline("xml:base")
            out[key] = value.lower() if key in ("rel", "type") else value
        return out

    def generic(self, el: Any, reserved: frozenset[str], *, attrs_ok: bool = True) -> None:
        """An element feedparser has no handler for, and everything inside it."""
        name = self.name(el)
        if _has_handler(name) or name in reserved or name.endswith(("_parsed", "_detail")):
            raise _Decline(f"element {name}")
        if self.attrs(el) and not attrs_ok:
            raise _Decline(f"attributes on {name}")
        for child in el:
            self.generic(child, reserved, attrs_ok=attrs_ok)

    # --- text constructs -----------------------------------------------------------------

    def text(self, el: Any, *, uri: bool = False) -> str:
        """An element's text after feedparser's ``pop()`` (no child elements allowed)."""
        if len(el):
            raise _Decline("markup inside a text element")
        raw = (el.text or "").strip()
        return _fix(_urljoin(self.base, raw) if uri and raw else raw)

    def construct(self, el: Any, default_type: str) -> tuple[str, str]:
        """(type, value) of a title/summary/content element, as push_content + pop give them."""
        attrs = self.attrs(el, root=True)  # a summary's or content's xml:base: detail_base
        if len(el) or not attrs.keys() <= {"type", "xml:lang", "xml:base"}:
            raise _Decline("text construct with markup or attributes")
        type_ = _map_type(attrs.get("type", default_type))
        if type_ not in _TEXT_TYPES:
            raise _Decline(f"content type {type_}")
        raw = (el.text or "").strip()
        if not self.atom and type_ == "text/plain" and _looks_like_html(raw):
            type_ = "text/html"
        return type_, _fix(raw)

    # --- handlers shared by feed and entry contexts -------------------------------------

    def detail_base(self, el: Any) -> str:
        """feedparser's baseuri inside a summary or content element (its ``base``).

        An own xml:base is taken when it is an absolute http(s) URL that feedparser's joins
        (onto "" or onto the root's base) leave unchanged, as WordPress writes it on every
        Atom content element; anything else is declined.
        """
        own = el.get("{http://www.w3.org/XML/1998/namespace}base")
        if own is None:
            return self.base
        if _root_base(own) != own or (self.base and _urljoin(self.base, own) != own):
            raise _Decline("xml:base")
        return own

    def title(self, ctx: dict[str, Any], el: Any, depth: int) -> None:
        if el.get("{http://www.w3.org/XML/1998/namespace}base") is not None:
            raise _Decline("xml:base on a title")
        type_, value = self.construct(el, "text/plain")
        if not -1 < self.title_depth <= depth:
            ctx["title"] = value
            ctx["title_detail"] = {"type": type_, "value": value}
        if value:
            self.title_depth = depth

    def link(self, ctx: dict[str, Any], el: Any, *, in_entry: bool) -> None:
        if len(el):
            raise _Decline("markup inside a link")
        attrs = self.attrs(el)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            attrs["href"] = _urljoin(self.base, attrs["href"])
        ctx.setdefault("links", []).append(attrs)
        if "href" in attrs:
            if attrs["rel"] == "alternate" and _map_type(attrs["type"]) in _HTML_TYPES:
                ctx["link"] = attrs["href"]
            return
        value = self.text(el, uri=True)
        if in_entry:
            value = _LINK_REF.sub(r"&\g<1>", value.replace("&amp;", "&"))
            ctx["link"] = value
            if value:
                attrs["href"] = value
        else:
            value = _LINK_REF.sub(r"&\g<1>", value)
            ctx["link"] = attrs["href"] = value

    def guid(self, ctx: dict[str, Any], el: Any) -> None:
        is_link = self.attrs(el).get("ispermalink", "true") == "true"
        value = self.text(el, uri=is_link)
        ctx["id"] = value
        if is_link:
            ctx.setdefault("link", value)

    def person(self, ctx: dict[str, Any], el: Any) -> None:
        """<author>, <dc:creator>, <managingEditor>: feedparser's author bookkeeping."""
        self.attrs(el)
        ctx.setdefault("authors", []).append({})
        own = el.text or ""
        for child in el:
            own += child.tail or ""
            name = self.name(child)
            self.attrs(child)
            if len(child):
                raise _Decline("nested markup in an author")
            if name in ("name", "email"):
                _save_author(ctx, name, (child.text or "").strip())
            elif name in ("uri", "url", "homepage"):
                _save_author(ctx, "href", self.text(child, uri=True))
            else:
                self.generic(child, _ENTRY_KEYS | _FEED_KEYS | {"name", "email"}, attrs_ok=False)
        ctx["author"] = _fix(own.strip())
        _sync_author(ctx)

    @staticmethod
    def category(ctx: dict[str, Any], el: Any, attrs: dict[str, str], value: str) -> None:
        _add_tag(
            ctx, attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label")
        )
        if not value:
            return
        tags = ctx["tags"]
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            _add_tag(ctx, value, None, None)

    def image(self, el: Any, depth: int) -> None:
        """A feed's <image>: its own dict in feedparser; only its title's depth matters."""
        self.attrs(el)
        self.title_depth = -1
        for child in el:
            name = self.name(child)
            # feedparser leaves the image at any other unprefixed element (inimage = 0).
            if name not in ("title", "link", "url", "width", "height", "description"):
                raise _Decline(f"{name} in an image")
            self.attrs(child)
            if len(child):
                raise _Decline(f"markup inside an image's {name}")
            if name == "title" and self.construct(child, "text/plain")[1]:
                self.title_depth = depth + 1

    def media(self, ctx: dict[str, Any], el: Any, depth: int) -> None:
        """A Media RSS element at ``depth``: titles, categories and keywords reach feed.py's
        keys (modelled); the others fill media_* keys only; description is declined
        (feedparser would take it for the summary)."""
        name = self.name(el)
        attrs = self.attrs(el)
        if name == "media_title":
            saved = self.title_depth  # _end_media_title restores it
            self.title(ctx, el, depth)
            self.title_depth = saved
        elif name == "media_category":
            attrs.setdefault("scheme", _MEDIA_SCHEME)
            self.category(ctx, el, attrs, self.text(el))
        elif name == "media_keywords":
            if attrs:
                raise _Decline("attributes on media:keywords")
            for term in self.text(el).split(","):
                if term.strip():
                    _add_tag(ctx, term.strip(), None, None)
        elif name in _MEDIA_INERT:
            for child in el:
                self.media(ctx, child, depth + 1)
        else:
            self.generic(el, _ENTRY_KEYS | _FEED_KEYS)

    # --- containers ----------------------------------------------------------------------

    def channel(self, container: Any, depth: int) -> None:
        """The children of <channel> or Atom's <feed> (at ``depth``)."""
        feed = self.feed
        for el in container:
            name = self.name(el)
            if name in ("item", "entry"):
                self.entry(el, depth)
            elif name == "title":
                self.title(feed, el, depth)
            elif name == "link":
                self.link(feed, el, in_entry=False)
            elif name in ("id", "guid"):
                self.guid(feed, el)
            elif name in _PERSON:
                self.person(feed, el)
            elif name == "ttl":
                if self.attrs(el):
                    raise _Decline("attributes on ttl")
                feed["ttl"] = self.text(el)
            elif name in _INERT_FEED:
                self.attrs(el)
                if len(el):
                    raise _Decline(f"markup inside {name}")
            elif name == "image":
                self.image(el, depth)
            elif name.startswith("media_"):
                self.media(feed, el, depth)
            else:
                self.generic(el, _FEED_KEYS)

    def entry(self, item: Any, depth: int) -> None:
        """One <item>/<entry> at ``depth``; its children are at ``depth + 1``."""
        e: dict[str, Any] = {}
        self.entries.append(e)
        self.title_depth = -1
        attrs = self.attrs(item)
        if "href" in attrs or "lastmod" in attrs:
            raise _Decline("CDF attributes on an item")
        if attrs.get("rdf:about"):
            e["id"] = attrs["rdf:about"]
        summaries = contents = 0
        for el in item:
            name = self.name(el)
            if name == "title":
                self.title(e, el, depth + 1)
            elif name == "link":
                self.link(e, el, in_entry=True)
            elif name in ("guid", "id"):
                self.guid(e, el)
            elif name in ("description", "summary"):
                summaries += 1
                type_, value = self.construct(
                    el, "text/html" if name == "description" else "text/plain"
                )
                e["summary"] = value
                base = self.detail_base(el)
                e["summary_detail"] = {"type": type_, "value": value, "base": base}
            elif name in ("content", "content_encoded"):
                contents += 1
                if "src" in self.attrs(el, root=True):  # xml:base: detail_base
                    raise _Decline("out-of-line content")
                type_, value = self.construct(
                    el, "text/html" if name == "content_encoded" else "text/plain"
                )
                base = self.detail_base(el)
                e.setdefault("content", []).append({"type": type_, "value": value, "base": base})
                e.setdefault("summary", value)
            elif name in _PUBLISHED:
                self.attrs(el)
                e["published_parsed"] = _parse_date(self.text(el))
            elif name in _UPDATED:
                self.attrs(el)
                e["updated_parsed"] = _parse_date(self.text(el))
            elif name == "created":
                self.attrs(el)
                e["created_parsed"] = _parse_date(self.text(el))
            elif name in _PERSON:
                self.person(e, el)
            elif name in _CATEGORY:
                self.category(e, el, self.attrs(el), self.text(el))
            elif name == "feedburner_origlink":
                if self.attrs(el):
                    raise _Decline("attributes on origLink")
                e["feedburner_origlink"] = self.text(el)
            elif name == "enclosure" or name in _INERT_ENTRY:
                self.attrs(el)
                if len(el):
                    raise _Decline(f"markup inside {name}")
            elif name.startswith("media_"):
                self.media(e, el, depth + 1)
            else:
                self.generic(el, _ENTRY_KEYS)
        # A second description/summary becomes content in feedparser (_summaryKey); two
        # contents, or a content before a second summary, are not modelled here.
        if summaries > 1 or contents > 1:
            raise _Decline("several summaries or contents")


def _save_author(ctx: dict[str, Any], key: str, value: str) -> None:
    """feedparser's ``_save_author``."""
    ctx.setdefault("author_detail", {})[key] = value
    _sync_author(ctx)
    ctx.setdefault("authors", [{}])[-1][key] = value


def _sync_author(ctx: dict[str, Any]) -> None:
    """feedparser's ``_sync_author_detail("author")`` behind feedhub's author guard."""
    value = ctx.get("author")
    if isinstance(value, str) and len(value) > AUTHOR_MAX:
        ctx["author"] = value[:AUTHOR_MAX]
    detail = ctx.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            ctx["author"] = f"{name} ({email})"
        elif name:
            ctx["author"] = name
        elif email:
            ctx["author"] = email
        return
    author, email = ctx.get("author"), None
    if not author:
        return
    m = _EMAIL.search(author)
    if m:
        email = m.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        ctx.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def _add_tag(ctx: dict[str, Any], term: str | None, scheme: str | None, label: str | None) -> None:
    """feedparser's ``_add_tag``."""
    tags = ctx.setdefault("tags", [])
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


def _version(root: Any, name: str, decls: dict[str, str], attrs: dict[str, str]) -> str | None:
    """feedparser's version for this root, or None for roots/namespace mixes not handled.

    feedparser takes the version from the first RSS 1.0, Atom 1.0 or default RSS 0.90
    namespace declared; a document declaring any other than its own root's is declined.
    """
    declared = {_lower_ns(u) for u in decls.values()}
    setters = declared & {_RSS10, _ATOM10}
    if decls.get("", "").lower() == _RSS090:
        setters.add(_RSS090)
    if name == "rss" and setters <= {_ATOM10}:
        if "href" in attrs or "lastmod" in attrs:
            return None
        given = attrs.get("version", "")
        fixed = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
        return fixed.get(given) or ("rss20" if given.startswith("2.") else "rss")
    if name == "rdf_rdf" and setters == {_RSS10}:
        return "rss10"
    if name == "feed" and setters == {_ATOM10} and root.tag.lower().startswith("{" + _ATOM10):
        return "atom10"
    return None


def _root_base(value: str | None) -> str | None:
    """The root's xml:base as feedparser's baseuri ("" without one), or None to decline.

    feedparser joins it onto "" at the root, then onto itself at every element
    (``make_safe_absolute_uri``); an absolute http(s) URL that both joins leave unchanged
    is the base of every element. Anything else is declined.
    """
    if value is None:
        return ""
    if not value.startswith(("http://", "https://")) or value != value.strip():
        return None
    if _urljoin("", value) != value or _urljoin(value, value) != value:
        return None
    return value


def parse(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """feedparser's result (the keys feed.py reads) for a plain, well-formed UTF-8 RSS, RDF
    or Atom 1.0 document; None for anything else, to be parsed by feedparser."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]  # feedparser drops it too
    if not _AUDITED or not acceptable_bytes(body, content_type):
        return None
    decls = _declarations(body)
    if decls is None:
        return None
    try:
        root = etree.fromstring(body, _parser())
    except (etree.LxmlError, ValueError):
        return None
    try:
        reader = _Reader("")
        name = reader.name(root)
        attrs = reader.attrs(root, root=True)
        version = _version(root, name, decls, attrs)
        base = _root_base(attrs.get("xml:base"))
        if version is None or base is None:
            return None
        reader = _Reader(version, base)
        if name == "feed":
            reader.channel(root, 2)
        else:
            for el in root:
                child = reader.name(el)
                if child == "channel":
                    channel_attrs = reader.attrs(el)
                    if "href" in channel_attrs or "lastmod" in channel_attrs:
                        return None
                    reader.channel(el, 3)
                elif child == "item":
                    reader.entry(el, 2)
                elif child == "image":
                    reader.image(el, 2)
                else:
                    reader.generic(el, _FEED_KEYS)
    except _Decline:
        return None
    except (RecursionError, MemoryError):
        return None  # feedparser's path has its own limits and messages for these
    except Exception:  # a fast-path bug must cost speed, never a source: feedparser reads it
        log.debug("fast path declined after an unexpected error", exc_info=True)
        return None
    return {"version": version, "feed": reader.feed, "entries": reader.entries, "bozo": 0}
