"""PostgreSQL's candidates for Related News give SQLite's boxes.

On PostgreSQL the candidates of a box come from the postings joined to the vector as an
array (`feedhub.store.fulltext.POSTINGS_SCORES`; a GIN index over a tsvector of each
article's index terms stays as an option), on SQLite from the portable term index; all
score candidates with the same stored vectors. These tests check the index is there
(also added to an older store by migrating), that the query uses it, and that the boxes are
the same as SQLite's: the reference article's box, and every box of a sample of the UCI
headlines (skipped with the reason where the shared data is missing).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, insert, select, text

from feedhub.related import Settings, related_for, update_related
from feedhub.store import fulltext
from feedhub.store import related as db
from feedhub.store.db import create_store_engine, migrate
from feedhub.store.schema import articles, sources
from tests.conftest import REPO, pg_database
from tests.test_related_reference import HEADLINE, SEED_FILE, seed_body
from tests.test_related_support import DATA, add_article, read_story

pytestmark = pytest.mark.postgres

UCI = [REPO.parent / "shared" / "data" / "uci-news-sample.csv",
       Path("/work/shared/data/uci-news-sample.csv")]


@pytest.fixture
def pg() -> Iterator[Engine]:
    """A new PostgreSQL store, created and migrated as feedhub opens it."""
    with pg_database() as url:
        engine = create_store_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def sqlite(tmp_path: Path) -> Engine:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'feedhub.db'}")
    migrate(engine)
    return engine


def test_the_fulltext_index_is_made_and_used(pg: Engine) -> None:
    with pg.begin() as conn:
        ids = [add_article(conn, "Niger junta orders US troops out", "<p>Niamey drone base</p>"),
               add_article(conn, "Troops leave Niamey", "<p>The Niger base closes.</p>")]
        update_related(conn, ids)
        terms = db.read_doc_terms(conn, ids[0])
        tsv = conn.scalar(text("SELECT tsv::text FROM related_docs WHERE article_id = :a"),
                          {"a": ids[0]})
        # The tsvector holds the scorer's own terms (folded, stemmed), not PostgreSQL's.
        assert terms and "troop" in terms and tsv == " ".join(f"'{t}'" for t in terms)
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a 2-row table: force it
        params = fulltext.candidate_params(db.read_vector(conn, ids[0]), 0, 2**40, 0.0)
        match = "EXPLAIN SELECT article_id FROM related_docs WHERE tsv @@ CAST(:query AS tsquery)"
        plan = "\n".join(conn.execute(text(match), params).scalars())
        assert fulltext.TSV_INDEX in plan, plan
        found = conn.execute(fulltext.CANDIDATES, params).all()
        assert {r.article_id for r in found} == set(ids)
        assert [i.article_id for i in related_for(conn, ids[0])] == [ids[1]]


def test_migrating_an_older_store_adds_the_index(pg: Engine) -> None:
    with pg.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {fulltext.TSV_INDEX}")
        conn.exec_driver_sql(f"ALTER TABLE related_docs DROP COLUMN {fulltext.TSV_COLUMN}")
        a = add_article(conn, "Niger junta orders US troops out", "<p>Niamey drone base</p>")
        b = add_article(conn, "Troops leave Niamey", "<p>The Niger base closes.</p>")
        # Without the column, the term-index query still serves (as before the upgrade).
        update_related(conn.execution_options(**{fulltext.CANDIDATES_OPTION: "terms"}), [a, b])
    migrate(pg)
    with pg.begin() as conn:
        filled = conn.scalar(text("SELECT count(*) FROM related_docs WHERE tsv @@ 'niamey'"))
        assert filled == 2  # existing rows got their tsvector
        index = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :i"),
                            {"i": fulltext.TSV_INDEX})
        assert index and "gin" in index
    migrate(pg)  # again: nothing to add, no error


def reference_boxes(conn: Connection) -> tuple[list[str], list[list[tuple[int, float]]]]:
    """The reference corpus, all at once: the seed's box titles and every box by position."""
    ids = []
    for path in sorted(DATA.glob("*.txt")):
        if path.name != SEED_FILE:
            title, date, body, _ = read_story(path)
            ids.append(add_article(conn, title, f"<p>{body}</p>", date))
    seed = add_article(conn, HEADLINE, seed_body(), "2024-04-12")
    ids.append(seed)
    update_related(conn, ids)
    where = {article_id: i for i, article_id in enumerate(ids)}
    boxes = db.all_boxes(conn)
    scores = {(a, r.article_id): r.score for a in ids for r in related_for(conn, a)}
    return (
        [i.title for i in related_for(conn, seed)],
        [[(where[r], scores[a, r]) for r in boxes.get(a, [])] for a in ids],
    )


