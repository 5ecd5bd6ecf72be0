"""The strict lxml fast path (parse/fastxml.py, #17) gives exactly the feedparser path's values.

Differential: every document the fast path accepts — from feedparser's own corpus (2,248
files), the real-world feeds, the benchmark's generated formats and hand-made edge cases —
parses to an equal ``ParsedFeed`` (every field of every article, ``warning`` too) with the
fast path and with feedparser alone (``parse_xml_feed(fast_path=False)``), under each media
type a server may send. The fast path must accept the generated RSS, RDF and Atom feeds
(else it would never run), a mutated fast path must fail the comparison, and no DOCTYPE or
entity declaration ever reaches lxml (billion laughs, XXE: feedparser's defences apply).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedhub.model import ParseError
from feedhub.parse import fastxml
from feedhub.parse.feed import parse_xml_feed
from tests.conftest import REPO
from tests.test_corpus import CORPUS, REAL_FEEDS, corpus_files
from tests.test_hostile import billion_laughs

BENCH = REPO / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # benchmarks/common.py: the benchmark's generated feeds

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
URL = "http://example.com/feeds/feed.xml"
# None: no HTTP header (a local file); the others as servers send them.
CONTENT_TYPES = (
    None,
    "application/rss+xml; charset=utf-8",
    "application/atom+xml",
    "text/xml; charset=UTF-8",
    "text/xml",
    "text/html; charset=utf-8",
    "application/xml; charset=iso-8859-1",
    "Application/RSS+XML",
    "application/rss+xml; Charset=\"UTF-8\"; charset=latin-1",
    "",
)
GENERATED_FORMATS = ("rss", "rss-teaser", "rss-full", "atom-full", "rdf")

# Hand-made documents at the edges of what the fast path models (each either accepted and
# equal, or declined).
EDGE_CASES: dict[str, bytes] = {
    "guid-not-permalink-before-link": b"""<rss version="2.0"><channel><title>T</title>
<link>http://example.com/</link><item><guid isPermaLink="false">a/b</guid>
<link>/rel?a=1&amp;amp;b=2&amp;c;=3</link><title>x &amp;amp; y</title></item></channel></rss>""",
    "guid-permalink-only": b"""<rss version="2.0"><channel><link>http://e.com/</link>
<item><guid>http:///e.com//p/1</guid><description>&lt;p&gt;Hi&lt;/p&gt;</description>
</item></channel></rss>""",
    "guid-permalink-upper": b"""<rss version="2.0"><channel><item><guid isPermaLink="TRUE">
http://e.com/1</guid></item></channel></rss>""",
    "html-in-rss-title": b"""<rss version="2.0"><channel><title>A &lt;b&gt;bold&lt;/b&gt;
</title><item><title>Caf&#xc3;&#xa9; &amp;amp; &lt;i&gt;x&lt;/i&gt;</title><title>second</title>
</item></channel></rss>""",
    "cp1252-controls": "<rss version='2.0'><channel><item><title>q\x93uote\x94 \x80</title>"
    "<category>\x96</category></item></channel></rss>".encode(),
    "authors-rss": b"""<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><managingEditor>ed@example.com (Ed)</managingEditor><item><title>t</title>
<author>jo@example.com (Jo Smith)</author><dc:creator>Ann</dc:creator><dc:creator></dc:creator>
<author>&lt;x@y.org&gt;</author></item></channel></rss>""",
    "authors-atom": b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>
<author><name>Feed Desk</name><email>desk@example.com</email></author>
<id>http://example.com/feed-id</id>
<entry><id>urn:x:1</id><title>a</title><author><email>only@example.com</email></author>
<author><name>Second</name><uri>/me</uri></author></entry>
<entry><id>urn:x:2</id><title type="html">&lt;b&gt;B&lt;/b&gt; &amp;amp;</title>
<updated>2025-01-02T03:04:05+01:00</updated><content type="text">plain
text</content><link rel="canonical" href="http://example.com/canon"/>
<link href="/alt"/><category term="" label="L"/><category term="T" scheme="s"/></entry>
</feed>""",
    "atom-id-as-link": b"""<feed xmlns="http://www.w3.org/2005/Atom"><id>http://e.com/</id>
<entry><id>http://e.com/post</id><summary>s</summary><content type="html">s</content>
<published>Tue, 10 Jun 2003 04:00:00 GMT</published></entry></feed>""",
    "categories": b"""<rss version="2.0"><channel><item><title>c</title>
