"""The publishing half end to end: real feed files → `feedhub fetch --publish` → feeds/,
with the store on SQLite and on PostgreSQL (the same bytes come out of both).

Checks what a subscriber gets: valid Atom (the shared RFC 4287 kit), feedparser reading it
cleanly with `entry.link` the article, topic membership by the rules, Related News boxes
that match their links, RFC 5005 archives, and files rewritten only when they change.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from tests.conftest import BACKENDS, REPO, backend_url, pg_database, run_cli
from tests.test_publish_helpers import validate_atom

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://127.0.0.1:8080/"
SAMPLES = REPO / "config" / "samples"
REFERENCE_TITLE = "Russian Military Instructors Arrive in Niger with Air Defense System"
REFERENCE_BOX = [  # newest first, as on the reference page (shared/reference/README.md)
    ("U.S. Troop Withdrawal from Niger Kicks off", "Jun 11, 2024"),
    ("UNHCR Official Warns of Escalating Humanitarian Crisis in Sahel Region", "May 30, 2024"),
    ("Niger and U.S. Finalize Agreement on American Troop Withdrawal by September", "May 20, 2024"),
]

CONFIG = """\
site: {{title: Test desk, base_url: "{base}", author: Test desk}}
store: data/feedhub.db
output: {{dir: out, entries_per_feed: {per_feed}}}
related: {{count: 3, window: 90d}}
sources:
  - {{name: wire, url: samples/wire.xml, topics: [sahel]}}
  - {{name: courier, url: samples/courier.atom}}
  - {{name: observer, url: samples/observer.rdf}}
  - {{name: monitor, url: samples/monitor.json}}
  - {{name: newsroom, url: samples/articles}}
topics:
  - {{name: sahel, title: Sahel security, keywords: [Sahel, Niger, Mali, Burkina Faso, Chad]}}
  - {{name: niger, title: Niger, keywords: [Niger, Niamey], exclude: [Niger Delta]}}
  - {{name: humanitarian, title: Humanitarian, keywords: [UNHCR, refugees, humanitarian]}}
  - {{name: tech, title: Technology, keywords: [artificial intelligence, AI, software]}}
