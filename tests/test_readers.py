"""Real readers against the real service on the shipped config (offline).

`feedhub run` serves the shipped sample topics; newsboat (Debian's package) imports the
served index.opml and reloads; headless Chromium loads index.html. `.ci/run` installs
both; elsewhere these tests skip with the reason.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from lxml import etree, html

from tests.conftest import REPO
from tests.support.service import Service, free_port

pytestmark = pytest.mark.slow
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped config and samples, on a free port, with output in a temp folder."""
    tmp = tmp_path_factory.mktemp("shipped")
    shutil.copytree(REPO / "config", tmp / "config", ignore=shutil.ignore_patterns("data"))
    port = free_port()
    cfg = tmp / "config" / "feedhub.yaml"
    text = cfg.read_text()
    text = text.replace("http://127.0.0.1:8080/", f"http://127.0.0.1:{port}/")
    text = re.sub(r"(?m)^  dir: .*$", f"  dir: {tmp / 'feeds'}", text)
    cfg.write_text(text + f"\nserver: {{host: 127.0.0.1, port: {port}}}\n")
    service = Service(cfg, port)
    try:
        # A hang guard, not a speed target: the suite runs on busy machines (the time
        # `make run` takes to serve is measured by hand, README "Quick start").
        service.wait_for("every sample topic with entries", lambda: all_filled(service),
                         timeout=180)
        yield service
    finally:
        service.stop()


def all_filled(service: Service) -> bool:
    """index.html is written after the feeds: once it lists headlines, all feeds are out."""
    r = service.get("/index.html")
    if r is None or r[0] != 200 or b"<li" not in r[2]:
        return False
    return all(topics(service).values())


def topics(service: Service) -> dict[str, list[str]]:
    """Topic feed URL → entry titles, as served."""
    status, _, body = service.get("/index.opml")
    assert status == 200
    out = {}
    for o in etree.fromstring(body).iter("outline"):
        url = o.get("xmlUrl")
        status, headers, feed = service.get(url.split(str(service.port), 1)[1])
        assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
        out[url] = [e.findtext(f"{ATOM}title") for e in etree.fromstring(feed).iter(f"{ATOM}entry")]
    return out


def test_make_run_serves_the_sample_topics_offline(shipped: Service) -> None:
    served = topics(shipped)
    assert len(served) >= 4 and all(served.values())


def test_newsboat_imports_the_opml_and_shows_every_topic_with_related_news(
    shipped: Service, tmp_path: Path
) -> None:
    newsboat = shutil.which("newsboat")
    if newsboat is None:
        pytest.skip("newsboat is not installed (.ci/run installs Debian's package)")
    _, _, opml = shipped.get("/index.opml")
    (tmp_path / "subs.opml").write_bytes(opml)
    urls, cache = tmp_path / "urls", tmp_path / "cache.db"
    urls.touch()
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    base = [newsboat, "-u", str(urls), "-c", str(cache), "-C", "/dev/null"]
    r = subprocess.run([*base, "-i", str(tmp_path / "subs.opml")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([*base, "-x", "reload"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT guid, feedurl, title, content FROM rss_item").fetchall()
    served = topics(shipped)
    ids = entry_ids(shipped)
    # One story, one item (issue 18): newsboat keys items on the atom:id across feeds, so a
    # story filed under several topics is stored once, and read once.
    assert sorted(guid for guid, *_ in rows) == sorted(set().union(*ids.values()))
    assert {feed for _, feed, _, _ in rows} <= set(served)
    assert sorted(t for _, _, t, _ in rows) == sorted({t for ts in served.values() for t in ts})
    shared = set.intersection(*(ids[f"http://127.0.0.1:{shipped.port}/{t}.atom"]
                                for t in ("sahel", "niger")))
    assert shared and all(sum(g == s for g, *_ in rows) == 1 for s in shared)
    related = [c for *_, c in rows if "Related News" in c]
    assert len(related) >= 10
    reference = [c for _, _, t, c in rows if t.startswith("Russian Military Instructors")]
    assert len(reference) == 1 and "U.S. Troop Withdrawal from Niger Kicks off" in reference[0]


def entry_ids(service: Service) -> dict[str, set[str]]:
    """Topic feed URL → the atom:ids of its entries, as served."""
    out = {}
    for url in topics(service):
        _, _, feed = service.get(url.split(str(service.port), 1)[1])
        out[url] = {e.findtext(f"{ATOM}id") for e in etree.fromstring(feed).iter(f"{ATOM}entry")}
    return out


def chromium_dom(url: str, profile: Path) -> html.HtmlElement:
    """The DOM headless Chromium builds for ``url`` (after any XSLT), parsed."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's package)")
    r = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0 and "<body" in r.stdout, r.stderr[-2000:]
    return html.fromstring(r.stdout)


def test_a_feed_opened_in_chromium_is_a_readable_page(shipped: Service, tmp_path: Path) -> None:
    """Issue 18: feed.xsl turns the Atom document into a page: title, entries, sources, the
    Related News box as rendered HTML (not escaped markup) and how to subscribe."""
    url = f"http://127.0.0.1:{shipped.port}/sahel.atom"
    dom = chromium_dom(url, tmp_path / "profile")
    text = dom.text_content()
    _, _, feed = shipped.get("/sahel.atom")
    root = etree.fromstring(feed)
    assert dom.findtext(".//h1") == root.findtext(f"{ATOM}title")
    titles = [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    shown = [h.text_content().strip() for h in dom.xpath("//main/article/h2")]
    assert shown == titles
    assert "<h3>" not in text and "&lt;" not in text and "<p>" not in text  # rendered, not shown
    boxes = [h for h in dom.iter("h3") if h.text_content() == "Related News"]
    assert len(boxes) >= 3
    box = boxes[0].getnext()
    assert box.tag == "ul" and box.find("li/a").get("href", "").startswith("https://")
    reference = next(a for a in dom.iter("article") if "Russian Military Instructors" in
                     a.text_content())
    assert "U.S. Troop Withdrawal from Niger Kicks off" in reference.text_content()
    assert "Sahel Wire" in text or "Daily Courier" in text  # sources are named
    assert url in [c.text_content() for c in dom.iter("code")]  # how to subscribe


def test_chromium_shows_every_topic_with_headlines_and_working_feed_links(
    shipped: Service, tmp_path: Path
) -> None:
    dom = chromium_dom(f"http://127.0.0.1:{shipped.port}/", tmp_path / "profile")
    served = topics(shipped)
    alternates = {link.get("href") for link in dom.iter("link")
                  if link.get("type") == "application/atom+xml"}
    assert alternates == set(served)
    page_links = {a.get("href") for a in dom.iter("a")}
    text = dom.text_content()
    for url, titles in served.items():
        assert url in page_links  # a visible feed link per topic
        assert titles[0] in text  # the topic's latest headline is on the page
    # the feed links work: each one serves Atom (checked in topics() above)
