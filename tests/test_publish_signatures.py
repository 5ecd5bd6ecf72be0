"""Topic documents are rendered only when what they show changed (issue 17, item 2).

A publish signs every subscription feed, open archive and top-stories feed it writes
(`feedhub.store.docsigs`) and skips rendering a document whose signature is unchanged and
whose file exists. Real feeds, a real SQLite store, real files: the stories corpus (a wire
and a mirror syndicating two of its articles). After each change the signed documents must
hold the same bytes as a fresh publish of a copy of the store into an empty folder, and
exactly the documents whose bytes changed are rendered.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import pg_database
from tests.test_stories_pipeline import BASE, CONFIG, cli, corpus, item_xml, rss, write_feeds

SIGNED_TOP = "top/"


def publish(folder: Path) -> dict[str, object]:
    r = cli(folder, "publish", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in out.rglob("*") if p.is_file()}


def signed_docs(folder: Path) -> set[str]:
    """The paths of the documents that carry a signature in the store."""
    with sqlite3.connect(folder / "data" / "feedhub.db") as db:
        rows = db.execute("SELECT value FROM meta WHERE key LIKE 'doc_sig:%'").fetchall()
    return {v.partition(" ")[2] for (v,) in rows}


def topic_bytes(folder: Path) -> dict[str, bytes]:
    """The signed documents' bytes (closed archives are frozen on purpose: not compared)."""
    out = folder / "out"
    return {p: (out / p).read_bytes() for p in signed_docs(folder)}


def fresh(folder: Path, tmp: Path) -> dict[str, bytes]:
    """What a publish of a copy of the store into an empty folder writes, signed documents
    only: the reference an incremental publish must match."""
    copy = tmp / "fresh"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("out"))
    assert signed_docs(copy) <= set(publish(copy)["rendered"])  # nothing on disk: all
    return topic_bytes(copy)


def changed_since(before: dict[str, tuple[int, int]], out: Path) -> set[str]:
    after = files(out)
    return {p for p in after if before.get(p) != after[p]}


def topic_doc(path: str) -> bool:
    return not path.startswith("stories/") and path.endswith(".atom")


def fetched_site(tmp_path: Path) -> Path:
    """test_stories_pipeline's outlets in ``tmp_path/site``, fetched and published."""
    folder = tmp_path / "site"
    folder.mkdir()
    write_feeds(folder)
    (folder / "feedhub.yaml").write_text(CONFIG.format(base=BASE), encoding="utf-8")
    r = cli(folder, "fetch", "--publish")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return folder


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return fetched_site(tmp_path)


def check_step(folder: Path, tmp: Path, before: dict[str, tuple[int, int]],
               report: dict[str, object]) -> set[str]:
    """The incremental publish matches a fresh one, and rendered exactly what changed."""
    assert topic_bytes(folder) == fresh(folder, tmp)
    changed = {p for p in changed_since(before, folder / "out") if topic_doc(p)}
    assert changed, "the change shows in some topic document"
    assert set(report["rendered"]) == changed
    return changed


def test_a_publish_with_nothing_new_renders_and_writes_nothing(site: Path) -> None:
    signed = signed_docs(site)
    assert {"world.atom", "africa.atom", "top/world.atom", "top/africa.atom"} <= signed
    before = files(site / "out")
    report = publish(site)
    assert report["rendered"] == [] and report["written"] == 0
    assert files(site / "out") == before


def test_a_changed_title_renders_exactly_the_documents_that_show_it(
    site: Path, tmp_path: Path
) -> None:
    key, title, date, body, _ = next(i for i in corpus() if i[0] == "d10-ecb-rates")
    before = files(site / "out")
    items = [item_xml("wire", k, t, d, b) for k, t, d, b, _ in corpus() if k != key]
    items.append(item_xml("wire", key, title + " (corrected)", date, body))
    (site / "wire.xml").write_text(rss("wire", items), encoding="utf-8")
    assert cli(site, "fetch").returncode == 0
    changed = check_step(site, tmp_path, before, publish(site))
    assert "world.atom" in changed or any(p.startswith("world/") for p in changed)
    assert publish(site)["rendered"] == []


def test_a_new_article_and_a_dedupe_copy_render_only_what_they_touch(
    site: Path, tmp_path: Path
) -> None:
    # A new follow-up (new entry, boxes of its thread move) and a mirror copy of an
    # article the mirror did not carry yet ("Also reported by" of that story).
    before = files(site / "out")
    extra = item_xml("wire", "k3", "Kenya Flood Victims Return Home as Waters Recede",
                     "2024-05-06", "Families displaced by weeks of deadly floods in Kenya "
                     "began returning home as waters receded, the Kenya Red Cross said. The "
                     "government said the flood death toll had risen.")
    write_feeds(site, extra=[extra])
    key, title, date, body, _ = next(i for i in corpus() if i[0] == "d09-sudan-refugees")
    mirror = (site / "mirror.xml").read_text(encoding="utf-8")
    mirror = mirror.replace("</channel>", item_xml("mirror", key, title, date, body, hour=11)
                            + "</channel>")
    (site / "mirror.xml").write_text(mirror, encoding="utf-8")
    assert cli(site, "fetch").returncode == 0
    check_step(site, tmp_path, before, publish(site))
    assert publish(site)["rendered"] == []


