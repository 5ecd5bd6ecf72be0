"""Text vectors in the store: computed once per article, reused, recomputed on a model change.

The edge between `semantic` (the model) and `feedhub.store.vectors` (the rows). The parse
workers compute each new or changed article's vector (`semantic.article_vectors`, without
this module's SQL imports) and ingest stores it
(`store_prepared`); indexing calls `ensure` for any article still without one; `backfill`
gives a store written before vectors existed (or by another model) its vectors in paced
transactions on the first publish, and recomputes the boxes of the articles it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from feedhub.related import semantic, window
from feedhub.related.score import W_LEX, bonuses, combine_many, floors, rounded
from feedhub.related.text import lead_text
from feedhub.store import related as db
from feedhub.store import vectors as vdb
from feedhub.store.pace import Pacer
from feedhub.util.text import html_to_text

if TYPE_CHECKING:
    from numpy.typing import NDArray

Begin = Callable[[], AbstractContextManager[Connection]]


def body_text(doc: db.ArticleText) -> str:
    """The plain text embedded after the title: content, or the summary when there is none
    (as `semantic.article_vectors` computes it in the parse workers)."""
    return html_to_text(doc.content) or html_to_text(doc.summary)


def embed(
    title: str, summary: str, content: str, page: bool = False
) -> tuple[NDArray[np.float32], int] | None:
    """An article's text vector and token count: its title and body, and, when its content
    is its page's text (``page``: full text, issue 15), the feed's teaser as its lead."""
    content_text, summary_text = html_to_text(content), html_to_text(summary)
    lead = lead_text(summary_text, content_text) if page else ""
    return semantic.embed_article(title, content_text or summary_text, lead)


def article_vector(title: str, summary: str, content: str) -> tuple[int, bytes] | None:
    """(token count, blob) of an article as stored; None when the model package is not
    installed (`semantic.article_vectors`, which the parse workers call for a feed)."""
    return semantic.article_vectors([(title, summary, content)])[0]


def store_prepared(conn: Connection, prepared: dict[int, tuple[int, bytes]]) -> None:
    """Store vectors the parse workers computed, by article id (ingest's write transaction).

    Only a worker with the model makes vectors, so they are of `semantic.MODEL_ID`: the
    writer does not load the model itself (~1 s of CPU per `fetch`)."""
    if not prepared:
        return
    when = vdb.published_of(conn, prepared.keys())
    rows = [(i, when[i], w, blob) for i, (w, blob) in prepared.items() if i in when]
    _write(conn, semantic.MODEL_ID, rows)


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
        made = embed(d.title, d.summary, d.content, d.page)
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
    reweigh: Callable[[Connection, Sequence[int]], object] | None = None,
) -> int:
    """Give every stored article a vector of the current model, in paced write transactions,
    then ``reweigh`` the term vectors of the indexed ones among them (a changed lead rule,
    `update.reweigh_leads`) and ``recompute`` their boxes; returns how many."""
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
    if reweigh is not None:
        Pacer(budget, pause).run(boxes, write, reweigh)
    Pacer(budget, pause).run(boxes, write, recompute)
    return len(ids)


@dataclass(frozen=True, slots=True)
class Pairs:
    """The articles related to one article (over its floor), best first: aligned arrays of
    ids, scores and dates (epoch s). Not yet filtered to indexed articles."""

    ids: NDArray[np.int64]
    scores: NDArray[np.float64]
    published: NDArray[np.int64]


# A row is scored exactly (float64) when its float32 estimate is within this of its floor:
# a float32 dot product of unit 256-dimension vectors is off by < 2e-5.
_ESTIMATE_MARGIN = 1e-3


def related_pairs(
    conn: Connection,
    article_id: int,
    published: datetime,
    lexical_ids: Sequence[int],
    lexical_scores: Sequence[float],
    window_: timedelta,
    closeness: float,
    use_floor: bool = True,
) -> Pairs | None:
    """Every article in ±window related to ``article_id``, scored (`score.combine_many`)
    from the term index's hits (``lexical_ids`` with their term-vector cosines) and the
    window's text vectors, best first (score, then closeness, then id); None when
    this article has no vector (no model): the caller then scores by shared words alone.
    ``use_floor`` False keeps every pair of similarity ≥ 0 (the UCI protocol).

    The window's cosines come from one float32 product; only the rows that may clear
    their floor are scored, from float64 cosines, so a pair's score is the same on every
    path and from either side.
    """
    found = _window(conn, article_id, published, window_)
    if found is None:
        return None
    query, mine_words, blocks = found
    ids = np.concatenate([b.ids for b in blocks])
    words = np.concatenate([b.words for b in blocks])
    dates = np.concatenate([b.published for b in blocks])
    estimate = np.concatenate([semantic.dots(b.rows, query) for b in blocks]).astype(np.float64)
    lex = np.zeros(len(ids))
    if len(lexical_ids):
        hit_ids = np.asarray(lexical_ids, dtype=np.int64)
        scores = np.asarray(lexical_scores, dtype=np.float64)
        # Each window row's hit, if any (searching the hits: the window is the larger).
        by_id = np.argsort(hit_ids)
        pos = np.minimum(np.searchsorted(hit_ids[by_id], ids), len(hit_ids) - 1)
        is_hit = hit_ids[by_id][pos] == ids
        lex[is_hit] = scores[by_id][pos[is_hit]]
        # A lexical hit without a vector: semantic 0, the floor of two equal lengths.
        missing = np.ones(len(hit_ids), dtype=bool)
        missing[by_id[pos[is_hit]]] = False
        missing &= hit_ids != article_id
        if missing.any():
            extra = hit_ids[missing]
            known = db.read_docs(conn, extra.tolist())
            ids = np.concatenate([ids, extra])
            words = np.concatenate([words, np.full(len(extra), mine_words)])
            dates = np.concatenate([dates, np.array(
                [vdb.epoch(known[i].published) if i in known else 0 for i in extra.tolist()],
                dtype=np.int64,
            )])
            estimate = np.concatenate([estimate, np.zeros(int(missing.sum()))])
            lex = np.concatenate([lex, scores[missing]])
    keep = np.flatnonzero(ids != article_id)
    floor = floors(mine_words, words) if use_floor else np.zeros(len(ids))
    if use_floor:
        near = W_LEX * lex + (1.0 - W_LEX) * estimate >= floor - _ESTIMATE_MARGIN
        keep = keep[near[keep]]
    # Exact cosines of the kept rows (no vector: 0).
    exact = np.zeros(len(keep))
    sizes = np.cumsum([0, *(len(b.ids) for b in blocks)])
    q64 = query.astype(np.float64)
    for b, lo, hi in zip(blocks, sizes[:-1], sizes[1:], strict=True):
        inside = (keep >= lo) & (keep < hi)
        exact[inside] = semantic.dots(b.rows[keep[inside] - lo].astype(np.float64), q64)
    bonus = bonuses(np.abs(dates[keep] - vdb.epoch(published)), window_, closeness)
    sim, score = combine_many(rounded(lex[keep]), rounded(exact), bonus)
    related = sim >= floor[keep]
    keep, score = keep[related], score[related]
    apart = np.abs(dates[keep] - vdb.epoch(published))
    order = np.lexsort((ids[keep], apart, -score))
    return Pairs(ids[keep][order], score[order], dates[keep][order])


def _window(
    conn: Connection, article_id: int, published: datetime, span: timedelta
) -> tuple[NDArray[np.float32], int, list[window.Block]] | None:
    """The article's vector and token count, and the rows of the articles with a vector in
    ±span (the article itself among them); None when the article has none.

    From the related run's window index when one is active, else from the store: the same
    rows either way (in another order), so the same scores."""
    index = window.active(conn)
    if index is not None:
        own = index.vector(article_id)
        if own is None:
            return None
        query, mine_words = own
        return query, mine_words, index.between(published - span, published + span)
    model = semantic.model_id()
    stored = None if model is None else vdb.read_vectors(conn, [article_id], model)
    mine = None if stored is None or model is None else stored.get(article_id)
    if mine is None:
        return None
    near = vdb.vectors_between(conn, published - span, published + span, model)
    block = window.Block(
        np.array([v.article_id for v in near], dtype=np.int64),
        np.array([v.words for v in near], dtype=np.int64),
        np.array([v.published for v in near], dtype=np.int64),
        semantic.from_blobs([v.vec for v in near]),
    )
    return semantic.from_blob(mine.vec), mine.words, [block]
