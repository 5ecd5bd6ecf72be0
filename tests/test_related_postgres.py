"""The same related boxes on PostgreSQL as on SQLite (plain Core SQL, no FTS5)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import OperationalError

from feedhub.related import remove_articles, update_related
from feedhub.store.related import related_links
from feedhub.store.schema import metadata
from tests.test_related_reference import HEADLINE, seed_body
from tests.test_related_support import DATA, add_article, make_engine, read_story

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A throwaway database on the machine's PostgreSQL (real server, no mocks)."""
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    name = f"feedhub_related_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    engine = create_engine(f"{PG}/{name}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


def boxes_by_position(engine: Engine) -> list[list[tuple[int, float]]]:
    """Every box as (position of the related article in ingest order, score)."""
    with engine.begin() as conn:
        ids = []
        for path in sorted(DATA.glob("*.txt")):
            if path.name != "seed-article.txt":
                title, date, body, _ = read_story(path)
                ids.append(add_article(conn, title, f"<p>{body}</p>", date))
        ids.append(add_article(conn, HEADLINE, seed_body(), "2024-04-12"))
        update_related(conn, ids[::2])
        update_related(conn, ids[1::2])
        remove_articles(conn, ids[:1])
        lk = related_links.c
        rows = conn.execute(
            select(lk.article_id, lk.related_id, lk.score).order_by(lk.article_id, lk.rank)
        ).all()
    where = {article_id: i for i, article_id in enumerate(ids)}
    result: list[list[tuple[int, float]]] = [[] for _ in ids]
    for article_id, related_id, score in rows:
        result[where[article_id]].append((where[related_id], score))
    return result


@pytest.mark.postgres
def test_postgres_gives_the_same_boxes(tmp_path: Path, pg_engine: Engine) -> None:
    sqlite = boxes_by_position(make_engine(tmp_path))
    assert any(sqlite)
    assert boxes_by_position(pg_engine) == sqlite
