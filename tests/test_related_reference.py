"""The reference article's Related News box, rebuilt from stories written for this test.

The seed article (Niamey, 2024-04-12) showed three newer headlines in its box; the three
stories with those headlines and fourteen distractors — other Sahel and Niger news, stories
sharing "Niger", "troops" or "air defense", other regions and subjects — are ingested, and
its box must be exactly those three.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from feedhub.related import related_for, update_related
from feedhub.store.schema import articles
from tests.test_related_support import DATA, add_article, make_engine, read_story

SEED_FILE = "seed-article.txt"
HEADLINE = "Russian Military Instructors Arrive in Niger with Air Defense System"


def seed_body() -> str:
    text = (DATA / SEED_FILE).read_text(encoding="utf-8")
    # The copy ends with the site's own Related News box; a feed's content has no such box,
    # and leaving it in would hand the answer's headlines to the scorer.
    return text.split("\nRelated News\n", 1)[0]


@pytest.mark.parametrize("order", ["distractors-seed-box", "by-date-one-at-a-time", "at-once"])
def test_reference_box(tmp_path: Path, order: str) -> None:
    engine = make_engine(tmp_path)
    with engine.begin() as conn:
        stories = [read_story(p) for p in sorted(DATA.glob("*.txt")) if p.name != SEED_FILE]
        if order == "by-date-one-at-a-time":
            stories.sort(key=lambda story: story[1])
        expected, ids = set(), []
        for title, date, body, in_box in stories:
            article_id = add_article(conn, title, f"<p>{body}</p>", date)
            ids.append(article_id)
            if in_box:
                expected.add(article_id)
        seed = add_article(conn, HEADLINE, seed_body(), "2024-04-12")
        copy = add_article(
            conn, HEADLINE, seed_body(), "2024-04-12", cluster_id=seed, source="syndicated"
        )
        changed: set[int] = set()
        if order == "distractors-seed-box":  # later stories must enter the seed's box
            update_related(conn, ids[3:9])
            update_related(conn, [seed, copy])
            changed = update_related(conn, ids[:3] + ids[9:])
        elif order == "by-date-one-at-a-time":  # as a live service sees them
            dated = sorted([*ids, seed, copy], key=lambda i: (published(conn, i), i))
            for article_id in dated:
                changed |= update_related(conn, [article_id])
        else:
            changed = update_related(conn, [*ids, seed, copy])

        box = related_for(conn, seed)
        assert len(expected) == 3
        assert {item.article_id for item in box} == expected
        assert seed in changed
        assert [i.score for i in box] == sorted((i.score for i in box), reverse=True)
        assert [i.title for i in related_for(conn, copy)] == [i.title for i in box]


def published(conn: Connection, article_id: int) -> datetime:
    return conn.scalar(select(articles.c.published).where(articles.c.id == article_id))