def test_reference_box_is_the_same_on_postgresql(tmp_path: Path, pg: Engine) -> None:
    with sqlite(tmp_path).begin() as conn:
        expected_titles, expected = reference_boxes(conn)
    box_titles = {read_story(p)[0] for p in DATA.glob("box-*.txt")}
    assert set(expected_titles) == box_titles  # the three reference headlines
    with pg.begin() as conn:
        titles, boxes = reference_boxes(conn)
    assert titles == expected_titles
    assert boxes == expected


def uci_headlines(n: int) -> list[tuple[str, datetime]]:
    path = next((p for p in UCI if p.exists()), None)
    if path is None:
        pytest.skip(f"the UCI headline sample is not at {UCI[0]}")
    with path.open(encoding="utf-8", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (int(r["TIMESTAMP"]), int(r["ID"])))
    return [(r["TITLE"], datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, UTC))
            for r in rows[:n]]


def uci_boxes(engine: Engine, heads: list[tuple[str, datetime]]) -> dict[int, list[int]]:
    """Every box over the headlines, ingested in batches of 50 like the benchmark."""
    with engine.begin() as conn:
        conn.execute(insert(sources).values(id=1, name="uci", url="http://u.example", kind="http"))
        conn.execute(insert(articles), [
            {"id": i + 1, "source_id": 1, "guid": f"g{i}", "title": title, "published": when,
             "updated": when, "first_seen": when, "changed": when, "content_hash": "x"}
            for i, (title, when) in enumerate(heads)
        ])
        ids = list(conn.scalars(select(articles.c.id).order_by(articles.c.id)))
        for i in range(0, len(ids), 50):
            update_related(conn, ids[i : i + 50], Settings(window=timedelta(days=3), min_score=0.0))
        return db.all_boxes(conn)


def test_every_box_of_a_headline_sample_is_the_same(tmp_path: Path, pg: Engine) -> None:
    """min_score 0: every article sharing a term is a candidate, the hardest case for the
    candidate generator (the benchmark's protocol), on 200 headlines within ±3 days."""
    heads = uci_headlines(200)
    expected = uci_boxes(sqlite(tmp_path), heads)
    assert sum(map(len, expected.values())) > 300
    assert uci_boxes(pg, heads) == expected


def test_the_candidate_queries_agree(tmp_path: Path, pg: Engine) -> None:
    """PostgreSQL's default candidate query (the postings joined to the vector as an array,
    issue 14), its GIN full-text match and the portable term-index query find the same
    articles with the same scores, min_score 0 (every article sharing a term)."""
    heads = uci_headlines(200)
    uci_boxes(pg, heads)
    window = timedelta(days=3)
    with pg.begin() as conn:
        for article_id in range(1, len(heads) + 1, 7):
            vector = db.read_vector(conn, article_id)
            when = heads[article_id - 1][1]
            found = []
            for mode in (fulltext.POSTINGS, fulltext.FULLTEXT, "terms"):
                c = conn.execution_options(**{fulltext.CANDIDATES_OPTION: mode})
                ids, scores = db.lexical_scores(c, vector, when - window, when + window, 0.0)
                rows = db.score_candidates(c, vector, when - window, when + window, 0.0)
                assert sorted(ids) == sorted(r.doc.article_id for r in rows)
                found.append(sorted(zip(ids, (round(s, 9) for s in scores), strict=True)))
            assert found[0] and found[0] == found[1] == found[2]
