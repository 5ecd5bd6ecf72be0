"""A related run's in-memory postings give the term-index query's lexical scores, and stay
current through the run's own index writes (issue 14: a new article's box without SQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, update

from feedhub.related import Settings, remove_articles, update_related
from feedhub.related.postings import TermPostings
from feedhub.related.score import LEXICAL_MIN
from feedhub.related.window import window_index
from feedhub.store import related as db
from feedhub.store.schema import articles
from tests.test_related_support import DATA, add_article, make_engine, read_story

_WORDS = """central bank rate inflation euro dollar oil price crude output opec talks merger
deal shares profit quarter apple google samsung phone launch court ruling patent vaccine
outbreak virus hospital film actor festival award album tour"""
WORDS = tuple(_WORDS.split())
START = datetime(2024, 4, 1, tzinfo=UTC)


def by_id(result: tuple[list[int], list[float]]) -> dict[int, float]:
    return dict(zip(*result, strict=True))


def assert_same_scores(conn: Connection, run: TermPostings, ids: list[int]) -> None:
    """For each indexed article of ``ids``: the same hits, the same scores (to 1e-12)."""
    for article_id in ids:
        vector = db.read_vector(conn, article_id)
        doc = db.read_docs(conn, [article_id]).get(article_id)
        if doc is None or not vector:
            continue
        lo, hi = doc.published - timedelta(days=3), doc.published + timedelta(days=3)
        sql = by_id(db.lexical_scores(conn, vector, lo, hi, LEXICAL_MIN))
        memory = by_id(run.scores(conn, vector, lo, hi, LEXICAL_MIN))
        assert memory.keys() == sql.keys(), article_id
        for hit, score in sql.items():
            assert memory[hit] == pytest.approx(score, abs=1e-12)


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))


@pytest.mark.parametrize("budget", [10**6, 40])  # roomy, and evicting terms all the time
def test_in_memory_scores_equal_the_term_query_through_index_writes(
    tmp_path: Path, budget: int
) -> None:
    rng = random.Random(budget)
    engine = make_engine(tmp_path)
    s = Settings(window=timedelta(days=3), min_score=0.0)
    with engine.begin() as conn, window_index() as index:
        if index is None:
            pytest.skip("wordllama not installed: the run holds no postings")
        index.terms = run = TermPostings(budget=budget)
        ids = [add_article(conn, random_text(rng), f"<p>{random_text(rng)}</p>",
                           START + timedelta(hours=rng.randint(0, 240))) for _ in range(40)]
        update_related(conn, ids[:20], s)
        assert_same_scores(conn, run, ids[:20])
        # Articles indexed while the postings are held reach them through `indexed`.
        update_related(conn, ids[20:], s)
        assert_same_scores(conn, run, ids)
        # A changed article is indexed afresh: its old postings leave, the new ones arrive.
        conn.execute(update(articles).where(articles.c.id == ids[3])
                     .values(title=random_text(rng), content="<p>opec crude oil</p>"))
        update_related(conn, [ids[3]], s)
        assert_same_scores(conn, run, ids)
        remove_articles(conn, ids[5:9], s)  # removed articles leave the postings too
        assert_same_scores(conn, run, [i for i in ids if i not in ids[5:9]])
        if budget < 100:  # bounded: only the last term looked up may exceed the budget
            assert run._size <= max(budget, max(t.size for t in run._terms.values()))


def test_the_labelled_corpus_scores_alike_in_memory(tmp_path: Path) -> None:
    """Real articles (the reference thread and unrelated singletons), ±90 days."""
    engine = make_engine(tmp_path)
    with engine.begin() as conn:
        ids = [add_article(conn, title, f"<p>{body}</p>", date)
               for title, date, body, _ in map(read_story, sorted(DATA.glob("[bd]*.txt")))]
        update_related(conn, ids)
        assert_same_scores(conn, TermPostings(), ids)
