"""The same related boxes on PostgreSQL as on SQLite (plain Core SQL, no FTS5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from feedhub.related import remove_articles, update_related
from feedhub.store.related import related_links
from tests.test_related_reference import HEADLINE, seed_body
from tests.test_related_support import DATA, add_article, make_engine, read_story


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