<category domain="d">A</category><category domain="d">A</category><category domain="e"/>
<category>b</category><category> </category><category>a</category></item></channel></rss>""",
    "dates": b"""<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<item><title>1</title><pubDate>Sun, 06 Nov 1994 08:49:37 GMT</pubDate></item>
<item><title>2</title><pubDate>bogus</pubDate><dc:date>2004-02-28T18:14:55-08:00</dc:date></item>
<item><title>3</title><pubDate>2004-02-28</pubDate><pubDate>not a date</pubDate></item>
<item><title>4</title><pubDate>Mon, 01 Jan 2099 00:00:00 GMT</pubDate></item>
</channel></rss>""",
    "ttl-and-origlink": b"""<rss version="2.0"
xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><channel><ttl> 45 </ttl>
<item><title>o</title><feedburner:origLink>http://orig.example.com/1</feedburner:origLink>
</item></channel></rss>""",
    "unknown-namespaces": b"""<rss version="2.0" xmlns:x="http://example.org/x"
xmlns:atom="http://www.w3.org/2005/Atom"><channel><atom:link rel="self" href="http://e/f"/>
<x:thing a="1"><x:title>not a title</x:title></x:thing><item><title>u</title>
<x:link>http://nope/</x:link><comments>http://e/c</comments></item></channel></rss>""",
    "namespace-prefix-clash": b"""<rss version="2.0" xmlns:dc="http://example.org/notdc">
<channel><item><title>t</title><dc:creator>Who</dc:creator></item></channel></rss>""",
    "rdf-channel-after-items": b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/"><item rdf:about="http://e/1"><title>i</title></item>
<channel rdf:about="http://e/"><title>Chan</title><link>http://e/</link></channel></rdf:RDF>""",
    "xml-base": b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://b.example/">
<entry><id>x</id><link href="rel"/><content type="html">&lt;a href="p"&gt;p&lt;/a&gt;</content>
</entry></feed>""",
    "xml-base-nested": b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry xml:base="http://b/">
<id>x</id><link href="rel"/></entry></feed>""",
    "xml-base-relative": b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/dir/">
<entry><id>x</id><link href="rel"/></entry></feed>""",
    "xml-base-wordpress": b"""<?xml version="1.0" encoding="UTF-8"?><feed
xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0"
xml:lang="en-US" xml:base="https://blog.example.org/wp-atom.php"><title type="text">Blog</title>
<updated>2025-03-01T10:00:00Z</updated><link rel="alternate" type="text/html"
href="https://blog.example.org"/><id>https://blog.example.org/feed/atom/</id>
<entry><author><name>admin</name><uri>https://blog.example.org</uri></author>
<title type="html"><![CDATA[Hello &#8211; world]]></title><link rel="alternate"
type="text/html" href="https://blog.example.org/2025/03/hello/"/><id>https://blog.example.org/?p=1</id>
<updated>2025-03-01T10:00:00Z</updated><published>2025-03-01T09:00:00Z</published>
<category scheme="https://blog.example.org" term="News"/><summary type="html"><![CDATA[Hi
&#8230;]]></summary><content type="html" xml:base="https://blog.example.org/2025/03/hello/">
<![CDATA[<p><a href="rel">x</a></p>]]></content><link rel="replies" type="text/html"
href="https://blog.example.org/2025/03/hello/#comments" thr:count="0"/><thr:total>0</thr:total>
</entry></feed>""",
    "xml-base-content-relative": b"""<feed xmlns="http://www.w3.org/2005/Atom"
xml:base="http://a.example/"><entry><id>x</id><content type="html" xml:base="sub/">c</content>
</entry></feed>""",
    "xhtml-content": b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>hi</p></div></content>
</entry></feed>""",
    "two-descriptions": b"""<rss version="2.0"><channel><item><description>one</description>
<description>two</description></item></channel></rss>""",
    "latin1-declared": '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0">'
    "<channel><item><title>caf\xe9</title></item></channel></rss>".encode("latin-1"),
    "xml-1.1": b'<?xml version="1.1"?><rss version="2.0"><channel><item><title>t</title>'
    b"</item></channel></rss>",
    "leading-space": b"\n  <rss version='2.0'><channel><item><title>w</title></item>"
    b"</channel></rss>",
    "space-before-declaration": b"\n<?xml version='1.0'?><rss version='2.0'><channel><item>"
    b"<title>w</title></item></channel></rss>",
    "bom": b"\xef\xbb\xbf<rss version='2.0'><channel><item><title>b</title></item></channel></rss>",
    "undefined-entity": b"<rss version='2.0'><channel><item><title>&nbsp;</title></item>"
    b"</channel></rss>",
    "not-well-formed": b"<rss version='2.0'><channel><item><title>x</item></channel></rss>",
    "no-version": b"<rss><channel><item><title>v</title></item></channel></rss>",
    "rss091": b"<rss version='0.91'><channel><item><title>v</title></item></channel></rss>",
    "media-title": b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><item><media:title>m</media:title></item></channel></rss>""",
    "media-rss": b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<media:thumbnail url="http://e/t.jpg"/><item><media:title>Media first</media:title>
<title>Item</title><media:group><media:content url="http://e/v.mp4"><media:title>deep</media:title>
<media:category>Cat A</media:category></media:content><media:thumbnail url="http://e/t.jpg"/>
</media:group><media:keywords>one, two,,three</media:keywords>
<media:category scheme="s">Cat A</media:category></item>
<item>
<media:title type="html">&lt;b&gt;only media&lt;/b&gt;</media:title></item></channel></rss>""",
    "images": b"""<rss version="2.0"><channel><image><title>Logo</title><url>http://e/l.png</url>
<link>http://e/</link></image><title>After image</title><item><title>i</title></item></channel>
</rss>""",
    "rdf-image-before-channel": b"""<rdf:RDF
xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<image rdf:about="http://e/l.png"><title>Logo</title><url>http://e/l.png</url></image>
<channel rdf:about="http://e/"><title>Chan</title></channel><item rdf:about="http://e/1">
<title>i</title><dc:rights xmlns:dc="http://purl.org/dc/elements/1.1/">c</dc:rights></item>
</rdf:RDF>""",
    "media-description": b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><item><description>d</description><media:content url="http://e/v">
<media:description>caption</media:description></media:content></item></channel></rss>""",
    "html-page": b"<html><head><title>x</title></head><body>no feed</body></html>",
}

HOSTILE: dict[str, bytes] = {
    "billion-laughs": billion_laughs(),
    "xxe-file": b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&passwd;</title><item><title>&passwd;</title></item>
</channel></rss>""",
    "external-dtd": b"""<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">
<rss version="2.0"><channel><item><title>&evil;</title></item></channel></rss>""",
    "parameter-entity": b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<rss version="2.0"><channel><item><title>t</title></item></channel></rss>""",
    # A tiny internal entity: feedparser may expand it (defuse_entities keeps those), the
    # fast path never sees it.
    "doctype-after-comment": b"""<!-- hi --><!DOCTYPE rss [<!ENTITY e "expanded">]>
<rss version="2.0"><channel><item><title>&e;</title></item></channel></rss>""",
}


def generated(fmt: str, feeds: int = 6, entries: int = 20) -> dict[str, bytes]:
    from common import generate_feeds

    return dict(generate_feeds(feeds, entries, fmt=fmt).bodies)


def outcome(body: bytes, content_type: str | None, *, fast: bool) -> tuple[object, ...]:
    try:
        parsed = parse_xml_feed(body, url=URL, content_type=content_type, now=NOW, fast_path=fast)
    except ParseError as exc:
        return ("error", str(exc))
    return ("ok", parsed)


def compare(docs: Iterable[tuple[str, bytes]]) -> tuple[list[str], int, int]:
    """(what differs, accepted, declined) over ``docs`` × CONTENT_TYPES."""
    differ: list[str] = []
    accepted = declined = 0
    for name, body in docs:
        for ct in CONTENT_TYPES:
            if fastxml.parse(body, ct) is None:
                declined += 1
                continue
            accepted += 1
            fast, slow = outcome(body, ct, fast=True), outcome(body, ct, fast=False)
            if fast != slow:
                differ.append(f"{name} [{ct}]: {describe(fast, slow)}")
    return differ, accepted, declined


def describe(fast: tuple[object, ...], slow: tuple[object, ...]) -> str:
    """The first differing field, for a readable failure."""
    if fast[0] != "ok" or slow[0] != "ok":
        return f"{fast!r:.200} != {slow!r:.200}"
    a, b = fast[1], slow[1]
    for field in type(a).__dataclass_fields__:
        if field != "articles" and getattr(a, field) != getattr(b, field):
            return f"{field}: {getattr(a, field)!r:.200} != {getattr(b, field)!r:.200}"
    if len(a.articles) != len(b.articles):
        return f"{len(a.articles)} != {len(b.articles)} articles"
    for i, (x, y) in enumerate(zip(a.articles, b.articles, strict=True)):
        for field in type(x).__dataclass_fields__:
            if getattr(x, field) != getattr(y, field):
                fx, fy = getattr(x, field), getattr(y, field)
                return f"article {i} {field}: {fx!r:.200} != {fy!r:.200}"
    return "?"


def files_of(paths: Iterable[Path]) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(REPO / ".cache")), p.read_bytes()) for p in paths]


def test_generated_feeds_are_accepted_and_equal() -> None:
    for fmt in GENERATED_FORMATS:
        bodies = generated(fmt)
        for name, body in bodies.items():
            for ct in (None, "application/rss+xml; charset=utf-8", "application/atom+xml"):
                assert fastxml.parse(body, ct) is not None, (fmt, name, ct)
        differ, accepted, _ = compare((f"{fmt}/{n}", b) for n, b in bodies.items())
        assert differ == []
        assert accepted >= len(bodies) * 3


def test_edge_cases_equal_or_declined() -> None:
    differ, _, _ = compare(EDGE_CASES.items())
    assert differ == []
    # Not vacuous: most of the hand-made feeds are taken by the fast path.
    taken = {n for n, b in EDGE_CASES.items() if fastxml.parse(b, None) is not None}
    assert {
        "guid-not-permalink-before-link",
        "authors-rss",
        "authors-atom",
        "dates",
        "categories",
        "cp1252-controls",
        "rdf-channel-after-items",
        "media-title",
        "media-rss",
        "xml-base",
        "xml-base-wordpress",
        "images",
        "rdf-image-before-channel",
    } <= taken
    assert not taken & {
        "xml-base-nested",
        "xml-base-relative",
        "xml-base-content-relative",
        "xhtml-content",
        "two-descriptions",
        "latin1-declared",
        "space-before-declaration",
        "undefined-entity",
        "not-well-formed",
        "xml-1.1",
        "media-description",
        "html-page",
    }


def test_hostile_documents_never_reach_lxml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything with a DOCTYPE or entity declaration is declined before lxml parses it."""
    calls: list[bytes] = []
    real = fastxml.etree.fromstring
    monkeypatch.setattr(
        fastxml.etree, "fromstring", lambda body, parser: calls.append(body) or real(body, parser)
    )
    for name, body in HOSTILE.items():
        for ct in CONTENT_TYPES:
            assert fastxml.parse(body, ct) is None, name
        # The feedparser path (with feedhub's entity defences) still reads them, unexpanded.
        result = outcome(body, None, fast=True)
        if result[0] == "ok":
            text = repr(result[1])
            assert "root:" not in text and "lollollollollol" not in text, name
    assert calls == []


def test_corpus_and_real_feeds_equal(capsys: pytest.CaptureFixture[str]) -> None:
    if not corpus_files() or not REAL_FEEDS.is_dir():
        pytest.skip(f"corpora not downloaded: run `make corpus` (looked in {CORPUS})")
    real = sorted(p for p in REAL_FEEDS.rglob("*") if p.is_file() and p.suffix != ".py")
    files = corpus_files() + real
    differ, accepted, declined = compare(files_of(files))
    assert differ == []
    per_file = sum(fastxml.parse(p.read_bytes(), None) is not None for p in files)
    with capsys.disabled():
        print(
            f"\nfast path: {per_file} of {len(files)} corpus and real-feed files accepted "
            f"(no content type); {accepted} accepted, {declined} declined over "
            f"{len(CONTENT_TYPES)} content types"
        )
    assert per_file > 300  # the fast path is exercised on many odd documents, not a few


@pytest.mark.parametrize(
    "mutation",
    ["guid", "date", "title-type", "author", "link-fixup"],
)
def test_a_broken_fast_path_fails_the_comparison(
    mutation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation sanity: each deliberate error shows up as a difference."""
    reader = fastxml._Reader
    if mutation == "guid":
        original_guid = reader.guid
        monkeypatch.setattr(
            reader,
            "guid",
            lambda self, ctx, el: original_guid(self, ctx, el) or ctx.update(id=ctx["id"] + "x"),
        )
    elif mutation == "date":
        monkeypatch.setattr(fastxml, "_parse_date", lambda text: None)
    elif mutation == "title-type":
        monkeypatch.setattr(fastxml, "_looks_like_html", lambda text: False)
    elif mutation == "author":
        monkeypatch.setattr(fastxml, "_sync_author", lambda ctx: None)
    elif mutation == "link-fixup":
        monkeypatch.setattr(fastxml, "_LINK_REF", fastxml.re.compile("(?!)(x)"))
    docs = [(n, b) for fmt in GENERATED_FORMATS for n, b in generated(fmt, 2, 5).items()]
    docs += list(EDGE_CASES.items())
    differ, _, _ = compare(docs)
    assert differ, mutation
