"""A publish with nothing new stops early, and every change still publishes (issue 17).

The store's generation (`feedhub.store.generation`) moves with every write transaction that
changes a row; a complete publish records it with the config and its output folder. Here,
on real feeds and a real store: a settled site (one whose next publish would be skipped)
is changed along each path that can change what a feed shows, and the change must be seen
(the next publish is not skipped) and published exactly as a full publish of a copy of the
store into an empty folder writes it. A bump missing on any of these paths fails its test.
The no-change publish's SQL work is counted in SQLite VM steps on stores of 150 and 600
articles: it must not grow with the store.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from feedhub.config import load_config
from feedhub.pipeline import stages_state
from feedhub.publish.lock import LOCK_NAME
from feedhub.publish.run import last_publish
from feedhub.store import Store
from feedhub.store.db import create_store_engine
from feedhub.store.generation import generation
from feedhub.store.related import related_links
from tests.conftest import pg_database
from tests.test_publish_resume import write_site as write_wires
from tests.test_publish_signatures import fetched_site
from tests.test_stories_pipeline import BASE, CONFIG, cli, corpus, item_xml, rss, write_feeds


def publish(folder: Path) -> dict[str, object]:
    r = cli(folder, "publish", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def output(out: Path) -> dict[str, bytes]:
    """Every published file's bytes (the lock file is the publisher's, not output)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def fresh(folder: Path, tmp: Path) -> dict[str, bytes]:
    """What a publish of a copy of the store into an empty folder writes."""
    copy = tmp / "fresh"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("out"))
    publish(copy)
    return output(copy / "out")


