"""Text vectors in the store: computed once per article, reused, recomputed on a model change.

The edge between `semantic` (the model) and `feedhub.store.vectors` (the rows). The parse
workers compute each new or changed article's vector (`article_vector`) and ingest stores it
(`store_prepared`); indexing calls `ensure` for any article still without one; `backfill`
gives a store written before vectors existed (or by another model) its vectors in paced
transactions on the first publish, and recomputes the boxes of the articles it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from feedhub.related import semantic, window
from feedhub.related.score import (
    FLOOR_LONG,
    FLOOR_SHORT,
    LONG_WORDS,
    SHORT_WORDS,
    W_LEX,
    Parts,
    combine,
    floor_for,
    time_bonus,
)
from feedhub.store import related as db
from feedhub.store import vectors as vdb
from feedhub.store.pace import Pacer
from feedhub.util.text import html_to_text

if TYPE_CHECKING:
    from numpy.typing import NDArray

Begin = Callable[[], AbstractContextManager[Connection]]


def body_text(doc: db.ArticleText) -> str:
    """The plain text embedded after the title: content, or the summary when there is none
    (as `article_vector` computes it in the parse workers)."""
    return html_to_text(doc.content) or html_to_text(doc.summary)


def article_vector(title: str, summary: str, content: str) -> tuple[int, bytes] | None:
    """(token count, blob) of an article as stored, for the parse workers; None when the
    model package is not installed (checked quietly: the publisher gives the one warning)."""
    if not _installed() or not semantic.available():
        return None
    made = semantic.embed_article(title, html_to_text(content) or html_to_text(summary))
    return (0, b"") if made is None else (made[1], semantic.to_blob(made[0]))


def _installed() -> bool:
    from importlib.util import find_spec

    try:
        return find_spec("wordllama") is not None
    except ValueError:  # a None in sys.modules: the import is blocked
        return False


def store_prepared(conn: Connection, prepared: dict[int, tuple[int, bytes]]) -> None:
    """Store vectors the parse workers computed, by article id (ingest's write transaction)."""
    model = semantic.model_id()
    if model is None or not prepared:
        return
    when = vdb.published_of(conn, prepared.keys())
    rows = [(i, when[i], w, blob) for i, (w, blob) in prepared.items() if i in when]
    _write(conn, model, rows)


def _write(conn: Connection, model: str, rows: list[tuple[int, datetime, int, bytes]]) -> None:
    """Store vectors, and keep the related run's window index (if any) current."""
    vdb.write_vectors(conn, model, semantic.DIMENSION, rows)
    window.written(rows)


def ensure(conn: Connection, docs: Iterable[db.ArticleText], refresh: Iterable[int] = ()) -> int:
    """Store vectors for those of ``docs`` without one of the current model, and afresh for
    the ids in ``refresh`` (their text changed); returns how many were computed."""
    model = semantic.model_id()
    docs = list(docs)
    if model is None or not docs:
        return 0
    have = vdb.read_vectors(conn, [d.id for d in docs], model).keys() - set(refresh)
    rows = []
    for d in docs:
        if d.id in have:
            continue
        made = semantic.embed_article(d.title, body_text(d))
        # A text with no tokens gets an empty row (0 words), so it is not computed again.
        vec, words = made if made is not None else (None, 0)
        rows.append((d.id, d.published, words, b"" if vec is None else semantic.to_blob(vec)))
    _write(conn, model, rows)
    return len(rows)


def backfill(
    read: Begin,
    write: Begin,
    recompute: Callable[[Connection, Sequence[int]], object],
    budget: float,
    pause: float = 0.0,
) -> int:
    """Give every stored article a vector of the current model, in paced write transactions,
    then ``recompute`` the boxes of the indexed ones among them; returns how many."""
    model = semantic.model_id()
    if model is None:
        return 0
    with read() as conn:
        ids = vdb.stale_ids(conn, model)
        indexed = set(db.indexed_ids(conn)) if ids else set()
    if not ids:
        return 0
    Pacer(budget, pause).run(
        ids, write, lambda conn, part: ensure(conn, db.read_articles(conn, part).values())
    )
    boxes = [i for i in ids if i in indexed]
    Pacer(budget, pause).run(boxes, write, recompute)
    return len(ids)


def scored_pairs(
    conn: Connection,
    article_id: int,
    published: datetime,
    lexical: dict[int, tuple[db.DocInfo, float]],
    window_: timedelta,
    closeness: float,
    use_floor: bool = True,
) -> list[tuple[db.DocInfo, Parts]] | None:
    """Every indexed article in ±window scored against ``article_id`` (lexical hits plus
    the window's vectors, searched exactly), or None when this article has no vector
    (no model): the caller then scores by shared words alone. ``use_floor`` False ranks
    every article in the window (the UCI protocol), however unrelated."""
    found = _window(conn, article_id, published, window_)
    if found is None:
        return None
    mine_words, ids, counts, raw = found
    if use_floor and len(ids):
        # Most of a window is unrelated: drop rows whose similarity without shared words
        # is clearly under the pair's floor before scoring each in Python (a margin keeps
        # every row `combine` could let through; it decides).
        shorter = np.minimum(counts, mine_words)
        share = np.clip((shorter - SHORT_WORDS) / (LONG_WORDS - SHORT_WORDS), 0.0, 1.0)
        floors = FLOOR_SHORT + share * (FLOOR_LONG - FLOOR_SHORT)
        near = (1.0 - W_LEX) * raw >= floors - 1e-4
        near |= np.isin(ids, np.fromiter(lexical, dtype=np.int64, count=len(lexical)))
        ids, counts, raw = ids[near], counts[near], raw[near]
    sems = dict(zip(ids.tolist(), (semantic.cosine(x) for x in raw.tolist()), strict=True))
    words = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    parts: dict[int, Parts] = {}
    for other in sems.keys() | lexical.keys():
        when = lexical[other][0].published if other in lexical else None
        p = combine(
            lexical[other][1] if other in lexical else 0.0,
            sems.get(other, 0.0),
            0.0 if when is None else time_bonus(published, when, window_, closeness),
            floor_for(mine_words, words.get(other, mine_words)) if use_floor else 0.0,
        )
        if p.related:
            parts[other] = p
    infos = {i: lexical[i][0] for i in parts if i in lexical}
    infos.update(db.read_docs(conn, [i for i in parts if i not in infos]))  # indexed only
    result = []
    for other, info in infos.items():
        p = parts[other]
        bonus = time_bonus(published, info.published, window_, closeness)
        result.append((info, combine(p.lexical, p.semantic, bonus, p.floor)))
    return result


def _window(
    conn: Connection, article_id: int, published: datetime, span: timedelta
) -> tuple[int, NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]] | None:
    """The article's token count, and the ids, token counts and raw text-vector cosines of
    the other articles with a vector in ±span (by id); None when the article has none.

    From the related run's window index when one is active, else from the store: the
    same rows in the same order either way, so the same cosines."""
    index = window.active(conn)
    if index is not None:
        own = index.vector(article_id)
        if own is None:
            return None
        query, mine_words = own
        ids, counts, rows = index.between(published - span, published + span)
    else:
        model = semantic.model_id()
        stored = None if model is None else vdb.read_vectors(conn, [article_id], model)
        mine = None if stored is None or model is None else stored.get(article_id)
        if mine is None:
            return None
        query, mine_words = semantic.from_blob(mine.vec), mine.words
        near = vdb.vectors_between(conn, published - span, published + span, model)
        ids = np.array([v.article_id for v in near], dtype=np.int64)
        counts = np.array([v.words for v in near], dtype=np.int64)
        rows = semantic.from_blobs([v.vec for v in near])
    keep = ids != article_id
    return mine_words, ids[keep], counts[keep], semantic.raw_cosines(query, rows[keep])
