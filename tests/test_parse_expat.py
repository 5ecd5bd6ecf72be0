"""The buffered expat driver (parse/expat_driver.py) changes feedparser's speed, not its result."""

from __future__ import annotations

import xml.sax

import feedparser
import feedparser.api
import pytest

from feedhub.parse import expat_driver, parse_feed  # noqa: F401 — importing installs the driver
from tests.test_corpus import CORPUS, corpus_files


def test_feedparser_gets_the_buffered_driver() -> None:
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
