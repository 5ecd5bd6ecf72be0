"""Stories end to end (issue 16): real feed files → `feedhub fetch --publish` → story feeds.

The labelled corpus (tests/data/related and benchmarks/data/related: full articles, each
labelled with its thread; the rest unrelated singletons) is served as two RSS files: a wire
with every article, and a mirror that syndicates two of them (the same text under its own
URL: dedupe copies). Checked: copies and follow-ups of one event share a story, unrelated
articles do not; every story with two articles after dedupe has a valid feed that lists
its entries, and every entry of it in the topic feeds links to it ("Follow this story");
top stories per topic; publish twice changes nothing; a new article rewrites only its
story's feed; retention removes stories with their articles; the CLI lists them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from feedhub.config.load import load_config
from feedhub.publish.run import source_refs, stories_to_write, story_digest
from feedhub.store import Store
from feedhub.store.stories import feed_states
from tests.conftest import REPO
from tests.test_publish_helpers import validate_atom
from tests.test_related_reference import HEADLINE, seed_body
from tests.test_related_support import DATA, read_story

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://127.0.0.1:8080/"
EXTRA = REPO / "benchmarks" / "data" / "related"
# Distractors of the reference corpus that the follow-ups in benchmarks/data/related join.
JOINS = {"d12-kenya-floods": "kenya-floods", "d10-ecb-rates": "ecb-rates",
         "d09-sudan-refugees": "sudan-refugees", "d11-champions-league": "champions-league"}
SYNDICATED = ("k1-kenya-floods-death-toll", "d06-senegal-election")  # also in the mirror

CONFIG = """\
site: {{title: Stories desk, base_url: "{base}", author: Stories desk}}
store: data/feedhub.db
output: {{dir: out, entries_per_feed: 100}}
related: {{count: 3, window: 90d}}
stories: {{window: 3d, top_window: 24h}}
retention: {{max_age: 3650d}}
sources:
  - {{name: wire, url: wire.xml, topics: [world]}}
  - {{name: mirror, url: mirror.xml, topics: [world]}}
topics:
  - {{name: world, title: World}}
  - {{name: africa, title: Africa, keywords: [Kenya, Sudan, Chad, Niger, Senegal, Mali]}}
