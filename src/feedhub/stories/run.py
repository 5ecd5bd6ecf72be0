"""The stories stage's runner: the articles related has indexed → their stories, in the store.

Runs in the publish pipeline right after related (`feedhub.pipeline`), under the output
folder's lock, in short paced transactions like the related re-freeze (a busy service's
fetches commit between them). Articles are taken oldest first; each joins its dedupe
cluster's story, or the story `cluster.choose` picks among its neighbours, or starts one.
A publish on an unchanged store finds nothing to place and changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection

from feedhub.related.score import LEXICAL_MIN, SCORE_DIGITS, rounded
from feedhub.related.semantic import from_blob, from_blobs, model_id, raw_cosines
from feedhub.related.window import active, window_index
from feedhub.store import Store
from feedhub.store import related as rdb
from feedhub.store import stories as db
from feedhub.store import vectors as vdb
from feedhub.store.pace import Pacer
from feedhub.stories.cluster import (
    DEFAULT_SETTINGS,
    Neighbour,
    Settings,
    choose,
    related_flags,
)
from feedhub.stories.ids import story_id

STORIES_TXN_BUDGET = 0.2  # seconds one placing transaction may hold the write lock
STORIES_MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class StoriesReport:
    placed: int  # articles put into a story
    started: int  # stories begun by them
    mended: int  # articles moved to their dedupe cluster's story
    dropped: int  # stories removed: none of their articles is left


def update_stories(
    store: Store,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    budget: float = STORIES_TXN_BUDGET,
    pause: float = 0.0,
) -> StoriesReport:
    """Place every article stored so far that has no story yet (and that related has
    indexed), mend dedupe clusters split over stories, drop stories left empty."""
    pacer = Pacer(budget, pause, max_batch=STORIES_MAX_BATCH)
    with store.read() as conn:
        upto = db.unassigned_top(conn)
    placed = started = 0
    # The text vectors in memory for the run, as related holds them: reading each placed
    # article's ±window of vectors from SQL was a quarter of a first publish (issue 17).
    with window_index():
        while True:
            began = time.perf_counter()
            with store.write() as conn:
                batch = db.unassigned(conn, upto, pacer.batch)
                for article in batch:
                    started += place(conn, article, settings)
            placed += len(batch)
            if not batch:
                break
            pacer.record(time.perf_counter() - began)
    with store.write() as conn:
        mended = mend_clusters(conn)
        dropped = db.drop_empty(conn)
    return StoriesReport(placed, started, mended, dropped)


def rebuild_stories(
    store: Store,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    budget: float = STORIES_TXN_BUDGET,
    pause: float = 0.0,
) -> StoriesReport:
    """Forget every story and place all articles again (after a settings change), in
    paced transactions. A story keeps its id when it keeps its founding article."""
    with store.write() as conn:
        written = db.published_sigs(conn)
        db.clear_stories(conn)
    report = update_stories(store, settings, budget=budget, pause=pause)
    with store.write() as conn:
        # A story that kept its id keeps the mark of its written feed: the next publish
        # rewrites only the feeds whose stories changed (the mark names their members).
        db.mark_published(conn, written)
    return report


def place(conn: Connection, article: db.Unassigned, s: Settings) -> bool:
    """Put one article into a story; True when it started a new one."""
    joined = db.cluster_story(conn, article.cluster_key)
    if joined is None:
        joined = choose(article.published, *_neighbours(conn, article, s), s)
    if joined is None:
        joined = story_id(article.source, article.guid)
        if not db.story_exists(conn, joined):
            db.create_story(conn, joined, article.id, article.published)
            db.join_story(conn, article.id, joined)
            return True
    db.join_story(conn, article.id, joined)
    return False


def _neighbours(
    conn: Connection, article: db.Unassigned, s: Settings
) -> tuple[int, list[Neighbour]]:
    """The article's token count, and the placed articles within ±window of it with their
    lexical and text-vector cosines (the related stage's stored vectors) — of the stories
    `choose` can pick only: those with a related neighbour (`cluster.links`).

    Reading the story and date of every placed article in the window cost most of a
    publish of 2,000 new articles at 10k stored (the window held ~2,400 articles each;
    issue 17): those stories' neighbours alone give the same choice.
    """
    start, end = article.published - s.window, article.published + s.window
    lexical = {
        hit.doc.article_id: hit.score
        for hit in rdb.score_candidates(
            conn, rdb.read_vector(conn, article.id), start, end, LEXICAL_MIN
        )
    }
    found = _semantic(conn, article.id, start, end)
    words, cosines = found if found is not None else (0, {})
    near = sorted((lexical.keys() | cosines.keys()) - {article.id})
    lex = {other: round(lexical.get(other, 0.0), SCORE_DIGITS) for other in near}
    related = related_flags(
        words,
        [lex[other] for other in near],
        None if found is None else [cosines.get(other, (0.0, 0))[0] for other in near],
        [cosines[other][1] if other in cosines else words for other in near],
    )
    hits = [other for other, is_related in zip(near, related, strict=True) if is_related]
    if not hits:
        return words, []
    candidates = sorted(set(db.stories_of(conn, hits).values()))
    window = set(near)
    placed = {
        member: story
        for story, members in db.members_of(conn, candidates).items()
        for member in members
        if member in window
    }
    when = vdb.published_of(conn, placed)
    out = [
        Neighbour(
            other,
            story,
            when[other],
            cosines[other][1] if other in cosines else words,
            lex[other],
            None if found is None else cosines.get(other, (0.0, 0))[0],
        )
        for other, story in sorted(placed.items())
        if other in when
    ]
    return words, out


def _semantic(
    conn: Connection, article_id: int, start: datetime, end: datetime
) -> tuple[int, dict[int, tuple[float, int]]] | None:
    """(the article's token count, other id → (text-vector cosine, its token count)) for
    the articles with a vector in [start, end]; None without a model or a vector of its
    own (the pairs are then scored by shared words alone)."""
    index = active(conn)
    if index is not None:  # a run's vectors in memory: the same rows as the store's
        own = index.vector(article_id)
        if own is None:
            return None
        query, words = own
        blocks = index.between(start, end)
        ids = np.concatenate([b.ids for b in blocks]).tolist()
        counts = np.concatenate([b.words for b in blocks]).tolist()
        cos = rounded(np.concatenate([raw_cosines(query, b.rows) for b in blocks])).tolist()
        return words, {
            i: (float(c), n)
            for i, n, c in zip(ids, counts, cos, strict=True)
            if i != article_id
        }
    model = model_id()
    if model is None:
        return None
    mine = vdb.read_vectors(conn, [article_id], model).get(article_id)
    if mine is None:
        return None
    near = [v for v in vdb.vectors_between(conn, start, end, model) if v.article_id != article_id]
    if not near:
        return mine.words, {}
    rows = from_blobs([v.vec for v in near])
    raw = raw_cosines(from_blob(mine.vec), rows)
    cos = rounded(raw).tolist()
    return mine.words, {v.article_id: (float(c), v.words) for v, c in zip(near, cos, strict=True)}


def mend_clusters(conn: Connection) -> int:
    """Dedupe copies share a story: when dedupe merged clusters whose articles were already
    placed apart, move them into the story of the cluster's representative (or of its
    earliest placed member). Returns how many articles moved."""
    moved = 0
    for key, members in db.split_clusters(conn).items():
        target = dict(members).get(key, members[0][1])
        strays = [a for a, sid in members if sid != target]
        db.move_articles(conn, strays, target)
        moved += len(strays)
    return moved