def skipped_next(folder: Path) -> bool:
    """Whether the next publish would stop early (`last_publish`: nothing changed)."""
    config = load_config(folder / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        return last_publish(config, store, stages_state())[1] is not None
    finally:
        store.close()


def settle(folder: Path) -> None:
    """Publish; then the next publish is skipped, writing nothing."""
    publish(folder)
    assert skipped_next(folder)
    before = output(folder / "out")
    report = publish(folder)
    assert report["written"] == 0 and report["rendered"] == []
    assert output(folder / "out") == before and skipped_next(folder)


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    folder = fetched_site(tmp_path)
    settle(folder)
    return folder


# -- the paths that change what a feed shows ----------------------------------------------

def new_article(folder: Path) -> None:
    extra = item_xml("wire", "k3", "Kenya Flood Victims Return Home as Waters Recede",
                     "2024-05-06", "Families displaced by weeks of deadly floods in Kenya "
                     "began returning home as waters receded, the Kenya Red Cross said.")
    write_feeds(folder, extra=[extra])
    assert cli(folder, "fetch").returncode == 0


def changed_article(folder: Path) -> None:
    key, title, date, body, _ = next(i for i in corpus() if i[0] == "d10-ecb-rates")
    items = [item_xml("wire", k, t, d, b) for k, t, d, b, _ in corpus() if k != key]
    items.append(item_xml("wire", key, title + " (corrected)", date, body))
    (folder / "wire.xml").write_text(rss("wire", items), encoding="utf-8")
    assert cli(folder, "fetch").returncode == 0


def dedupe_copy(folder: Path) -> None:
    key, title, date, body, _ = next(i for i in corpus() if i[0] == "d09-sudan-refugees")
    mirror = (folder / "mirror.xml").read_text(encoding="utf-8")
    mirror = mirror.replace("</channel>", item_xml("mirror", key, title, date, body, hour=11)
                            + "</channel>")
    (folder / "mirror.xml").write_text(mirror, encoding="utf-8")
    assert cli(folder, "fetch").returncode == 0


def dedupe_rebuild(folder: Path) -> None:
    assert cli(folder, "dedupe", "--rebuild").returncode == 0


def stories_rebuild(folder: Path) -> None:
    assert cli(folder, "stories", "--rebuild").returncode == 0


def related_box(folder: Path) -> None:
    """One Related News box loses its best link, written by any writer of the store."""
    config = load_config(folder / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        with store.write() as conn:
            lk = related_links.c
            first = conn.execute(related_links.select().order_by(lk.article_id, lk.rank)).first()
            assert first is not None
            conn.execute(related_links.delete().where(lk.article_id == first.article_id,
                                                      lk.rank == first.rank))
    finally:
        store.close()


def prune(folder: Path) -> None:
    from feedhub.retention import prune as run_prune

    config = load_config(folder / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        assert run_prune(config, store, datetime.now(UTC) + timedelta(days=3651)) > 0
    finally:
        store.close()


def edit_config(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = folder / "feedhub.yaml"
        assert old in cfg.read_text()
        cfg.write_text(cfg.read_text().replace(old, new), encoding="utf-8")
    return edit


def delete_file(folder: Path) -> None:
    next((folder / "out" / "stories").glob("*.atom")).unlink()


def edit_file(folder: Path) -> None:
    path = folder / "out" / "top" / "world.atom"
    path.write_bytes(path.read_bytes().replace(b"<title>", b"<title>edited ", 1))


def stray_file(folder: Path) -> None:
    """A story feed no story has (a full publish removes it)."""
    (folder / "out" / "stories" / "0000000000000000.atom").write_bytes(b"<feed/>")


def lost_signature(folder: Path) -> None:
    """A crash after the files were written, before their signature was stored."""
    with sqlite3.connect(folder / "data" / "feedhub.db") as db:
        db.execute("DELETE FROM meta WHERE key LIKE 'doc_sig:%' AND value LIKE '% world.atom'")


def queued_unbumped(folder: Path) -> None:
    """An article queued for related by a writer that does not bump the generation (an
    older feedhub on the same store): the queue alone says the stages have work."""
    with sqlite3.connect(folder / "data" / "feedhub.db") as db:
        db.execute("INSERT INTO pending_related (article_id) SELECT max(id) FROM articles")


CHANGES = {
    "new article": new_article,
    "changed article": changed_article,
    "dedupe copy": dedupe_copy,
    "dedupe rebuild": dedupe_rebuild,
    "stories rebuild": stories_rebuild,
    "related box": related_box,
    "prune": prune,
    "topic title": edit_config("title: World}", "title: The world}"),
    "site author": edit_config("author: Stories desk}", "author: Desk two}"),
    "site title": edit_config("title: Stories desk,", "title: Desk two,"),
    "related count": edit_config("related: {count: 3,", "related: {count: 2,"),
    "top window": edit_config("top_window: 24h", "top_window: 72h"),
    "deleted file": delete_file,
    "file edited by hand": edit_file,
    "stray file": stray_file,
    "lost signature": lost_signature,
    "queued, unbumped": queued_unbumped,
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_change_is_published_as_a_full_publish_would(
    site: Path, tmp_path: Path, change: str
) -> None:
    CHANGES[change](site)
    assert not skipped_next(site), f"{change}: the next publish would be skipped"
    publish(site)
    assert output(site / "out") == fresh(site, tmp_path)
    settle(site)


def test_a_skipped_publish_reports_what_a_full_one_would(site: Path) -> None:
    with sqlite3.connect(site / "data" / "feedhub.db") as db:
        db.execute("DELETE FROM meta WHERE key = 'published_state'")  # the record lost
    assert not skipped_next(site)
    full = publish(site)
    assert skipped_next(site)
    skipped = publish(site)
    assert full["written"] == 0 and full["unchanged"] > 0
    assert {**skipped, "duration": 0} == {**full, "duration": 0}


def test_a_write_that_changes_no_row_keeps_the_generation(site: Path) -> None:
    """Only a transaction that changed a row moves the generation: the publisher's own
    record (``bump=False``) and an empty write transaction do not."""
    config = load_config(site / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        with store.read() as conn:
            before = generation(conn)
        with store.write() as conn:
            conn.execute(related_links.select().limit(1)).all()
        with store.write(bump=False) as conn:
            conn.execute(related_links.delete().where(related_links.c.article_id == -1))
        with store.read() as conn:
            assert generation(conn) == before
    finally:
        store.close()
    related_box(site)  # one row deleted
    store = Store.open(config.store_url)
    try:
        with store.read() as conn:
            assert generation(conn) != before
    finally:
        store.close()


def test_a_write_by_another_writer_during_the_stages_means_publishing_again(
    site: Path,
) -> None:
    """A publish records the generation after its stages only when they made every bump
    since it read it: a change another writer made meanwhile (a new article that needs
    its box) leaves the next publish to run the stages again."""
    from feedhub.publish.run import publishing, write_site

    config = load_config(site / "feedhub.yaml")
    for writer in ("own", "other"):
        store = Store.open(config.store_url)
        other = Store.open(config.store_url)
        try:
            with store.read() as conn:
                before = generation(conn)
            bumps = store.own_bumps()
            with (store if writer == "own" else other).write() as conn:
                assert conn.execute(related_links.delete().where(
                    related_links.c.rank == (1 if writer == "own" else 2))).rowcount > 0
            with publishing(config.output_dir):
                write_site(config, store, generation=(before, store.own_bumps() - bumps),
                           stages=stages_state())
        finally:
            store.close()
            other.close()
        assert skipped_next(site) is (writer == "own"), writer


# -- the no-change publish does not grow with the store -----------------------------------

def wires_site(root: Path, wires: int, items: int) -> Path:
    """``wires`` feeds of ``items`` made-up articles each (test_publish_resume's news),
    fetched and published."""
    cfg = write_wires(root, wires, items)
    for args in (("fetch", "--publish"), ("publish",)):
        r = subprocess.run([sys.executable, "-m", "feedhub", "-c", str(cfg), "-q", *args],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    return cfg


def vm_steps(cfg: Path) -> int:
    """The SQLite VM steps (one tick per ten) of one `feedhub publish` in this process:
    the pipeline, topics, related and stories, then the documents."""
    from feedhub.pipeline import publish as run_publish

    config = load_config(cfg)
    engine = create_store_engine(config.store_url)
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    event.listen(engine, "connect", lambda dbapi, _: dbapi.set_progress_handler(tick, 10))
    store = Store(engine)
    try:
        report = run_publish(config, store)
    finally:
        store.close()
    assert report.written == 0 and report.rendered == ()
    return steps[0]


def test_a_no_change_publish_does_not_grow_with_the_store(tmp_path: Path) -> None:
    small = wires_site(tmp_path / "small", 6, 25)  # 150 articles
    large = wires_site(tmp_path / "large", 6, 100)  # 600 articles
    counts = vm_steps(small), vm_steps(large)
    assert counts[1] < 1.5 * counts[0], counts  # before issue 17's marker: ~3.8×


@pytest.mark.postgres
def test_postgresql_skips_an_unchanged_store_and_publishes_a_change(tmp_path: Path) -> None:
    """On PostgreSQL the generation moves with a transaction that changed a row (its
    transaction id): settled, a changed title is seen and published."""
    write_feeds(tmp_path)
    with pg_database("nochange") as url:
        text = CONFIG.format(base=BASE).replace("store: data/feedhub.db",
                                                f'store: {{url: "{url}"}}')
        (tmp_path / "feedhub.yaml").write_text(text, encoding="utf-8")
        assert cli(tmp_path, "fetch", "--publish").returncode == 0
        settle(tmp_path)
        changed_article(tmp_path)
        assert not skipped_next(tmp_path)
        before = output(tmp_path / "out")
        assert publish(tmp_path)["written"] > 0
        assert output(tmp_path / "out") != before
        settle(tmp_path)