"""


def corpus() -> list[tuple[str, str, str, str, str]]:
    """(key, title, date, body, thread) of every labelled article; a singleton's thread is
    its own key."""
    items = [("seed", HEADLINE, "2024-04-12", seed_body(), "niger-us")]
    for path in sorted(DATA.glob("*.txt")):
        if path.name == "seed-article.txt":
            continue
        title, date, body, in_box = read_story(path)
        thread = "niger-us" if in_box else JOINS.get(path.stem, path.stem)
        items.append((path.stem, title, date, body, thread))
    for path in sorted(EXTRA.glob("*.txt")):
        header, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        fields = dict(line.split(": ", 1) for line in header.splitlines())
        items.append((path.stem, fields["title"], fields["date"], body.strip(), fields["thread"]))
    return items


def item_xml(host: str, key: str, title: str, date: str, body: str, hour: int = 8) -> str:
    when = datetime.fromisoformat(date).replace(hour=hour, tzinfo=UTC)
    link = f"https://{host}.example/{key}"
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    return (f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(paragraphs)}</description></item>")


def rss(name: str, items: list[str]) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{name}</title><link>https://{name}.example/</link>"
            f"<description>{name}</description>{''.join(items)}</channel></rss>\n")


def write_feeds(folder: Path, extra: list[str] = ()) -> None:
    items = corpus()
    wire = [item_xml("wire", k, t, d, b) for k, t, d, b, _ in items] + list(extra)
    # The mirror carries the wire's text a few hours later under its own URL.
    mirror = [item_xml("mirror", k, t, d, b, hour=11) for k, t, d, b, _ in items
              if k in SYNDICATED]
    (folder / "wire.xml").write_text(rss("wire", wire), encoding="utf-8")
    (folder / "mirror.xml").write_text(rss("mirror", mirror), encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stories")
    write_feeds(folder)
    (folder / "feedhub.yaml").write_text(CONFIG.format(base=BASE), encoding="utf-8")
    r = cli(folder, "fetch", "--publish")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return folder


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from tests.conftest import run_cli

    return run_cli("-c", str(folder / "feedhub.yaml"), *args)


def story_rows(folder: Path) -> dict[str, str]:
    """Article URL → its story id, from the store."""
    with sqlite3.connect(folder / "data" / "feedhub.db") as db:
        rows = db.execute(
            "SELECT a.url, s.story_id FROM articles a JOIN story_articles s ON s.article_id = a.id"
        ).fetchall()
    return dict(rows)


def entries(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().findall(f"{ATOM}entry")


def follow_links(entry: etree._Element) -> list[str]:
    return [link.get("href") for link in entry.findall(f"{ATOM}link")
            if link.get("rel") == "related" and link.get("title") == "Follow this story"]


def alternate(entry: etree._Element) -> str:
    return next(link.get("href") for link in entry.findall(f"{ATOM}link")
                if link.get("rel") == "alternate")


def stories_to_render(folder: Path) -> list[str]:
    """The story feeds the next publish would render, as it plans them: a publish that
    renders a feed again writes nothing when the bytes are equal, so only the plan shows
    that unchanged stories are skipped."""
    config = load_config(folder / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        with store.read() as conn:
            digest = story_digest(config, source_refs(conn, config))
            todo = stories_to_write(config.output_dir, feed_states(conn), digest)
    finally:
        store.close()
    return sorted(st.id for st in todo)


def files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in out.rglob("*") if p.is_file()}


def test_copies_and_follow_ups_share_a_story_unrelated_articles_do_not(site: Path) -> None:
    story = story_rows(site)
    thread = {f"https://wire.example/{k}": th for k, _, _, _, th in corpus()}
    # Syndicated copies: the mirror's copy is in its original's story.
    for key in SYNDICATED:
        assert story[f"https://mirror.example/{key}"] == story[f"https://wire.example/{key}"]
    # Follow-ups within days of each other: one story each.
    for name in ("kenya-floods", "champions-league"):
        members = {story[u] for u, th in thread.items() if th == name}
        assert len(members) == 1, name
    # Nothing else shares a story: no story holds two threads (or two singletons), and the
    # threads whose articles lie weeks apart (beyond the 3-day window) are separate events.
    by_story: dict[str, set[str]] = {}
    for url, th in thread.items():
        by_story.setdefault(story[url], set()).add(th)
    assert all(len(ths) == 1 for ths in by_story.values()), by_story
    assert len(set(story.values())) == len(by_story)  # the mirror started no story of its own


def test_story_feeds_are_valid_and_list_every_entry_that_links_to_them(site: Path) -> None:
    out = site / "out"
    story = story_rows(site)
    sizes: dict[str, int] = {}
    for sid in story.values():
        sizes[sid] = sizes.get(sid, 0) + 1
    feeds = sorted((out / "stories").glob("*.atom"))
    # Kenya floods (3 articles, one with a copy) and the Champions League (2); Senegal's
    # story is one article and its copy: one after dedupe, so no feed.
    assert {p.stem for p in feeds} == {
        story["https://wire.example/d12-kenya-floods"],
        story["https://wire.example/c1-champions-league-parade"],
    }
    validate_atom(*feeds)
    listed = {p.stem: {alternate(e) for e in entries(p)} for p in feeds}
    kenya = listed[story["https://wire.example/d12-kenya-floods"]]
    # One entry per dedupe cluster: the copy is "Also reported by", not an entry.
    assert len(kenya) == 3 and "https://mirror.example/k1-kenya-floods-death-toll" not in kenya
    root = etree.parse(str(feeds[0])).getroot()
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == f"{BASE}stories/{feeds[0].name}"
    dates = [e.findtext(f"{ATOM}published") for e in root.findall(f"{ATOM}entry")]
    assert dates == sorted(dates, reverse=True)  # newest first
    titles = {p.stem: etree.parse(str(p)).getroot().findtext(f"{ATOM}title") for p in feeds}
    assert titles[story["https://wire.example/d12-kenya-floods"]] == (
        "Floods Kill Dozens in Kenya After Weeks of Heavy Rain")  # its earliest article
    # Every entry of such a story, in every topic feed, follows it; no other entry does.
    followed = 0
    for doc in (out / "world.atom", out / "africa.atom"):
        for e in entries(doc):
            links = follow_links(e)
            sid = story.get(alternate(e))
            if sid in listed:
                assert links == [f"{BASE}stories/{sid}.atom"]
                assert alternate(e) in listed[sid]  # the linked feed lists the entry
                link = e.find(f"{ATOM}link[@title='Follow this story']")
                assert link.get("type") == "application/atom+xml"
                assert ">Follow this story</a>" in e.findtext(f"{ATOM}content")
                followed += 1
            else:
                assert links == [] and "Follow this story" not in e.findtext(f"{ATOM}content")
    assert followed == 5 + 3  # 5 in world, the 3 Kenya articles in africa too


def test_top_stories_per_topic_listed_beside_the_topic(site: Path) -> None:
    out = site / "out"
    validate_atom(out / "top" / "world.atom", out / "top" / "africa.atom")
    opml = etree.parse(str(out / "index.opml")).getroot()
    urls = [o.get("xmlUrl") for o in opml.iter("outline")]
    assert urls == [f"{BASE}world.atom", f"{BASE}top/world.atom", f"{BASE}africa.atom",
                    f"{BASE}top/africa.atom"]
    html = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{BASE}top/world.atom"' in html and f'href="{BASE}top/africa.atom"' in html
    # The world topic's newest article is the ECB's September cut: the 24 h before it hold
    # that story alone.
    top = entries(out / "top" / "world.atom")
    assert [e.findtext(f"{ATOM}title") for e in top] == [
        "European Central Bank Cuts Rates Again as Inflation Cools"]
    assert "<strong>1 source</strong>: wire" in top[0].findtext(f"{ATOM}content")


def test_top_stories_rank_by_outlets_then_recency(tmp_path: Path) -> None:
    """Two stories in the window: the one two outlets covered (a syndicated copy counts for
    its outlet) ranks above a newer one only the wire has."""
    write_feeds(tmp_path, extra=[
        item_xml("wire", "late-1", "Kenya Floods: Rescue Teams Reach Cut-Off Villages",
                 "2024-09-12", "Rescue teams reached villages cut off by floods in Kenya.",
                 hour=9),
    ])
    text = CONFIG.format(base=BASE).replace("top_window: 24h", "top_window: 200d")
    (tmp_path / "feedhub.yaml").write_text(text, encoding="utf-8")
    r = cli(tmp_path, "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    top = entries(tmp_path / "out" / "top" / "world.atom")
    contents = [e.findtext(f"{ATOM}content") for e in top]
    counts = [c.split("<strong>", 1)[1].split("</strong>", 1)[0] for c in contents]
    # Kenya floods and Senegal's election (wire and mirror), then the rest newest first.
    assert counts[:2] == ["2 sources", "2 sources"] and set(counts[2:]) == {"1 source"}
    titles = [e.findtext(f"{ATOM}title") for e in top]
    assert titles[2] == "Kenya Floods: Rescue Teams Reach Cut-Off Villages"  # Sep 12, 09:00
    assert titles[3] == "European Central Bank Cuts Rates Again as Inflation Cools"  # 08:00
    # Kenya's story shows its most copied article; Senegal's is one article and its copy
    # (one after dedupe): no feed, so no link.
    assert sorted(titles[:2]) == ["Kenya Flood Death Toll Rises as Government Orders Evacuations",
                                  "Senegal Swears In Bassirou Diomaye Faye as President"]
    follows = {t: ">Follow this story</a>" in c for t, c in zip(titles, contents, strict=True)}
    assert follows["Kenya Flood Death Toll Rises as Government Orders Evacuations"]
    assert not follows["Senegal Swears In Bassirou Diomaye Faye as President"]
    assert not follows[titles[2]]


def test_publish_twice_changes_nothing(site: Path) -> None:
    assert stories_to_render(site) == []
    before = files(site / "out")
    r = cli(site, "publish", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 0
    assert files(site / "out") == before


def test_readers_newsboat_reads_story_and_top_feeds(site: Path, tmp_path: Path) -> None:
    newsboat = shutil.which("newsboat")
    if newsboat is None:
        pytest.skip("newsboat is not installed (.ci/run installs Debian's package)")
    out = site / "out"
    feeds = [*sorted((out / "stories").glob("*.atom")), out / "top" / "world.atom"]
    urls = tmp_path / "urls"
    urls.write_text("".join(f"file://{p}\n" for p in feeds))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    cache = tmp_path / "cache.db"
    r = subprocess.run([newsboat, "-u", str(urls), "-c", str(cache), "-C", "/dev/null", "-x",
                        "reload"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with sqlite3.connect(cache) as db:
        got = db.execute("SELECT feedurl, title FROM rss_item").fetchall()
    for p in feeds:
        titles = sorted(t for f, t in got if f == f"file://{p}")
        assert titles == sorted(e.findtext(f"{ATOM}title") for e in entries(p)), p


def test_cli_lists_stories_and_shows_one(site: Path) -> None:
    story = story_rows(site)
    kenya = story["https://wire.example/d12-kenya-floods"]
    r = cli(site, "stories", "--topic", "africa", "--json")
    assert r.returncode == 0, r.stderr
    listed = {s["id"]: s for s in json.loads(r.stdout)}
    assert listed[kenya]["articles"] == 4 and listed[kenya]["clusters"] == 3
    assert listed[kenya]["sources"] == 2 and listed[kenya]["feed"] == f"{BASE}stories/{kenya}.atom"
    assert listed[kenya]["first"].startswith("2024-04-30")
    assert listed[kenya]["last"].startswith("2024-05-05")
    assert all(s["feed"] is None for s in listed.values() if s["clusters"] < 2)
    r = cli(site, "stories", "-t", "africa")
    assert r.returncode == 0 and kenya in r.stdout
    r = cli(site, "story", kenya)
    assert r.returncode == 0, r.stderr
    assert "Kenya Braces for Cyclone Hidaya" in r.stdout and "mirror" in r.stdout
    r = cli(site, "story", "0000000000000000")
    assert r.returncode == 2 and "no story" in r.stderr


def test_new_article_rewrites_only_its_story_and_rebuild_keeps_ids(tmp_path: Path) -> None:
    write_feeds(tmp_path)
    (tmp_path / "feedhub.yaml").write_text(CONFIG.format(base=BASE), encoding="utf-8")
    assert cli(tmp_path, "fetch", "--publish").returncode == 0
    out = tmp_path / "out"
    story = story_rows(tmp_path)
    kenya = story["https://wire.example/d12-kenya-floods"]
    before = files(out)
    write_feeds(tmp_path, extra=[
        item_xml("wire", "k3", "Kenya Flood Victims Return Home as Waters Recede",
                 "2024-05-06", "Families displaced by weeks of deadly floods in Kenya began "
                 "returning home as waters receded, the Kenya Red Cross said, after Cyclone "
                 "Hidaya weakened before landfall. The government said the flood death toll "
                 "had risen and evacuation orders were lifted in parts of Nairobi.")])
    r = cli(tmp_path, "fetch", "--publish")
    assert r.returncode == 0, r.stderr
    after = files(out)
    changed = {p for p in after if before.get(p) != after[p]}
    assert story_rows(tmp_path)["https://wire.example/k3"] == kenya
    assert {p for p in changed if p.startswith("stories/")} == {f"stories/{kenya}.atom"}
    listed = {alternate(e) for e in entries(out / f"stories/{kenya}.atom")}
    assert "https://wire.example/k3" in listed
    # A rebuild places every article again: the same stories under the same ids, and the
    # publish after it writes nothing.
    r = cli(tmp_path, "stories", "--rebuild")
    assert r.returncode == 0, r.stderr
    rebuilt = story_rows(tmp_path)
    assert rebuilt == {**story, "https://wire.example/k3": kenya}
    assert stories_to_render(tmp_path) == []  # the written feeds' marks were kept
    settled = files(out)
    r = cli(tmp_path, "publish", "--json")
    assert r.returncode == 0, r.stderr
    assert files(out) == settled and json.loads(r.stdout)["written"] == 0


def test_retention_removes_stories_with_their_articles(tmp_path: Path) -> None:
    write_feeds(tmp_path)
    (tmp_path / "feedhub.yaml").write_text(CONFIG.format(base=BASE), encoding="utf-8")
    assert cli(tmp_path, "fetch", "--publish").returncode == 0
    assert list((tmp_path / "out" / "stories").glob("*.atom"))
    from feedhub.retention import prune

    config = load_config(tmp_path / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        assert prune(config, store, datetime.now(UTC) + timedelta(days=3651)) > 0
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "data" / "feedhub.db") as db:
        assert db.execute("SELECT count(*) FROM stories").fetchone() == (0,)
    assert cli(tmp_path, "publish").returncode == 0
    assert not list((tmp_path / "out" / "stories").glob("*.atom"))


@pytest.mark.postgres
def test_postgresql_forms_the_same_stories_and_feeds(site: Path, tmp_path: Path) -> None:
    """The same feeds on PostgreSQL: the same stories under the same ids, and the same
    story feed bytes as on SQLite."""
    from tests.conftest import pg_database

    write_feeds(tmp_path)
    with pg_database("feedhub_test_16") as url:
        text = CONFIG.format(base=BASE).replace("store: data/feedhub.db",
                                                f'store: {{url: "{url}"}}')
        (tmp_path / "feedhub.yaml").write_text(text, encoding="utf-8")
        r = cli(tmp_path, "fetch", "--publish")
        assert r.returncode == 0, r.stderr
        r = cli(tmp_path, "stories", "-n", "1000", "--json")
        assert r.returncode == 0, r.stderr
        on_pg = {s["id"]: (s["articles"], s["clusters"], s["first"], s["last"], s["title"])
                 for s in json.loads(r.stdout)}
    r = cli(site, "stories", "-n", "1000", "--json")
    on_sqlite = {s["id"]: (s["articles"], s["clusters"], s["first"], s["last"], s["title"])
                 for s in json.loads(r.stdout)}
    assert on_pg == on_sqlite
    feeds = sorted(p.name for p in (site / "out" / "stories").glob("*.atom"))
    assert feeds == sorted(p.name for p in (tmp_path / "out" / "stories").glob("*.atom"))
    for name in feeds:
        assert (tmp_path / "out" / "stories" / name).read_bytes() == (
            site / "out" / "stories" / name).read_bytes()
