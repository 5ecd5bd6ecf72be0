"""Store queries that take many ids stay within the backends' bound-parameter limits
(on SQLite and on PostgreSQL: the ``store_url`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedhub.store import Store
from feedhub.store.articles import stored_articles
from feedhub.store.schema import articles, sources


def test_stored_articles_takes_more_ids_than_one_statement_binds(store_url: str) -> None:
    # PostgreSQL's wire protocol caps a statement at 65,535 parameters, SQLite at 32,766.
    store = Store.open(store_url)
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(sources.insert().values(id=1, name="s", url="/x", kind="file"))
        conn.execute(articles.insert(), [
            dict(id=i, source_id=1, guid=f"g{i}", title=f"t{i}", published=t0 + timedelta(hours=i),
                 updated=t0, first_seen=t0, changed=t0, content_hash="h")
            for i in (5, 20_000, 69_999)
        ])
    try:
        with store.read() as conn:
            got = stored_articles(conn, range(70_000))
            assert [a.id for a in got] == [69_999, 20_000, 5]  # newest first across chunks
    finally:
        store.close()


def test_opening_a_new_store_waits_for_the_process_that_is_creating_it(tmp_path) -> None:
    """A new file still in rollback-journal mode, with another connection's write
    transaction open (a second process creating the store at the same moment): switching
    it to WAL answered "database is locked" at once (store/db.py: _wal). Now it waits."""
    import sqlite3
    import threading

    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE being_created (x)")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    store = Store.open(f"sqlite:///{path}")
    try:
        with store.write() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT count(*) FROM being_created").scalar() == 0
    finally:
        store.close()
        other.close()


def test_commits_share_a_checkpoint_until_the_wal_holds_64_mib(tmp_path) -> None:
    """A related batch dirties ~600 pages per commit; at SQLite's default (1,000 pages)
    nearly every commit checkpointed and copied the same hot pages again (store/db.py,
    issue 14). Three such commits stay in the WAL together now."""
    store = Store.open(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with store.write() as conn:
            conn.exec_driver_sql("CREATE TABLE filler (x BLOB)")
        for _ in range(3):  # ~600 pages of 16 KiB each
            with store.write() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO filler SELECT randomblob(15000) FROM "
                    "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)"
                    " SELECT i FROM n)"
                )
        with store.read() as conn:
            _busy, frames, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert 1800 <= frames < 4096
    finally:
        store.close()
