"""`feedhub store copy` and `feedhub store migrate` through the real CLI, on real stores.

A SQLite store filled by `feedhub fetch --publish` from the sample feeds is copied to a new
database on the machine's PostgreSQL (skipped with the reason without one): every table
holds the same rows, `feedhub publish` from the copy writes byte-identical feeds, ingest
goes on there without id collisions (sequences were moved), and the copy comes back to
SQLite unchanged.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select

from feedhub.store.copy import copied_tables
from feedhub.store.db import create_store_engine
from feedhub.store.docsigs import PREFIX as DOC_SIG
from feedhub.store.generation import PUBLISHED
from feedhub.store.schema import articles
from tests.conftest import pg_database
from tests.test_publish_pipeline import fetch_publish, setup_site

NEW_ARTICLE = """\
---
title: Niger opens a new border post with Benin
date: 2024-07-02T09:00:00Z
---
Niger reopened a border post with Benin on Tuesday, officials in Niamey said.
"""


def without_publish_state(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[Any]]:
    """``rows`` without what a publish records of its own output: the story feeds'
    signatures (`stories`), the topic documents' (`meta` keys doc_sig:…) and what the
    publish started from (`meta` key published_state, issue 17)."""
    out: dict[str, list[Any]] = {k: v for k, v in rows.items() if k != "stories"}
    out["meta"] = [r for r in rows["meta"]
                   if not str(r[0]).startswith(DOC_SIG) and r[0] != PUBLISHED]
    return out


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table, in primary-key order (plain Python values)."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in copied_tables()
        }


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def with_store(cfg: Path, name: str, store_url: str, out: str) -> Path:
    """A copy of ``cfg`` beside it (same relative source paths) on another store and output."""
    text = cfg.read_text()
    text = re.sub(r"(?m)^store: .*$", f'store: {{url: "{store_url}"}}', text)
    text = text.replace("output: {dir: out,", f"output: {{dir: {out},")
    path = cfg.with_name(name)
    path.write_text(text)
    return path


def sqlite_engine(path: Path) -> Engine:
    return create_engine(f"sqlite:///{path}")


@pytest.mark.postgres
def test_sqlite_store_moves_to_postgresql_and_back(tmp_path: Path, cli) -> None:
    cfg = setup_site(tmp_path)
    fetch_publish(cli, cfg)
    original = sqlite_engine(tmp_path / "data" / "feedhub.db")
    before = dump(original)
    assert len(before["articles"]) > 20 and before["related_links"] and before["dedupe_keys"]

    with pg_database() as pg_url:
        r = cli("-c", str(cfg), "store", "copy", "--to", pg_url)
        assert r.returncode == 0, r.stderr
        assert f"copied {sum(map(len, before.values()))} rows in {len(before)} tables" in r.stdout
        n = len(before["articles"])
        assert re.search(rf"articles\s+│\s+{n}\s+│\s+{n}\s+│ ok", r.stdout), r.stdout
        pg = create_store_engine(pg_url)
        try:
            assert dump(pg) == before  # every value survives the trip, types included

            # Publishing from the copy gives the same bytes as from the original.
            pg_cfg = with_store(cfg, "feedhub-pg.yaml", pg_url, "out-pg")
            r = cli("-c", str(pg_cfg), "publish")
            assert r.returncode == 0, r.stderr
            assert files(tmp_path / "out-pg") == files(tmp_path / "out")

            # And back to SQLite (a plain path as the target): the same rows again. (That
            # publish recorded what it wrote for each story feed, `stories.published_sig`:
            # the rows to compare are PostgreSQL's now.)
            # Likewise the signature of each topic document it wrote (`meta` rows doc_sig:…,
            # issue 17): the rest of every table is as copied.
            on_pg = dump(pg)
            assert without_publish_state(on_pg) == without_publish_state(before)
            r = cli("-c", str(pg_cfg), "store", "copy", "--to", str(tmp_path / "back.db"))
            assert r.returncode == 0, r.stderr
            assert dump(sqlite_engine(tmp_path / "back.db")) == on_pg

            # Ingest goes on on PostgreSQL: new ids come after the copied ones.
            top = max(row[0] for row in before["articles"])
            (tmp_path / "samples" / "articles" / "2024-07-02-border-post.md").write_text(
                NEW_ARTICLE
            )
            fetch_publish(cli, pg_cfg)
            with pg.connect() as conn:
                ids = list(conn.scalars(select(articles.c.id).where(articles.c.id > top)))
                assert len(ids) == 1 and ids[0] == top + 1
                assert conn.scalar(select(func.count()).select_from(articles)) == n + 1
            niger = (tmp_path / "out-pg" / "niger.atom").read_text()
            assert "Niger opens a new border post" in niger
        finally:
            pg.dispose()


def test_copy_refuses_a_filled_target_unless_forced(tmp_path: Path, cli) -> None:
    cfg = setup_site(tmp_path)
    r = cli("-c", str(cfg), "fetch")
    assert r.returncode == 0, r.stderr
    target = tmp_path / "copy.db"
    assert cli("-c", str(cfg), "-q", "store", "copy", "--to", str(target)).returncode == 0

    r = cli("-c", str(cfg), "store", "copy", "--to", f"sqlite:///{target}")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "not empty" in r.stderr and "--force" in r.stderr

    r = cli("-c", str(cfg), "store", "copy", "--force", "--to", str(target))
    assert r.returncode == 0, r.stderr
    assert "replaced rows in" in r.stdout
    assert dump(sqlite_engine(target)) == dump(sqlite_engine(tmp_path / "data" / "feedhub.db"))

    r = cli("-c", str(cfg), "store", "copy", "--to", str(tmp_path / "data" / "feedhub.db"))
    assert r.returncode == 1 and "the target is the store itself" in r.stderr
    r = cli("-c", str(cfg), "store", "copy", "--to", "mysql://nobody@127.0.0.1/x")
    assert r.returncode == 2 and "unsupported store URL" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.postgres
def test_count_mismatch_fails_and_commits_nothing(tmp_path: Path, cli) -> None:
    """A target that silently drops rows (a trigger here) is caught by the counts."""
    cfg = setup_site(tmp_path)
    shutil.rmtree(tmp_path / "samples" / "articles")  # a smaller store is enough
    cfg.write_text(cfg.read_text().replace("  - {name: newsroom, url: samples/articles}\n", ""))
    assert cli("-c", str(cfg), "fetch").returncode == 0
    with pg_database() as pg_url:
        pg = create_store_engine(pg_url)
        try:
            pg_cfg = with_store(cfg, "pg.yaml", pg_url, "out-pg")
            assert cli("-c", str(pg_cfg), "store", "migrate").returncode == 0
            with pg.begin() as conn:
                conn.exec_driver_sql(
                    "CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF mod(NEW.article_id, 2) = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$"
                )
                conn.exec_driver_sql(
                    "CREATE TRIGGER lossy BEFORE INSERT ON article_topics "
                    "FOR EACH ROW EXECUTE FUNCTION drop_row()"
                )
            r = cli("-c", str(cfg), "store", "copy", "--to", pg_url)
            assert r.returncode == 1
            assert "row counts differ in article_topics: nothing was committed" in r.stderr
            assert "MISMATCH" in r.stderr
            with pg.connect() as conn:
                assert all(
                    conn.scalar(select(func.count()).select_from(t)) == 0 for t in copied_tables()
                )
        finally:
            pg.dispose()


def test_store_migrate_reports_versions(store_url: str, tmp_path: Path, cli) -> None:
    from feedhub.store.db import SCHEMA_VERSION

    cfg = with_store(setup_site(tmp_path), "m.yaml", store_url, "out")
    r = cli("-c", str(cfg), "store", "migrate")
    assert r.returncode == 0, r.stderr
    assert f"schema version none (new store) → {SCHEMA_VERSION}, migrated" in r.stdout
    r = cli("-c", str(cfg), "store", "migrate")
    assert r.returncode == 0, r.stderr
    assert f"schema version {SCHEMA_VERSION} → {SCHEMA_VERSION}, already current" in r.stdout
