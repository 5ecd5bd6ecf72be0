"""The batch path of Related News (`feedhub.related.batch`, issue 17) leaves the store the
per-article path leaves: the same boxes (ids, scores, order, floors), df table, term vectors
and text vectors.

Seeded random stores of made-up news: threads sharing words, exact copies (ties: the same
score from a third article, the same date), copies in one dedupe cluster, articles with
words nobody else uses (an empty box), dates beyond the window. The per-article path is
`update.index_until_refreeze` / `update.recompute_boxes`; the batch path indexes runs of new
articles and computes a re-freeze's boxes many at a time. Compared on SQLite files and on
the PostgreSQL server (its full-text candidates).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, insert, select, update

import feedhub.related.batch as batch
import feedhub.related.refreeze as refreeze_module
import feedhub.related.run as run_module
import feedhub.related.update as upd
from feedhub.related import semantic
from feedhub.related.run import update_pending_related
from feedhub.related.update import Settings, update_related
from feedhub.related.window import window_index
from feedhub.store import Store
from feedhub.store.related import (
    related_df,
    related_docs,
    related_links,
    related_stats,
    related_terms,
)
from feedhub.store.schema import articles, pending_related
from feedhub.store.vectors import related_vectors
from tests.conftest import pg_database
from tests.test_related_support import add_article

pytestmark = pytest.mark.skipif(not semantic.available(), reason="wordllama not installed")

THREADS = [
    ["niger", "junta", "troops", "drone", "base", "niamey", "sahel", "withdrawal", "american"],
    ["mali", "election", "court", "ballot", "bamako", "opposition", "vote", "junta"],
    ["kenya", "flood", "nairobi", "rain", "river", "displaced", "families", "red", "cross"],
    ["central", "bank", "rates", "inflation", "currency", "budget", "market", "oil"],
    ["football", "final", "stadium", "madrid", "league", "fans", "extra", "time"],
    ["tablet", "chip", "screen", "apple", "launch", "phone", "battery", "factory"],
]
COMMON = ["government", "officials", "people", "city", "region", "country", "week", "plan"]
SETTINGS = Settings(count=3, window=timedelta(days=20))
BASE = datetime(2024, 3, 1, tzinfo=UTC)


class Corpus:
    """Seeded made-up articles; every kind the boxes must handle."""

    def __init__(self, seed: int, empty: float = 0.04, days: int = 70) -> None:
        self.rng = random.Random(seed)
        self.empty, self.days = empty, days
        self.texts: list[tuple[int, str, str, datetime]] = []  # what was added, for copies

    def add(self, conn: Connection, n: int) -> list[int]:
        ids = []
        for _ in range(n):
            roll = self.rng.random()
            if self.texts and roll < 0.2:
                # A copy: the same text (and often the same date) from another outlet,
                # half of them in the original's dedupe cluster.
                original, title, body, when = self.rng.choice(self.texts)
                if self.rng.random() < 0.5:
                    when += timedelta(hours=self.rng.randint(1, 30))
                cluster = original if self.rng.random() < 0.5 else None
                ids.append(
                    add_article(
                        conn,
                        title,
                        body,
                        when,
                        cluster_id=cluster,
                        source=f"copy{self.rng.randint(1, 3)}",
                    )
                )
                self.texts.append((ids[-1], title, body, when))
                continue
            if roll < 0.2 + self.empty:  # no words: nothing clears the floor, in a full window
                when = BASE + timedelta(days=self.rng.randint(0, self.days))
                ids.append(add_article(conn, "…", "<p>— –</p>", when))
                self.texts.append((ids[-1], "…", "<p>— –</p>", when))
                continue
            if roll < 0.24 + self.empty:  # words no other article has
                words = ["".join(self.rng.choices("bcdfghjklmnpqrstvwxz", k=7)) for _ in range(8)]
            else:
                thread = self.rng.choice(THREADS)
                words = [self.rng.choice(thread + COMMON) for _ in range(self.rng.randint(6, 40))]
            title = " ".join(words[:5]).capitalize()
            body = "<p>" + " ".join(words) + ".</p>"
            # Microseconds on a few: the index keeps whole seconds, boxes compare what it keeps.
            when = BASE + timedelta(
                days=self.rng.randint(0, self.days), hours=self.rng.randint(0, 23)
            )
            if self.rng.random() < 0.2:
                when += timedelta(microseconds=self.rng.randint(1, 999_999))
            ids.append(add_article(conn, title, body, when))
            self.texts.append((ids[-1], title, body, when))
        return ids


def full_state(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Everything the related stage stores, in a stable order."""
    tables = {
        "links": (related_links, ("article_id", "rank")),
        "terms": (related_terms, ("term", "article_id")),
        "docs": (related_docs, ("article_id",)),
        "df": (related_df, ("term",)),
        "stats": (related_stats, ("id",)),
        "vectors": (related_vectors, ("article_id",)),
    }
    state = {}
    for name, (table, order) in tables.items():
        cols = [c for c in table.c if c.name != "tsv"]  # PostgreSQL's derived column
        rows = conn.execute(select(*cols).order_by(*(table.c[o] for o in order)))
        state[name] = [tuple(r) for r in rows]
    return state


