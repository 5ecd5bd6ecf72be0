"""OPML 2.0 for sources: read a subscription list, write the configured sources.

(Topic feeds' own ``index.opml`` is rendered by ``publish``.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from feedhub.config import Source
from feedhub.model import SourceInfo, SourceKind


class OpmlError(Exception):
    """The file is not OPML we can read; one line."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    title: str
    url: str
    html_url: str | None = None


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Every outline with an ``xmlUrl``, nested folders included, in document order."""
    # No entity expansion, no DTD, no network: OPML files come from anywhere.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise OpmlError(f"not well-formed XML: {e}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        # libxml2 expands internal entities in attribute values whatever the parser
        # options say; OPML never needs a DTD, so refuse it (entity bombs).
        raise OpmlError("a DOCTYPE with declarations is not allowed in OPML")
    if etree.QName(root).localname.lower() != "opml":
        raise OpmlError(f"root element is <{etree.QName(root).localname}>, not <opml>")
    feeds: list[OpmlFeed] = []
    for el in root.iter("{*}outline", "outline"):
        attrs = {k.lower(): v for k, v in el.attrib.items()}
        url = (attrs.get("xmlurl") or "").strip()
        if url:
            title = (attrs.get("title") or attrs.get("text") or url).strip()
            feeds.append(OpmlFeed(title=title, url=url, html_url=attrs.get("htmlurl")))
    return feeds


def sources_to_opml(
    title: str, sources: Sequence[Source], known: Mapping[str, SourceInfo] | None = None
) -> bytes:
    """OPML 2.0 with one ``type="rss"`` outline per feed source (a local feed file as a
    file:// URL), named as people know it: the configured title, else the feed's own title
    from the store (``known``), the slug only when neither is there.

    Folder sources are left out: a folder of article files is not a feed a reader could
    subscribe to (its articles are published in the topic feeds).
    """
    known = known or {}
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_esc(title)} sources</title></head>",
        "  <body>",
    ]
    for s in sources:
        if s.kind is SourceKind.FOLDER:
            continue
        url = s.url if s.kind is SourceKind.HTTP else Path(s.url).as_uri()
        info = known.get(s.name)
        label = s.title or (info.title.strip() if info else "") or s.name
        attrs = f"text={quoteattr(label)} title={quoteattr(label)} xmlUrl={quoteattr(url)}"
        if info and info.link and info.link.startswith(("http://", "https://")):
            attrs += f" htmlUrl={quoteattr(info.link)}"
        lines.append(f'    <outline type="rss" {attrs}/>')
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
