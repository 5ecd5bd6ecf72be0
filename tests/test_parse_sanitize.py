"""The house HTML allowlist, HTML → text, and the small normalization helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feedhub.parse.feedparser_fixes import defuse_entities
from feedhub.parse.normalize import (
    HTML_MAX,
    cap_html,
    clamp_date,
    from_any_date,
    http_url,
    make_guid,
    names,
)
from feedhub.parse.sanitize import clean_html, text_to_html, to_text

BASE = "https://site.example/news/"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ('<p onclick="x()" style="color:red" class="c" id="i">t</p>', "<p>t</p>"),
        ("<p>a<!--[if IE]><script>alert(1)</script><![endif]-->b</p>", "<p>ab</p>"),
        ("<script>alert(1)</script><style>p{}</style>ok", "ok"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<img>"),
        ('<iframe src="https://e.example/"></iframe><form><input>f</form>', "f"),
        ('<object data="x.swf"></object><embed src="y.swf">', ""),
        ('<svg><script>alert(1)</script><a href="https://e.example/">s</a></svg>', ""),
        (
            '<a href="../up">u</a>',
            '<a href="https://site.example/up" rel="noopener noreferrer">u</a>',
        ),
        ('<img src="//cdn.example/i.png">', '<img src="https://cdn.example/i.png">'),
        (
            '<a href="mailto:a@b.example">m</a>',
            '<a href="mailto:a@b.example" rel="noopener noreferrer">m</a>',
        ),
        (
            "<table><tfoot><tr><td>f</td></tr></tfoot></table>",
            "<table><tfoot><tr><td>f</td></tr></tfoot></table>",
        ),
    ],
)
def test_clean_html(dirty: str, clean: str) -> None:
    assert clean_html(dirty, BASE) == clean


def test_relative_urls_without_an_http_base_are_dropped() -> None:
    assert clean_html('<a href="x.html">x</a>', None) == '<a rel="noopener noreferrer">x</a>'
    # nh3 would happily produce file: links from a file: base.
    assert clean_html('<img src="x.png">', "file:///srv/feed.xml") == "<img>"


def test_to_text() -> None:
    assert to_text("<p>One.</p><p>Two &amp; <b>th</b>ree</p><script>x</script>") == (
        "One. Two & three"
    )
    assert to_text("  a\n\t b  ") == "a b"
    assert to_text("") == ""


def test_text_to_html() -> None:
    assert text_to_html("a < b\n\n\nc & d") == "<p>a &lt; b</p><p>c &amp; d</p>"
    assert text_to_html("x\r\ny", single_lines=True) == "<p>x</p><p>y</p>"


def test_cap_html_keeps_markup_whole() -> None:
    html = "<p>" + "<b>bold</b> & " * 200_000 + "</p>"
    out = cap_html(html)
    assert len(out) <= HTML_MAX
    assert out.endswith("</p>")
    assert clean_html(out) == out  # still well-formed, already clean


def test_http_url() -> None:
    assert http_url("story.html", BASE) == "https://site.example/news/story.html"
    assert http_url("javascript:alert(1)", BASE) is None
    assert http_url("data:text/html,x", BASE) is None
    assert http_url("mailto:x@y.example", BASE) is None
    assert http_url("relative-only") is None
    assert http_url("https://[bad") is None
    assert http_url("https://a.example/\nx") is None


def test_dates() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    assert from_any_date("2024-03-05T14:30:00+01:00") == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert from_any_date(datetime(2024, 1, 1, 5, 0)) == datetime(2024, 1, 1, 5, 0, tzinfo=UTC)
    east = timezone(timedelta(hours=9))
    assert from_any_date(datetime(2024, 1, 1, 9, 0, tzinfo=east)) == datetime(
        2024, 1, 1, tzinfo=UTC
    )
    assert from_any_date(12345) is None and from_any_date("") is None
    assert clamp_date(now + timedelta(days=2), now) is None
    assert clamp_date(now + timedelta(hours=23), now) == now + timedelta(hours=23)
    assert clamp_date(None, now) is None


def test_guid_fallbacks() -> None:
    assert make_guid("  id-1 ", "https://u.example/", "t", "c") == "id-1"
    assert make_guid("", "https://u.example/", "t", "c") == "https://u.example/"
    one = make_guid(None, None, "t", "<p>c</p>")
    assert one.startswith("sha1:")
    assert one == make_guid(None, None, "t", "<p>c</p>")
    assert one != make_guid(None, None, "t", "<p>d</p>")
    long_id = make_guid("x" * 5_000, None, "t", "c")
    assert long_id.startswith("sha1:") and len(long_id) == 45


def test_names() -> None:
    assert names([" Ann  Lee ", "ann lee", "", None, "Bo"]) == ("Ann Lee", "Bo")
    assert len(names(f"n{i}" for i in range(100))) == 50
    assert len(names(["y" * 1_000])[0]) <= 200


def test_defuse_entities_leaves_ordinary_documents_alone() -> None:
    plain = b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>'
    assert defuse_entities(plain) is plain
    netscape = b'<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "x.dtd"><rss/>'
    assert defuse_entities(netscape) == netscape


def test_defuse_entities_in_utf16() -> None:
    doc = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaaaa">]><r/>'
    out = defuse_entities(doc.encode("utf-16"))
    assert b"<!ENTITY" not in out and b'encoding="utf-8"' in out