def change_some(conn: Connection, ids: Sequence[int], rng: random.Random) -> None:
    """New text for some articles and a dedupe cluster for others (both are re-indexed)."""
    for i in ids:
        if rng.random() < 0.5:
            words = [rng.choice(rng.choice(THREADS)) for _ in range(12)]
            conn.execute(
                update(articles)
                .where(articles.c.id == i)
                .values(title=" ".join(words[:4]).capitalize(), content=" ".join(words))
            )
        else:
            other = conn.scalar(select(articles.c.id).where(articles.c.id != i).limit(1))
            conn.execute(update(articles).where(articles.c.id == i).values(cluster_id=other))


def drive(
    conn: Connection,
    ids: Sequence[int],
    index: Callable[[Connection, Sequence[int], Settings], upd.IndexStep],
    sizes: Iterator[int],
    s: Settings,
) -> None:
    """`update_related`'s loop with ``index`` for the indexing and parts of ``sizes`` ids
    (as the publisher's paced batches), in a related run (the window index)."""
    todo = sorted(set(ids))
    with window_index():
        while todo:
            step = index(conn, todo[: next(sizes)], s)
            if step.refreeze:
                upd._rebuild(conn, upd.db.indexed_ids(conn), s)
            done = set(step.done)
            todo = [i for i in todo if i not in done]


def sizes_of(seed: int) -> Iterator[int]:
    rng = random.Random(seed)
    while True:
        yield rng.choice([1, 2, 5, 9, 30, 500])


