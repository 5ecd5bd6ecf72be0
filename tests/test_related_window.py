"""A related run's in-memory window index gives the boxes the store's window query gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select

from feedhub.related import Settings, remove_articles, semantic, update_related
from feedhub.related.run import update_pending_related
from feedhub.related.window import window_index
from feedhub.store import Store
from feedhub.store.related import related_links
from feedhub.store.schema import pending_related
from tests.test_related_support import DATA, add_article, make_engine, read_story

pytestmark = pytest.mark.skipif(not semantic.available(), reason="wordllama not installed")


def stored_boxes(conn: Connection) -> list[tuple[int, int, int, float]]:
    lk = related_links.c
    return [tuple(r) for r in conn.execute(select(lk).order_by(lk.article_id, lk.rank))]


def build(tmp_path: Path, name: str, in_memory: bool, min_score: float) -> list:
    """The labelled corpus (the reference thread and unrelated singletons) plus a text
    without words, indexed in two calls: the second half's vectors are written after the
    run's index was loaded, so they reach it only through the writes."""
    engine = make_engine(tmp_path, name)
    with engine.begin() as conn:
        ids = [
            add_article(conn, title, f"<p>{body}</p>", date)
            for title, date, body, _ in map(read_story, sorted(DATA.glob("[bd]*.txt")))
        ]
        ids.append(add_article(conn, "…", "<p>—</p>", "2024-04-12"))  # no tokens: empty row
        half = len(ids) // 2
        if in_memory:
            with window_index() as index:
                update_related(conn, ids[:half], Settings(min_score=min_score))
                assert index is not None and index.loaded
                update_related(conn, ids[half:], Settings(min_score=min_score))
        else:
            update_related(conn, ids[:half], Settings(min_score=min_score))
            update_related(conn, ids[half:], Settings(min_score=min_score))
        return stored_boxes(conn)


@pytest.mark.parametrize("min_score", [0.08, 0.0])  # with the floor, and ranking everything
def test_window_index_gives_the_boxes_of_the_store_query(
    tmp_path: Path, min_score: float
) -> None:
    from_store = build(tmp_path, "sql.db", in_memory=False, min_score=min_score)
    in_memory = build(tmp_path, "mem.db", in_memory=True, min_score=min_score)
    # With the floor only the reference thread links; without it every box is full.
    assert len({r[0] for r in from_store}) >= (2 if min_score else 15)
    assert in_memory == from_store


def boxes_by_title(
    tmp_path: Path, name: str, order: list[Path]
) -> dict[tuple[str, int], tuple[str, float]]:
    """A first publish's boxes of the stories stored in ``order``, by title (ids follow
    the order, as concurrent fetches store articles in the order they finish)."""
    store = Store.open(f"sqlite:///{tmp_path / name}")
    try:
        with store.write() as conn:
            title_of = {}
            for title, date, body, _ in map(read_story, order):
                title_of[add_article(conn, title, f"<p>{body}</p>", date)] = title
            conn.execute(insert(pending_related), [{"article_id": i} for i in title_of])
        update_pending_related(store, Settings(min_score=0.0))
        with store.read() as conn:
            return {
                (title_of[a], rank): (title_of[b], score)
                for a, rank, b, score in stored_boxes(conn)
            }
    finally:
        store.close()


def test_a_first_publish_does_not_depend_on_the_order_articles_were_stored(
    tmp_path: Path,
) -> None:
    # The 19 articles cross the re-freeze size 16: the weights frozen there depended on
    # which 16 came first, and the boxes with them (SQLite and PostgreSQL disagreed so).
    files = sorted(DATA.glob("[bd]*.txt"))
    forward = boxes_by_title(tmp_path, "forward.db", files)
    assert forward and forward == boxes_by_title(tmp_path, "reverse.db", files[::-1])


def spread(rng: random.Random, start: datetime, days: int) -> list[tuple[str, str, datetime]]:
    """The labelled corpus three times over, at random dates in ``days`` from ``start``,
    oldest first: (title, content, published)."""
    stories = [read_story(p) for p in sorted(DATA.glob("[bd]*.txt"))]
    rows = [(title, f"<p>{body}</p>", start + timedelta(days=rng.randint(0, days)))
            for _ in range(3) for title, _, body, _ in stories]
    return sorted(rows, key=lambda r: r[2])


def test_a_run_reads_only_the_dates_its_windows_need_and_gives_the_same_boxes(
    tmp_path: Path,
) -> None:
    """Articles over two years, a 30-day window; the newest dozen arrive last, in an order
    that jumps back and forth over their weeks (as a publish's new articles do). The run's
    index reads the windows asked about (widening its interval, reading the new articles'
    own vectors first), not the whole store, and gives the boxes of the store query."""
    rng = random.Random(17)
    rows = spread(rng, datetime(2023, 1, 1, tzinfo=UTC), days=730)
    s = Settings(window=timedelta(days=30), min_score=0.0)
    order = list(range(len(rows) - 12, len(rows)))
    rng.shuffle(order)  # one order for both stores: a vector's weights follow the order
    results = []
    for in_memory in (False, True):
        engine = make_engine(tmp_path, f"spread-{in_memory}.db")
        with engine.begin() as conn:
            ids = [add_article(conn, t, b, when) for t, b, when in rows]
            old, new = ids[:-12], [ids[i] for i in order]
            update_related(conn, old, s)
            if in_memory:
                with window_index() as index:
                    assert index is not None
                    for part in (new[:5], new[5:]):
                        update_related(conn, part, s)
                    held = index._main.size + index._tail.size
                assert len(new) < held < len(ids)  # the windows' dates, not the store
            else:
                for part in (new[:5], new[5:]):
                    update_related(conn, part, s)
            results.append(stored_boxes(conn))
    assert len({r[0] for r in results[0]}) > 10
    assert results[1] == results[0]


def test_removing_articles_inside_a_run_refills_boxes_as_the_store_query_does(
    tmp_path: Path,
) -> None:
    """Retention removes old articles inside a run (`feedhub.retention.prune`): the boxes
    that listed them are refilled from the run's index as from the store, though the index
    still holds the removed articles' vectors (they are no longer indexed, so never taken)."""
    rows = spread(random.Random(5), datetime(2024, 1, 1, tzinfo=UTC), days=120)
    s = Settings(window=timedelta(days=30), min_score=0.0)
    results = []
    for in_memory in (False, True):
        engine = make_engine(tmp_path, f"prune-{in_memory}.db")
        with engine.begin() as conn:
            ids = [add_article(conn, t, b, when) for t, b, when in rows]
            update_related(conn, ids, s)
            before = stored_boxes(conn)
            gone = ids[:12]
            if in_memory:
                with window_index():
                    for part in (gone[:6], gone[6:]):
                        remove_articles(conn, part, s)
            else:
                for part in (gone[:6], gone[6:]):
                    remove_articles(conn, part, s)
            after = stored_boxes(conn)
            assert after != before
            assert not {r[2] for r in after} & set(gone)
            results.append(after)
    assert results[1] == results[0]
