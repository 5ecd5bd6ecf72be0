"""Related boxes through the real store index, on a SQLite file and on PostgreSQL (its
default candidate query): exclusions, window, increments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, delete, select, update

from feedhub.related import (
    DEFAULT_MIN_SCORE,
    Settings,
    related_for,
    remove_articles,
    update_related,
)
from feedhub.store import related as db
from feedhub.store.db import create_store_engine, migrate
from feedhub.store.related import related_docs, related_links, related_terms
from feedhub.store.schema import articles
from tests.conftest import BACKENDS, backend_url
from tests.test_related_support import add_article

SAHEL = "Niger junta orders United States troops out of Niamey drone base in the Sahel"
NOISE = [
    ("Central bank raises interest rates again", "Inflation stays high, the central bank said."),
    ("Champions League final goes to extra time", "Football fans filled the stadium in Madrid."),
    ("Apple unveils a thinner tablet", "The tablet has a new chip and an OLED screen."),
    ("Heavy rain floods Nairobi suburbs", "Kenya Red Cross shelters displaced families."),
]


NewStore = Callable[[], Engine]


@pytest.fixture(params=BACKENDS)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewStore]:
    """Makes fresh stores on one backend: SQLite files, then PostgreSQL databases (where
    the candidates come from its postings query, `fulltext.POSTINGS_SCORES`)."""
    engines: list[Engine] = []
    with ExitStack() as stack:

        def make() -> Engine:
            folder = tmp_path / f"store{len(engines)}"
            folder.mkdir()
            engine = create_store_engine(stack.enter_context(backend_url(request.param, folder)))
            migrate(engine)
            engines.append(engine)
            return engine

        yield make
        for engine in engines:
            engine.dispose()


def boxes(conn: Connection) -> dict[int, list[tuple[int, float]]]:
    rows = conn.execute(
        select(
            related_links.c.article_id, related_links.c.related_id, related_links.c.score
        ).order_by(related_links.c.article_id, related_links.c.rank)
    )
    result: dict[int, list[tuple[int, float]]] = {}
    for a, r, s in rows:
        result.setdefault(a, []).append((r, s))
    return result


def box_ids(conn: Connection, article_id: int) -> list[int]:
    return [item.article_id for item in related_for(conn, article_id)]


def corpus(conn: Connection) -> list[int]:
    """A small mixed corpus: three Sahel troop stories, noise, and a cluster copy."""
    ids = [
        add_article(conn, "US troops to leave Niger, junta says", SAHEL, "2024-04-12"),
        add_article(conn, "Niger drone base handover begins", SAHEL + " handover", "2024-05-01"),
        add_article(conn, "American troops start Niger withdrawal", SAHEL, "2024-06-10"),
    ]
    ids += [add_article(conn, t, b, f"2024-05-{10 + i:02d}") for i, (t, b) in enumerate(NOISE)]
    ids.append(
        add_article(
            conn,
            "US troops to leave Niger, junta says",
            SAHEL,
            "2024-04-12",
            cluster_id=ids[0],
            source="copycat",
        )
    )
    return ids


def test_never_itself_nor_its_cluster(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        ids = corpus(conn)
        update_related(conn, ids)
        first, copy = ids[0], ids[-1]
        for article_id in ids:
            assert article_id not in box_ids(conn, article_id)
        assert copy not in box_ids(conn, first)
        assert first not in box_ids(conn, copy)
        # Another story's box lists the story once, not once per copy.
        assert not {first, copy} <= set(box_ids(conn, ids[1]))
        assert set(box_ids(conn, first)) == {ids[1], ids[2]}


def test_cluster_assigned_later_is_honoured_on_update(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        a = add_article(conn, "Niger junta expels US troops", SAHEL, "2024-04-12")
        b = add_article(conn, "Niger junta expels US troops", SAHEL, "2024-04-13", source="b")
        update_related(conn, [a, b])
        assert box_ids(conn, a) == [b]
        conn.execute(update(articles).where(articles.c.id == b).values(cluster_id=a))
        changed = update_related(conn, [b])
        assert {a, b} <= changed
        assert box_ids(conn, a) == [] and box_ids(conn, b) == []


def test_window_both_sides(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        mid = add_article(conn, "Niger junta and US troops", SAHEL, "2024-04-12")
        before_in = add_article(conn, "Niger junta and US troops", SAHEL, "2024-01-20")
        after_in = add_article(conn, "Niger junta and US troops", SAHEL, "2024-07-05")
        before_out = add_article(conn, "Niger junta and US troops", SAHEL, "2024-01-10")
        after_out = add_article(conn, "Niger junta and US troops", SAHEL, "2024-07-15")
        ids = [mid, before_in, after_in, before_out, after_out]
        update_related(conn, ids, Settings(count=10, window=timedelta(days=90)))
        assert set(box_ids(conn, mid)) == {before_in, after_in}
        # Dates are the articles' own: two 2024 articles relate whatever today is.
        assert mid in box_ids(conn, before_in) and mid in box_ids(conn, after_in)
        assert before_out not in box_ids(conn, after_out)


def test_newer_article_enters_older_box(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        old = add_article(conn, "Niger junta orders US troops out", SAHEL, "2024-04-12")
        weak = add_article(
            conn, "Drone base in the Sahel", "A drone base in the desert.", "2024-04-13"
        )
        noise = [add_article(conn, t, b, "2024-04-14") for t, b in NOISE]
        update_related(conn, [old, weak, *noise], Settings(count=1))
        assert box_ids(conn, old) == [weak]
        new = add_article(conn, "US troops leave Niger as junta orders", SAHEL, "2024-06-01")
        changed = update_related(conn, [new], Settings(count=1))
        assert box_ids(conn, old) == [new]
        assert changed == {new, old}
        assert box_ids(conn, weak) == [old]  # same text, but old is closer in time
        assert box_ids(conn, noise[0]) == []


def test_count_and_min_score(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        same = [
            add_article(conn, f"Niger junta and US troops, part {i}", SAHEL, f"2024-04-{10 + i}")
            for i in range(6)
        ]
        lonely = add_article(
            conn,
            "Quantum error correction milestone",
            "Physicists report a logical qubit with fewer errors.",
            "2024-04-12",
        )
        noise = [add_article(conn, t, b, "2024-04-12") for t, b in NOISE]
        update_related(conn, [*same, lonely, *noise], Settings(count=3))
        for article_id in same:
            items = related_for(conn, article_id)
            assert len(items) == 3
            assert all(i.score >= DEFAULT_MIN_SCORE for i in items)
            assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)
        assert related_for(conn, lonely) == []
        for article_id in noise:
            assert related_for(conn, article_id) == []


def test_related_for_renders_items(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        a = add_article(conn, "Niger junta orders US troops out", SAHEL, "2024-04-12")
        b = add_article(conn, "US troops leave Niger", SAHEL, "2024-06-01")
        update_related(conn, [a, b])
        [item] = related_for(conn, a)
        assert (item.article_id, item.title, item.url) == (
            b,
            "US troops leave Niger",
            "https://wire.example/2",
        )
        assert item.published.year == 2024 and item.published.tzinfo is not None


def build(engine: Engine, batches: list[list[int]] | None) -> dict[int, list[tuple[int, float]]]:
    """The same corpus indexed in the given batches of ids (None = all at once)."""
    with engine.begin() as conn:
        ids = corpus(conn)
        for i, (t, b) in enumerate(NOISE):  # more overlap so boxes compete
            ids.append(
                add_article(conn, f"{t} in Niger", f"{b} {SAHEL[:40]}", f"2024-0{4 + i % 3}-2{i}")
            )
        for batch in batches if batches is not None else [list(range(len(ids)))]:
            update_related(conn, [ids[i] for i in batch])
        return boxes(conn)


def test_incremental_equals_all_at_once_and_is_deterministic(new_store: NewStore) -> None:
    at_once = build(new_store(), None)
    again = build(new_store(), None)
    one_by_one = build(new_store(), [[i] for i in range(12)])
    chunks = build(new_store(), [[0, 1, 2], [3, 4, 5, 6, 7], [8, 9, 10, 11]])
    assert at_once and at_once == again == one_by_one == chunks


def test_remove_articles_refills_boxes(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        ids = [
            add_article(conn, f"Niger junta and US troops {i}", SAHEL, f"2024-04-1{i}")
            for i in range(5)
        ]
        update_related(conn, ids, Settings(count=2))
        victim = box_ids(conn, ids[0])[0]
        changed = remove_articles(conn, [victim], Settings(count=2))
        conn.execute(delete(articles).where(articles.c.id == victim))
        assert ids[0] in changed
        assert victim not in box_ids(conn, ids[0]) and len(box_ids(conn, ids[0])) == 2
        left = conn.scalar(
            select(related_terms.c.article_id).where(related_terms.c.article_id == victim)
        )
        assert left is None
        assert (
            conn.scalar(
                select(related_docs.c.article_id).where(related_docs.c.article_id == victim)
            )
            is None
        )


def test_changed_text_reindexes(new_store: NewStore) -> None:
    engine = new_store()
    with engine.begin() as conn:
        a = add_article(conn, "Niger junta orders US troops out", SAHEL, "2024-04-12")
        b = add_article(conn, "US troops leave Niger", SAHEL, "2024-06-01")
        c = add_article(conn, "Champions League final", "Madrid won the final.", "2024-06-01")
        update_related(conn, [a, b, c])
        assert box_ids(conn, a) == [b]
        conn.execute(
            update(articles)
            .where(articles.c.id == b)
            .values(title="Champions League final replay", content="Madrid won the final again.")
        )
        changed = update_related(conn, [b])
        assert a in changed and b in changed
        assert box_ids(conn, a) == [] and box_ids(conn, b) == [c]


def test_document_frequencies_change_in_few_statements(new_store: NewStore) -> None:
    """`count_document` (issue 14: one UPDATE for all known terms, one INSERT for new ones)
    gives the dfs and the document count the per-term path gave, and a removal drops only
    the terms that reached 0."""
    engine = new_store()
    with engine.begin() as conn:
        assert db.count_document(conn, ["niger", "troop"], +1) == ({"niger": 1, "troop": 1}, 1)
        df, documents = db.count_document(conn, ["base", "niger", "troop"], +1)
        assert (df, documents) == ({"base": 1, "niger": 2, "troop": 2}, 2)
        assert db.change_frequencies(conn, ["base", "niger"], -1) == {"base": 0, "niger": 1}
        assert db.frequencies(conn, ["base", "niger", "troop"]) == {"niger": 1, "troop": 2}
        assert db.documents(conn) == 1


def test_boxes_are_written_together(new_store: NewStore) -> None:
    """`write_boxes` (issue 14: a few statements for all of an article's offers) stores each
    box in rank order with its size and floor, and replaces what was there."""
    engine = new_store()
    with engine.begin() as conn:
        ids = corpus(conn)
        update_related(conn, ids)
        a, b, c, d = ids[:4]
        docs = db.read_docs(conn, [a, b, c, d])

        def link(i: int, score: float) -> db.Link:
            return db.Link(i, score, docs[i].published, docs[i].cluster_key)

        db.write_boxes(
            conn,
            {a: ([link(c, 0.5), link(d, 0.25)], 0.25), b: ([], 0.0), c: ([link(a, 0.75)], 0.0)},
        )
        stored = db.read_boxes(conn, [a, b, c])
        assert [(x.related_id, x.score) for x in stored[a]] == [(c, 0.5), (d, 0.25)]
        assert stored[b] == [] and [x.related_id for x in stored[c]] == [a]
        after = db.read_docs(conn, [a, b, c])
        assert [(after[i].box_size, after[i].floor) for i in (a, b, c)] == [
            (2, 0.25),
            (0, 0.0),
            (1, 0.0),
        ]