@pytest.mark.parametrize(
    ("seed", "min_score"), [(1, 0.08), (2, 0.08), (3, 0.08), (4, 0.0), (5, 0.0), (6, 0.08)]
)
def test_batches_index_as_one_by_one(
    tmp_path: Path, seed: int, min_score: float, monkeypatch
) -> None:
    """New runs, a changed article among them, gone and re-clustered ones, across the
    re-freeze sizes 16, 32 and 64, in parts of random sizes. ``min_score`` 0 ranks every
    pair in the window (no relevance floor): the texts without words (a third of them,
    spread out) then score by their dates alone, 0 beyond three days, so equal scores
    abound, at a full box's floor too (ties broken by date, then id)."""
    s = Settings(count=3, window=SETTINGS.window, min_score=min_score)
    states = []
    for path in ("one_by_one", "batch"):
        store = Store.open(f"sqlite:///{tmp_path / path}.db")
        rng = random.Random(seed)
        corpus = Corpus(seed) if min_score else Corpus(seed, empty=0.3, days=300)
        with store.write() as conn:
            ids = corpus.add(conn, 75)
            early = [*ids[:12], ids[40]]  # indexed first; ids[40] changes in the middle
            update_related(conn, early, s)
            change_some(conn, [ids[3], ids[5], ids[7], ids[40]], rng)
            conn.execute(delete(articles).where(articles.c.id.in_([ids[1], ids[9]])))
            todo = [ids[1], ids[3], ids[5], ids[7], ids[9], *ids[12:]]
            if path == "batch":
                monkeypatch.setattr(upd, "recompute_boxes", batch.recompute_boxes)
                known = batch.IndexRows()  # held across parts, as the publisher's run does

                def index(
                    c: Connection, part: Sequence[int], s: Settings, known=known
                ) -> upd.IndexStep:
                    step = batch.index_until_refreeze(c, part, s, known)
                    if step.refreeze:
                        known.drop()
                    return step

                drive(conn, todo, index, sizes_of(seed), s)
                monkeypatch.undo()
            else:
                drive(conn, todo, upd.index_until_refreeze, itertools.repeat(len(todo)), s)
            states.append(full_state(conn))
        store.close()
    one, many = states
    assert many == one
    boxes = {}
    for article_id, _, related_id, score in one["links"]:
        boxes.setdefault(article_id, []).append((related_id, score))
    docs = {r[0]: r for r in one["docs"]}
    assert len(docs) == 73 and one["stats"] == [(1, 73)]
    if min_score:
        assert any(r[4] == 0 for r in one["docs"]), "an article with an empty box"
    else:
        assert any(len({x for _, x in b}) < len(b) for b in boxes.values()), "equal scores"
    assert any(len(b) == 3 for b in boxes.values()), "full boxes"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh stores of one backend (PostgreSQL databases named after this branch)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    else:
        with pg_database("batch_boxes_test") as a, pg_database("batch_boxes_test") as b:
            yield a, b


def per_article(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the publisher's related run take the per-article path everywhere."""

    def recompute(conn: Connection, ids: Sequence[int], s: Settings, known=None) -> set[int]:
        upd.recompute_boxes(conn, ids, s)
        return set()

    monkeypatch.setattr(
        run_module,
        "index_until_refreeze",
        lambda conn, ids, s, known=None: upd.index_until_refreeze(conn, ids, s),
    )
    monkeypatch.setattr(run_module, "recompute_boxes", recompute)
    monkeypatch.setattr(refreeze_module, "recompute_boxes", recompute)


def test_the_publishers_run_gives_the_per_article_store(two_stores, monkeypatch) -> None:
    """`update_pending_related` over three publishes (a first one: one re-freeze; then new
    articles up to and across the size 128, changed and deleted ones): the same store."""
    states = []
    for url, path in zip(two_stores, ("one_by_one", "batch"), strict=True):
        if path == "one_by_one":
            per_article(monkeypatch)
        store = Store.open(url)
        rng, corpus = random.Random(7), Corpus(7)
        rounds = []
        for n in (40, 50, 60):
            with store.write() as conn:
                known = list(conn.scalars(select(articles.c.id).order_by(articles.c.id)))
                ids = corpus.add(conn, n)
                if known:
                    changed = rng.sample(known, 3)
                    change_some(conn, changed, rng)
                    # Deleted rows leave the index and the queue by their foreign keys.
                    gone = rng.sample(sorted(set(known) - set(changed)), 2)
                    conn.execute(delete(articles).where(articles.c.id.in_(gone)))
                    # One unchanged, queued again: indexed afresh all the same.
                    ids += [*changed, *(i for i in known[:2] if i not in gone)][:4]
                waiting = set(conn.scalars(select(pending_related.c.article_id)))
                conn.execute(
                    insert(pending_related), [{"article_id": i} for i in sorted(set(ids) - waiting)]
                )
            update_pending_related(store, SETTINGS, budget=0.05)
            with store.read() as conn:
                rounds.append(full_state(conn))
        store.close()
        monkeypatch.undo()
        states.append(rounds)
    one, many = states
    for k in range(3):
        assert many[k] == one[k], f"publish {k + 1}"
    assert len(one[-1]["docs"]) == 40 + 50 + 60 - 4
