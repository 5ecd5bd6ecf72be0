"""Dedupe through the real path: three outlets' feeds over HTTP → fetch → publish.

Every merge case ends as one entry per topic feed (with "Also reported by"), every
keep-apart case as separate entries; refetching and `dedupe --rebuild` keep the clusters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from sqlalchemy import create_engine, select

from feedhub.store.schema import articles, sources
from tests.support.httpserver import HttpServer, Reply
from tests.test_dedupe_texts import (
    BRIEFING_MONDAY,
    BRIEFING_TITLE,
    BRIEFING_TUESDAY,
    FERRY,
    FERRY_OTHER,
    FERRY_OTHER_TITLE,
    FERRY_TITLE,
    LIBRARY,
    LIBRARY_TITLE,
    ORCHARD,
    ORCHARD_TITLE,
    html,
)

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 5, 6, 8, tzinfo=UTC)

AMERICAN = [p.replace("organised", "organized").replace("neighbourhood", "neighborhood")
            .replace("honour", "honor").replace("theatre", "theater")
            .replace("favourite", "favorite").replace("colour", "color") for p in LIBRARY]
SYNDICATED = ("<p>By Ada Quill</p>" + html(FERRY)
              + "<p><em>This story was first published by the Daily.</em></p>")


def item(title: str, body: str, link: str, hours: int, guid: str | None = None) -> str:
    return (f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
            f"<guid isPermaLink='false'>{escape(guid or link)}</guid>"
            f"<pubDate>{format_datetime(T0 + timedelta(hours=hours))}</pubDate>"
            f"<description>{escape(body)}</description></item>")


def rss(name: str, items: list[str]) -> bytes:
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>{name}</title><link>https://{name}.example/</link>"
            f"<description>{name}</description>{''.join(items)}</channel></rss>").encode()


FEEDS = {
    "daily": [
        item(FERRY_TITLE, html(FERRY), "https://daily.example/ferry", 0),
        item(LIBRARY_TITLE, html(LIBRARY), "https://daily.example/library", 1),
        item(BRIEFING_TITLE, html(BRIEFING_MONDAY), "https://daily.example/briefing-1", 2),
        item(ORCHARD_TITLE, html(ORCHARD), "https://daily.example/frost", 3, "shared-guid"),
    ],
    "wire": [
        # syndicated copy under another URL, recased headline, byline and trailer added
        item(FERRY_TITLE.upper(), SYNDICATED, "https://wire.example/2024/ferry", 5),
        # British vs American spelling
        item(LIBRARY_TITLE, html(AMERICAN), "https://wire.example/library", 4),
        # same headline, different text
        item(BRIEFING_TITLE, html(BRIEFING_TUESDAY), "https://wire.example/briefing", 2),
        # an independent write-up of the same event
        item(FERRY_OTHER_TITLE, html(FERRY_OTHER), "https://wire.example/ferry-back", 6),
        # the same guid as another source's item is no evidence by itself
        item("Harbour dues rise", "<p>Harbour dues rise by a tenth from June, the port "
             "authority said, citing dredging costs.</p>", "https://wire.example/dues", 7,
             "shared-guid"),
    ],
    "agg": [
        # the same URL with tracking parameters, http and www: a teaser of the daily's story
        item(FERRY_TITLE, "<p>The ferry is back.</p>",
             "http://www.daily.example/ferry/?utm_source=rss&utm_medium=feed&fbclid=x", 9),
    ],
}
EXPECTED_STORIES = {  # title in the topic feed → sources carrying the story
    FERRY_TITLE: {"daily", "wire", "agg"},
    LIBRARY_TITLE: {"daily", "wire"},
    ORCHARD_TITLE: {"daily"},
    FERRY_OTHER_TITLE: {"wire"},
    "Harbour dues rise": {"wire"},
}


@pytest.fixture
def site(tmp_path: Path):
    with HttpServer() as srv:
        for name, items in FEEDS.items():
            srv.route(f"/{name}.xml", Reply(body=rss(name, items)))
        cfg = tmp_path / "feedhub.yaml"
        cfg.write_text("\n".join([
            "store: data/feedhub.db",
            "output: {dir: out}",
            "sources:",
            *(f"  - {{name: {n}, url: '{srv.url(f'/{n}.xml')}', title: {n.title()}}}"
              for n in FEEDS),
            "topics:",
            "  - {name: all, title: Everything, sources: [daily, wire, agg]}",
            "  - {name: islands, title: Islands, keywords: [ferry, island]}",
        ]) + "\n")
        yield cfg


def clusters(cfg: Path) -> dict[tuple[str, str], int]:
    engine = create_engine(f"sqlite:///{cfg.parent / 'data' / 'feedhub.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(sources.c.name, articles.c.guid, articles.c.cluster_id,
                                   articles.c.id).join(sources)).all()
    engine.dispose()
    ids = {r.id: (r.name, r.guid) for r in rows}
    return {(r.name, r.guid): ids[r.cluster_id] for r in rows}


def entries(path: Path) -> dict[str, str]:
    root = etree.parse(str(path)).getroot()
    out: dict[str, str] = {}
    for e in root.findall(f"{ATOM}entry"):
        out[e.findtext(f"{ATOM}title")] = e.findtext(f"{ATOM}content") or ""
    return out


def test_each_story_is_one_entry_per_topic_and_hard_negatives_stay_apart(site, cli) -> None:
    r = cli("-c", str(site), "fetch", "--publish")
    assert r.returncode == 0 and not r.stderr, r.stderr
    out = site.parent / "out"
    everything = entries(out / "all.atom")
    root = etree.parse(str(out / "all.atom")).getroot()
    titles = [e.findtext(f"{ATOM}title") for e in root.findall(f"{ATOM}entry")]
    assert sorted(titles) == sorted([*EXPECTED_STORIES, BRIEFING_TITLE, BRIEFING_TITLE])
    ferry = everything[FERRY_TITLE]
    also = ferry.split("Also reported by", 1)[1]
    assert "Wire" in also and "Agg" in also
    assert "Also reported by" in everything[LIBRARY_TITLE]
    for title in (ORCHARD_TITLE, FERRY_OTHER_TITLE, "Harbour dues rise"):
        assert "Also reported by" not in everything[title]
    islands = entries(out / "islands.atom")
    assert FERRY_TITLE in islands and FERRY_OTHER_TITLE in islands
    assert FERRY_TITLE.upper() not in islands
    # the Related News box never links to a copy: only to stories' representatives
    copies = ("wire.example/2024/ferry", "wire.example/library", "www.daily.example")
    for content in everything.values():
        box = content.split("<h3>Related News</h3>", 1)[1] if "Related News" in content else ""
        box = box.split("Also reported by", 1)[0]
        assert not any(c in box for c in copies), box
    assert "daily.example/ferry" not in everything[FERRY_TITLE].split("Also reported", 1)[0]

    first = clusters(site)
    ferry_cluster = first[("daily", "https://daily.example/ferry")]
    assert ferry_cluster == ("daily", "https://daily.example/ferry")  # earliest represents
    assert first[("wire", "https://wire.example/2024/ferry")] == ferry_cluster
    assert first[("agg", "http://www.daily.example/ferry/?utm_source=rss&utm_medium=feed"
                         "&fbclid=x")] == ferry_cluster
    assert first[("wire", "https://wire.example/library")] == ("daily",
                                                                "https://daily.example/library")
    assert first[("wire", "https://wire.example/briefing")] == ("wire",
                                                                 "https://wire.example/briefing")
    assert first[("wire", "shared-guid")] == ("wire", "shared-guid")

    # Refetch (new process, forced re-parse) and rebuild: the same clusters.
    engine = create_engine(f"sqlite:///{site.parent / 'data' / 'feedhub.db'}")
    with engine.begin() as conn:
        conn.execute(sources.update().values(body_hash=None, etag=None, last_modified=None))
    engine.dispose()
    assert cli("-c", str(site), "fetch").returncode == 0
    assert clusters(site) == first
    r = cli("-c", str(site), "dedupe", "--rebuild")
    assert r.returncode == 0, r.stderr
    assert clusters(site) == first
    r = cli("-c", str(site), "duplicates")
    assert r.returncode == 0 and "wire.example/2024/ferry" in r.stdout
