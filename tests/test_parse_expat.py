"""The buffered expat driver (parse/expat_driver.py) changes feedparser's speed, not its result."""

from __future__ import annotations

import subprocess
import sys
import xml.sax

import feedparser
import feedparser.api
import pytest

from feedhub.parse import expat_driver, install_fixes
from tests.test_corpus import CORPUS, corpus_files

install_fixes()  # the driver under test: importing feedhub.parse patches nothing


def test_feedparser_gets_the_buffered_driver() -> None:
    install_fixes()  # what parse_xml_feed does before its first parse
    drivers = feedparser.api.PREFERRED_XML_PARSERS
    assert drivers[0] == expat_driver.__name__
    parser = xml.sax.make_parser(drivers)
    assert isinstance(parser, expat_driver.BufferedExpatParser)
    parser.reset()
    assert parser._parser.buffer_text  # type: ignore[attr-defined]


def result(r: feedparser.FeedParserDict) -> tuple[object, ...]:
    return r.feed, r.entries, r.bozo, r.get("version")


def test_buffered_and_plain_expat_parse_the_corpus_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [p for p in corpus_files() if p.suffix in (".xml", ".rdf", ".atom", ".rss")]
    if not files:
        pytest.skip(f"feedparser corpus not downloaded: run `make corpus` (looked in {CORPUS})")
    bodies = [f.read_bytes() for f in files]
    buffered = [feedparser.parse(b) for b in bodies]
    monkeypatch.setattr(
        feedparser.api, "PREFERRED_XML_PARSERS",
        [d for d in feedparser.api.PREFERRED_XML_PARSERS if d != expat_driver.__name__],
    )
    plain = [feedparser.parse(b) for b in bodies]
    differ = [
        f.name for f, a, b in zip(files, plain, buffered, strict=True) if result(a) != result(b)
    ]
    assert len(files) > 2000 and differ == []


_PATCH_STATE = """
import feedparser.api, feedparser.mixin
mixin = feedparser.mixin._FeedParserMixin
def state():
    return (
        "feedhub.parse.expat_driver" in feedparser.api.PREFERRED_XML_PARSERS,
        getattr(mixin._sync_author_detail, "_feedhub_guard", False),
        getattr(mixin.handle_charref, "_feedhub_guard", False),
    )
from datetime import UTC, datetime
import feedhub.parse
print(state())
feedhub.parse.parse_feed(
    b'<rss version="2.0"><channel><title>t</title></channel></rss>',
    url="https://x.example/feed", now=datetime.now(UTC),
)
print(state())
"""


def test_patches_come_from_one_call_not_from_importing() -> None:
    # A fresh process: this one has installed them already.
    out = subprocess.run(
        [sys.executable, "-c", _PATCH_STATE], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["(False, False, False)", "(True, True, True)"]