"""


def setup_site(
    tmp_path: Path, per_feed: int = 50, store_url: str | None = None, name: str = "feedhub.yaml"
) -> Path:
    """The sample feeds and a config in ``tmp_path``; ``store_url`` replaces the SQLite path."""
    if not (tmp_path / "samples").exists():
        shutil.copytree(SAMPLES, tmp_path / "samples")
    cfg = tmp_path / name
    text = CONFIG.format(base=BASE, per_feed=per_feed)
    if store_url:
        text = text.replace("store: data/feedhub.db", f'store: {{url: "{store_url}"}}')
    cfg.write_text(text)
    return cfg


def fetch_publish(cli, cfg: Path) -> None:
    r = cli("-c", str(cfg), "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stderr == "", r.stderr


def documents(out: Path) -> dict[str, Path]:
    return {str(p.relative_to(out)): p for p in sorted(out.rglob("*.atom"))}


def file_state(out: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Path]:
    """One published site per store backend (a SQLite file, then a PostgreSQL database
    through ``store: {url: postgresql://…}``), shared by the read-only checks below."""
    tmp = tmp_path_factory.mktemp("site")
    with backend_url(request.param, tmp / "data") as url:
        cfg = setup_site(tmp, store_url=None if request.param == "sqlite" else url)
        fetch_publish(run_cli, cfg)
        yield tmp / "out"


@pytest.mark.postgres
def test_postgresql_store_publishes_the_same_bytes(tmp_path: Path, cli) -> None:
    fetch_publish(cli, setup_site(tmp_path))
    with pg_database() as url:
        pg_cfg = setup_site(tmp_path, store_url=url, name="feedhub-pg.yaml")
        pg_cfg.write_text(pg_cfg.read_text().replace("dir: out,", "dir: out-pg,"))
        fetch_publish(cli, pg_cfg)

    def files(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    sqlite_files = files(tmp_path / "out")
    assert len(sqlite_files) > 10 and files(tmp_path / "out-pg") == sqlite_files


def test_every_document_is_valid_atom(site: Path) -> None:
    docs = list(documents(site).values())
    assert len(docs) >= 4
    validate_atom(*docs)


def test_feedparser_reads_outputs_and_entry_link_is_the_article(site: Path) -> None:
    for name, path in documents(site).items():
        d = feedparser.parse(path.read_bytes())
        assert not d.bozo, (name, d.get("bozo_exception"))
        for e in d.entries:
            alternates = [link for link in e.links if link.get("rel") == "alternate"]
            assert len(alternates) == 1, (name, e.title)
            assert e.link == alternates[0]["href"]
            related = [link for link in e.links if link.get("rel") == "related"]
            assert e.link not in {link["href"] for link in related}
            assert all(link.get("title") for link in related)  # feedgen#135 regression


def entries(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().findall(f"{ATOM}entry")


def entry_text(e: etree._Element) -> str:
    parts = [
        e.findtext(f"{ATOM}title") or "",
        e.findtext(f"{ATOM}summary") or "",
        e.findtext(f"{ATOM}content") or "",
    ]
    parts += [c.get("term", "") for c in e.findall(f"{ATOM}category")]
    return re.sub(r"<[^>]+>", " ", " ".join(parts))


def own_text(e: etree._Element) -> str:
    """The entry's text without the Related News and Also-reported sections we add."""
    return re.split(r"<h3>Related News</h3>|<p>Also reported by", entry_text(e))[0]


def test_topic_membership_follows_the_rules(site: Path) -> None:
    niger = entries(site / "niger.atom")
    assert niger
    for e in niger:
        text = own_text(e)
        assert re.search(r"\b(Niger|Niamey)\b", text), e.findtext(f"{ATOM}title")
        assert "Niger Delta" not in text
    tech = {e.findtext(f"{ATOM}title") for e in entries(site / "tech.atom")}
    sahel = {e.findtext(f"{ATOM}title") for e in entries(site / "sahel.atom")}
    assert tech and not tech & {REFERENCE_TITLE}
    assert REFERENCE_TITLE in sahel
    # every Sahel Wire item is filed under sahel (the source's forced topic)
    wire = feedparser.parse((SAMPLES / "wire.xml").read_bytes())
    wire_titles = {e.title for e in wire.entries}
    sahel_links = {
        link.get("href")
        for e in entries(site / "sahel.atom")
        for link in e.findall(f"{ATOM}link")
        if link.get("rel") == "alternate"
    }
    assert {e.link for e in wire.entries} - sahel_links <= _merged_links(site), wire_titles


def _merged_links(site: Path) -> set[str]:
    """Links of copies merged into another story (they appear under "Also reported by")."""
    out = set()
    for path in documents(site).values():
        for e in entries(path):
            content = e.findtext(f"{ATOM}content") or ""
            if "Also reported by" in content:
                tail = content.split("Also reported by", 1)[1]
                out |= set(re.findall(r'href="([^"]+)"', tail))
    return out


def test_related_news_section_matches_links_newest_first(site: Path) -> None:
    boxes = 0
    for path in documents(site).values():
        for e in entries(path):
            related = [link for link in e.findall(f"{ATOM}link") if link.get("rel") == "related"]
            # The story's feed is a related link too (issue 16), typed as a feed, and is
            # offered under its own heading, not in the box.
            follow = [k for k in related if k.get("type") == "application/atom+xml"]
            links = [(k.get("title"), k.get("href")) for k in related if k not in follow]
            content = e.findtext(f"{ATOM}content") or ""
            for k in follow:
                assert k.get("title") == "Follow this story" and k.get("href") in content
            if not links:
                assert "Related News" not in content
                continue
            boxes += 1
            section = content.split("<h3>Related News</h3>", 1)[1]
            items = re.findall(r'<a href="([^"]+)">([^<]+)</a> — (\w{3} \d{1,2}, \d{4})', section)
            assert {(_unescape(t), _unescape(h)) for h, t, _ in items} == set(links)
            dates = [_date(d) for _, _, d in items]
            assert dates == sorted(dates, reverse=True)
    assert boxes >= 10


def test_reference_article_gets_the_reference_box(site: Path) -> None:
    (entry,) = [
        e for e in entries(site / "sahel.atom") if e.findtext(f"{ATOM}title") == REFERENCE_TITLE
    ]
    section = (entry.findtext(f"{ATOM}content") or "").split("<h3>Related News</h3>", 1)[1]
    items = re.findall(r'<a href="[^"]+">([^<]+)</a> — (\w{3} \d{1,2}, \d{4})', section)
    assert items == REFERENCE_BOX


def test_index_pages(site: Path) -> None:
    html = (site / "index.html").read_text()
    for slug in ("sahel", "niger", "humanitarian", "tech"):
        assert 'type="application/atom+xml"' in html and f"{BASE}{slug}.atom" in html
    assert 'rel="outline"' in html
    opml = etree.parse(str(site / "index.opml")).getroot()
    outlines = opml.findall(".//outline")
    assert {o.get("xmlUrl") for o in outlines} == {
        f"{BASE}{top}{s}.atom"
        for s in ("sahel", "niger", "humanitarian", "tech")
        for top in ("", "top/")  # issue 16: each topic's top stories beside it
    }
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)


def test_a_story_has_one_id_in_every_feed_that_carries_it(site: Path) -> None:
    """Issue 18: readers keep one item per atom:id across subscriptions, so a story filed
    under several topics must carry the same id in each (and one id means one story)."""
    ids: dict[str, set[str]] = {}  # atom:id → the titles it names
    feeds: dict[str, set[str]] = {}  # atom:id → the documents carrying it
    for name, path in documents(site).items():
        for e in entries(path):
            ids.setdefault(e.findtext(f"{ATOM}id"), set()).add(e.findtext(f"{ATOM}title"))
            feeds.setdefault(e.findtext(f"{ATOM}id"), set()).add(name)
    assert all(len(titles) == 1 for titles in ids.values())
    titles = [t for names in ids.values() for t in names]
    assert len(titles) == len(set(titles))  # no title under two ids
    shared = [i for i, names in feeds.items() if len(names) > 1]
    assert len(shared) >= 5  # the sample stories filed under sahel and niger, for a start
    reference = next(i for i, names in ids.items() if REFERENCE_TITLE in names)
    assert {"sahel.atom", "niger.atom"} <= feeds[reference]


def test_no_published_link_carries_tracking_parameters(site: Path) -> None:
    """The monitor sample links the Observer's story with utm_source/utm_medium: published,
    it is the Observer's own address (entry link, "Also reported by", Related News, index)."""
    lake_chad = "https://westafricaobserver.example/news/2024/06/05/lake-chad-displaced-hunger"
    published = b"".join(p.read_bytes() for p in site.rglob("*") if p.is_file())
    assert lake_chad.encode() in published
    assert b"utm_" not in published


def test_a_folder_source_is_named_by_its_title(site: Path) -> None:
    """atom:source and index.html say "Newsroom", never the slug `newsroom`."""
    names = {
        src.findtext(f"{ATOM}title")
        for path in documents(site).values()
        for e in entries(path)
        if (src := e.find(f"{ATOM}source")) is not None
    }
    assert "Newsroom" in names and "newsroom" not in names
    html = (site / "index.html").read_text()
    assert "Newsroom · " in html and "newsroom · " not in html


def test_a_configured_folder_title_is_shown(tmp_path: Path, cli) -> None:
    cfg = setup_site(tmp_path)
    cfg.write_text(cfg.read_text().replace(
        "{name: newsroom, url: samples/articles}",
        "{name: newsroom, url: samples/articles, title: Our Desk & Co}",
    ))
    fetch_publish(cli, cfg)
    sources = {
        src.findtext(f"{ATOM}title")
        for e in entries(tmp_path / "out" / "tech.atom")
        if (src := e.find(f"{ATOM}source")) is not None
    }
    assert "Our Desk & Co" in sources
    assert "Our Desk &amp; Co · " in (tmp_path / "out" / "index.html").read_text()


def test_publishing_again_rewrites_nothing_and_a_change_only_its_topics(tmp_path, cli) -> None:
    cfg = setup_site(tmp_path)
    fetch_publish(cli, cfg)
    out = tmp_path / "out"
    before = file_state(out)
    r = cli("-c", str(cfg), "publish")
    assert r.returncode == 0 and "0 files written" in r.stdout, r.stdout + r.stderr
    assert file_state(out) == before

    # Edit one local article's body: its topics are rewritten, topics without it are not.
    article = tmp_path / "samples" / "articles" / "2024-06-18-swahili-ai-tools.md"
    article.write_text(article.read_text().replace("Swahili", "Swahili and Kiswahili", 1))
    fetch_publish(cli, cfg)
    after = file_state(out)
    rewritten = {p for p in after if after[p] != before.get(p)}
    mentions = {p for p, path in documents(out).items() if "swahili-ai-tools" in path.read_text()}
    page = "articles/newsroom/2024-06-18-swahili-ai-tools.html"
    assert {"tech.atom", page} <= rewritten
    assert rewritten - {"index.html", page} <= mentions


def test_archives_link_both_ways_and_never_change_once_closed(tmp_path, cli) -> None:
    cfg = setup_site(tmp_path, per_feed=3)
    fetch_publish(cli, cfg)
    out = tmp_path / "out"
    archives = sorted((out / "sahel").glob("*.atom"))
    assert len(archives) >= 2

    def links(path: Path) -> dict[str, str]:
        root = etree.parse(str(path)).getroot()
        return {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}

    def local(url: str) -> Path:
        assert url.startswith(BASE)
        return out / url[len(BASE) :]

    sub = links(out / "sahel.atom")
    assert local(sub["prev-archive"]) == archives[-1]
    for i, path in enumerate(archives):
        rels = links(path)
        root = etree.parse(str(path)).getroot()
        assert root.find("{http://purl.org/syndication/history/1.0}archive") is not None
        assert rels["current"] == f"{BASE}sahel.atom"
        assert local(rels["self"]) == path
        if i > 0:
            assert local(rels["prev-archive"]) == archives[i - 1]
            assert local(links(archives[i - 1])["next-archive"]) == path
        else:
            assert "prev-archive" not in rels
    # The newest archive is the open one (the month straddling the subscription edge).
    assert "next-archive" not in links(archives[-1])
    closed = {p: p.read_bytes() for p in archives[:-1]}

    # A newer story arrives: the subscription document moves on, closed archives stay.
    extra = tmp_path / "samples" / "articles" / "2024-08-02-niger-new.md"
    extra.write_text(
        "---\ntitle: Niger junta names new cabinet\ndate: 2024-08-02\n---\n"
        "Niger's military government named a new cabinet in Niamey on Friday.\n"
    )
    fetch_publish(cli, cfg)
    assert {p: p.read_bytes() for p in archives[:-1]} == closed


def _unescape(s: str) -> str:
    import html

    return html.unescape(s)


def _date(s: str):
    from datetime import datetime

    return datetime.strptime(s, "%b %d, %Y")


def test_local_articles_get_pages_and_deleted_files_stay_deleted(tmp_path, cli) -> None:
    cfg = setup_site(tmp_path)
    fetch_publish(cli, cfg)
    out = tmp_path / "out"
    (entry,) = [
        e for e in entries(out / "sahel.atom") if e.findtext(f"{ATOM}title") == REFERENCE_TITLE
    ]
    url = next(
        link.get("href") for link in entry.findall(f"{ATOM}link") if link.get("rel") == "alternate"
    )
    assert url.startswith(f"{BASE}articles/newsroom/")
    page = (out / url[len(BASE) :]).read_text()
    assert REFERENCE_TITLE in page and "Related News" in page
    assert "U.S. Troop Withdrawal from Niger Kicks off" in page and "<script" not in page

    source_file = tmp_path / "samples" / "articles" / "2024-04-12-russian-instructors-niger.md"
    source_file.unlink()
    fetch_publish(cli, cfg)
    assert not (out / url[len(BASE) :]).exists()
    titles = {e.findtext(f"{ATOM}title") for p in documents(out).values() for e in entries(p)}
    assert REFERENCE_TITLE not in titles
    # The file comes back unchanged (e.g. restored from a stale backup): it stays deleted.
    fetch_publish(cli, cfg)
    titles = {e.findtext(f"{ATOM}title") for p in documents(out).values() for e in entries(p)}
    assert REFERENCE_TITLE not in titles


def test_websub_hub_is_linked_and_told_about_changed_feeds(tmp_path, cli) -> None:
    from tests.support.httpserver import HttpServer, Reply

    with HttpServer() as hub:
        hub.route("/hub", Reply(status=204))
        cfg = setup_site(tmp_path)
        text = cfg.read_text().replace(
            "author: Test desk}", f'author: Test desk, websub_hub: "{hub.url("/hub")}"}}'
        )
        cfg.write_text(text)
        fetch_publish(cli, cfg)
        pings = [r for r in hub.requests if r.path == "/hub"]
        assert len(pings) == 4  # one per topic feed written
        root = etree.parse(str(tmp_path / "out" / "sahel.atom")).getroot()
        assert hub.url("/hub") in {
            link.get("href") for link in root.findall(f"{ATOM}link") if link.get("rel") == "hub"
        }
        hub.reset_stats()
        r = cli("-c", str(cfg), "publish")
        assert r.returncode == 0 and hub.count("/hub") == 0  # nothing changed, nothing sent


def test_a_new_base_url_moves_local_article_pages_with_it(tmp_path, cli) -> None:
    cfg = setup_site(tmp_path)
    fetch_publish(cli, cfg)
    cfg.write_text(cfg.read_text().replace(BASE, "https://news.example/desk/"))
    fetch_publish(cli, cfg)
    out = tmp_path / "out"
    pages = sorted(p.name for p in (out / "articles" / "newsroom").glob("*.html"))
    assert "2024-04-12-russian-instructors-niger.html" in pages
    sahel = (out / "sahel.atom").read_text()
    assert "https://news.example/desk/articles/newsroom/" in sahel
    assert f"{BASE}articles/" not in sahel