@pytest.mark.parametrize("edit", [
    ("author: Stories desk}", "author: Desk two}"),  # every feed names the site's author
    ("related: {count: 3,", "related: {count: 2,"),  # the Related News size
])
def test_a_config_change_renders_the_documents_it_changes(
    site: Path, tmp_path: Path, edit: tuple[str, str]
) -> None:
    cfg = site / "feedhub.yaml"
    assert edit[0] in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(*edit), encoding="utf-8")
    before = files(site / "out")
    check_step(site, tmp_path, before, publish(site))
    assert publish(site)["rendered"] == []


def test_the_site_title_renders_no_topic_document(site: Path, tmp_path: Path) -> None:
    """The site's title is shown on the indexes only: no feed is rendered for it."""
    cfg = site / "feedhub.yaml"
    cfg.write_text(cfg.read_text().replace("title: Stories desk,", "title: Desk two,"))
    before = files(site / "out")
    report = publish(site)
    indexes = {"index.html", "index.opml"}
    assert report["rendered"] == [] and set(report["changed_paths"]) == indexes
    assert changed_since(before, site / "out") == indexes
    assert topic_bytes(site) == fresh(site, tmp_path)


def test_a_deleted_file_is_rendered_again(site: Path) -> None:
    (site / "out" / "africa.atom").unlink()
    (site / "out" / "top" / "world.atom").unlink()
    report = publish(site)
    assert sorted(report["rendered"]) == ["africa.atom", "top/world.atom"]
    assert sorted(report["changed_paths"]) == ["africa.atom", "top/world.atom"]
    assert (site / "out" / "africa.atom").is_file()


def test_a_file_changed_by_hand_is_rendered_again(site: Path) -> None:
    path = site / "out" / "world.atom"
    good = path.read_bytes()
    path.write_bytes(good.replace(b"<title>", b"<title>edited ", 1))
    report = publish(site)
    assert report["rendered"] == ["world.atom"] and report["changed_paths"] == ["world.atom"]
    assert path.read_bytes() == good


def test_signatures_lost_in_a_crash_mean_rendering_again(site: Path) -> None:
    """The signatures are stored after the files are on disk: a crash between the two
    leaves the old (or no) signature, and the next publish renders those documents again
    (writing nothing when the bytes are already there), then settles."""
    db = site / "data" / "feedhub.db"
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM meta WHERE key LIKE 'doc_sig:%' AND "
                     "(value LIKE '% africa.atom' OR value LIKE '% top/africa.atom')")
        conn.execute("UPDATE meta SET value = 'stale' || substr(value, 41) "
                     "WHERE key LIKE 'doc_sig:%' AND value LIKE '% world.atom'")
    before = files(site / "out")
    report = publish(site)
    assert sorted(report["rendered"]) == ["africa.atom", "top/africa.atom", "world.atom"]
    assert report["written"] == 0 and files(site / "out") == before
    assert publish(site)["rendered"] == []


@pytest.mark.postgres
def test_postgresql_signs_the_same_way(tmp_path: Path) -> None:
    """On a PostgreSQL store too (its dates come back as datetimes, not text): a second
    publish renders nothing, a changed title renders its documents."""
    write_feeds(tmp_path)
    with pg_database() as url:
        text = CONFIG.format(base=BASE).replace("store: data/feedhub.db",
                                                f'store: {{url: "{url}"}}')
        (tmp_path / "feedhub.yaml").write_text(text, encoding="utf-8")
        assert cli(tmp_path, "fetch").returncode == 0
        assert {"world.atom", "top/world.atom"} <= set(publish(tmp_path)["rendered"])
        before = files(tmp_path / "out")
        assert publish(tmp_path)["rendered"] == [] and files(tmp_path / "out") == before
        key, title, date, body, _ = next(i for i in corpus() if i[0] == "d10-ecb-rates")
        items = [item_xml("wire", k, t, d, b) for k, t, d, b, _ in corpus() if k != key]
        items.append(item_xml("wire", key, title + " (corrected)", date, body))
        (tmp_path / "wire.xml").write_text(rss("wire", items), encoding="utf-8")
        assert cli(tmp_path, "fetch").returncode == 0
        report = publish(tmp_path)
        changed = {p for p in changed_since(before, tmp_path / "out") if topic_doc(p)}
        assert changed and set(report["rendered"]) == changed
