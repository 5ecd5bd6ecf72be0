"""Keeping Related News boxes current in the store, one article at a time.

`update_related` indexes each given article (in id order, which is ingest order), computes
its box from candidates the term index returns within ±window of its date, and offers the
article to the boxes of those candidates. Because a pair's score is fixed once both are
indexed (see `feedhub.related.vector`) and a box always holds the best of what it has been
offered, updating in several calls gives the same boxes as one call over the same ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from feedhub.related import semantic, vectors, window
from feedhub.related.rank import SCORE_DIGITS, Candidate, merge_into, top_related
from feedhub.related.score import CLOSENESS, LEXICAL_MIN
from feedhub.related.text import document_terms, lead_terms
from feedhub.related.vector import DEFAULT_PARAMS, VectorParams, term_vector
from feedhub.store import related as db
from feedhub.store.batch import chunks

DEFAULT_COUNT = 3
DEFAULT_WINDOW = timedelta(days=90)
# Below this cosine, a shared word or two is coincidence: on the UCI headlines fewer than
# 1 in 10 top candidates scoring 0.05–0.10 were the same story (benchmarks/related.py).
# Full articles spread weight over 64 terms, so related stories score lower than headlines
# do: 0.08 rather than 0.10 keeps a developing story's later coverage in the box.
DEFAULT_MIN_SCORE = 0.08
# With text vectors the floor is `feedhub.related.score.floor_for` (min_score > 0 keeps it
# on; 0 ranks everything in the window, as the UCI protocol does) and min_score is the
# lexical-only floor used when the model package is missing.
# A vector keeps the idf of the moment it was indexed. While the index is small those
# weights are noise (in a 5-article store "military" looks as rare as "Niger"), so every
# vector is re-frozen each time the index doubles, up to 4096 articles: ~8k re-indexings
# once per store, at deterministic points, so batch and incremental updates still agree.
# The publisher's first run over a store re-freezes all it indexes at once (`refreeze_ahead`).
REFREEZE_AT = frozenset(2**k for k in range(4, 13))


def refreeze_ahead(documents: int, new: int) -> int:
    """How many of the next ``new`` articles, none of them indexed yet, a coming re-freeze
    re-weights anyway: those up to the last REFREEZE_AT size they bring the index to (all
    of them, up to the largest size, when the index is empty).

    A re-freeze rebuilds every vector and box from the articles alone, so indexing those one
    by one first (a candidate search and box offers each, then the re-freezes at every
    smaller size) is thrown away: the first publish of 2,500 articles spent most of its
    time so. Handing them to the re-freeze directly gives the same index — except on an
    empty index, where the whole run is re-frozen at once by design (see below).
    """
    if documents == 0:
        # The publisher's first run takes all its articles (up to the largest size) into one
        # re-freeze, the weights of the whole set: otherwise which articles fall before a
        # size, and so the frozen weights and the boxes, depend on the order concurrent
        # fetches stored them in (the same feeds gave other boxes on SQLite and PostgreSQL).
        # `update_related` keeps its re-freeze points: several calls equal one call there.
        return min(new, max(REFREEZE_AT))
    points = [p for p in REFREEZE_AT if documents < p <= documents + new]
    return max(points) - documents if points else 0


@dataclass(frozen=True, slots=True)
class Settings:
    """How boxes are built; keep them fixed for a store (changing them needs a rebuild)."""

    count: int = DEFAULT_COUNT
    window: timedelta = DEFAULT_WINDOW
    min_score: float = DEFAULT_MIN_SCORE
    closeness: float = CLOSENESS  # see feedhub.related.score (with text vectors only)
    vector: VectorParams = field(default_factory=lambda: DEFAULT_PARAMS)


DEFAULT_SETTINGS = Settings()


def box_floor(s: Settings) -> float:
    """The score a box entry must reach: with text vectors the relevance floor is applied to
    each pair's similarity already (`feedhub.related.score`), the time factor only ranks."""
    return 0.0 if semantic.available() else s.min_score


def update_related(
    conn: Connection,
    article_ids: Sequence[int],
    settings: Settings = DEFAULT_SETTINGS,
) -> set[int]:
    """Index new or changed articles and update boxes; returns ids whose box changed.

    Ids that no longer exist are removed from the index. Call it for an article whose text,
    date or dedupe cluster changed, too. A re-freeze point reached on the way is rebuilt
    inside this call; `index_until_refreeze` lets a caller spread it over transactions.
    """
    s = settings
    changed: set[int] = set()
    todo = sorted(set(article_ids))
    while todo:
        step = index_until_refreeze(conn, todo, s)
        changed |= step.changed
        if step.refreeze:
            changed |= _rebuild(conn, db.indexed_ids(conn), s)
        handled = set(step.done)
        todo = [i for i in todo if i not in handled]
    return changed


@dataclass(frozen=True, slots=True)
class IndexStep:
    """What `index_until_refreeze` did: which ids it handled, and whether to re-freeze now."""

    done: list[int]  # the ids handled (gone ones first), sorted; the rest still waits
    changed: set[int]  # articles whose box changed
    refreeze: bool  # the last new article brought the index to a REFREEZE_AT size


def read_for_index(
    conn: Connection, article_ids: Iterable[int]
) -> tuple[list[int], dict[int, db.ArticleText], Collection[int]]:
    """What indexing ``article_ids`` starts from: the ids sorted, the texts of those still
    stored, and which were indexed before the call (their text vectors made current)."""
    ids = sorted(set(article_ids))
    texts = db.read_articles(conn, ids)
    # Indexed before this call: indexing one article never indexes another, so this one
    # read tells which are new (issue 14: a statement per article less on PostgreSQL).
    indexed = db.read_docs(conn, ids).keys()
    vectors.ensure(conn, texts.values(), refresh=indexed)
    return ids, texts, indexed


def index_until_refreeze(conn: Connection, article_ids: Sequence[int], s: Settings) -> IndexStep:
    """Index ids in order, stopping right after one brings the index to a re-freeze point.

    The re-freeze must happen at exactly that point of the sequence for batch and
    incremental updates to agree; the caller runs it (`_rebuild`, or `refreeze` in steps)
    before indexing the rest.
    """
    ids, texts, indexed = read_for_index(conn, article_ids)
    changed: set[int] = set()
    gone = [i for i in ids if i not in texts]
    if gone:
        changed |= _remove(conn, gone, s)
    done = list(gone)
    for article_id in (i for i in ids if i in texts):
        is_new = article_id not in indexed
        step, documents = _index_one(conn, texts[article_id], s, was_indexed=not is_new)
        changed |= step
        done.append(article_id)
        if is_new and documents in REFREEZE_AT:
            return IndexStep(sorted(done), changed, True)
    return IndexStep(ids, changed, False)


def remove_articles(
    conn: Connection,
    ids: Iterable[int],
    settings: Settings = DEFAULT_SETTINGS,
) -> set[int]:
    """Drop articles from the index and refill the boxes that listed them.

    Call before deleting the article rows (or in the same transaction). Returns the ids of
    remaining articles whose box changed.
    """
    return _remove(conn, ids, settings)


def _remove(conn: Connection, ids: Iterable[int], s: Settings) -> set[int]:
    ids = set(ids)
    affected = db.holders(conn, ids) - ids
    for article_id in sorted(ids):
        _unindex(conn, article_id)
    for holder in sorted(affected):
        _recompute(conn, holder, s)
    return affected


def _unindex(conn: Connection, article_id: int) -> bool:
    terms = db.read_doc_terms(conn, article_id)
    if terms is None:
        return False
    db.delete_doc(conn, article_id)
    if (run := window.terms()) is not None:
        run.unindexed(terms)
    db.change_frequencies(conn, terms, -1)
    return True


def _index_one(
    conn: Connection, doc: db.ArticleText, s: Settings, *, was_indexed: bool
) -> tuple[set[int], int]:
    """Index one article, set its box, offer it to its candidates' boxes; returns the ids
    whose box changed and the index's document count after it.

    ``was_indexed``: the caller's read of which articles are indexed already (a changed
    one is indexed afresh); passed in, and the count returned, rather than read again: a
    round trip each on PostgreSQL (issue 14). The boxes it changes are written together at
    the end (`_write_many`): nothing in between reads them back.
    """
    holders: set[int] = set()
    old_box: list[int] = []
    if was_indexed:  # a changed article is indexed afresh
        holders = db.holders(conn, [doc.id]) - {doc.id}
        old_box = [link.related_id for link in db.read_boxes(conn, [doc.id])[doc.id]]
        _unindex(conn, doc.id)

    title_tf, body_tf = document_terms(doc.title, doc.summary, doc.content)
    terms = sorted(title_tf.keys() | body_tf.keys())
    df, documents = db.count_document(conn, terms, +1)
    vector = term_vector(title_tf, body_tf, df, documents, s.vector, _lead(doc))
    _put_docs(conn, [(doc, terms, vector)])

    changed: set[int] = set()
    candidates, docs = _candidates(conn, doc.id, doc.published, doc.cluster_key, vector, s)
    box = top_related(candidates, doc.published, s.count, box_floor(s))
    writes = {doc.id: box}  # written at the end; `_recompute` below reads no box of these
    if [c.article_id for c in box] != old_box:
        changed.add(doc.id)

    # Boxes that listed the old version may now keep or lose it: recompute them fully.
    for holder in sorted(holders):
        if _recompute(conn, holder, s):
            changed.add(holder)

    # Offer the article to every candidate whose box it could enter.
    hopeful = [
        c
        for c in candidates
        if c.article_id not in holders
        and (docs[c.article_id].box_size < s.count or c.score >= docs[c.article_id].floor)
    ]
    boxes = db.read_boxes(conn, [c.article_id for c in hopeful])
    me_published, me_key = doc.published, doc.cluster_key
    for c in hopeful:
        mine = Candidate(doc.id, c.score, me_published, me_key)
        current = [
            Candidate(x.related_id, x.score, x.published, x.cluster_key)
            for x in boxes[c.article_id]
        ]
        merged = merge_into(current, mine, c.published, s.count, box_floor(s))
        if merged is not None:
            writes[c.article_id] = merged
            changed.add(c.article_id)
    _write_many(conn, writes, s)
    return changed, documents


def _candidates(
    conn: Connection,
    article_id: int,
    published: datetime,
    cluster_key: int,
    vector: dict[str, float],
    s: Settings,
    offers: bool = True,
) -> tuple[list[Candidate], dict[int, db.DocInfo]]:
    """Other indexed articles within the window, scored, without the article's own cluster.

    Also returns what the index knows of each (box size and floor, for offering). Beyond
    as many of the best as the box needs, only the articles whose box could take this one
    (``offers``; False: a box recomputed, offered to no one): with text vectors thousands
    of articles may clear the floor, and reading each one's row cost more than scoring
    them all.
    """
    start_, end_ = published - s.window, published + s.window
    pairs = None
    if semantic.available():
        run = window.terms()
        lex_ids, lex_scores = (
            db.lexical_scores(conn, vector, start_, end_, LEXICAL_MIN) if run is None
            else run.scores(conn, vector, start_, end_, LEXICAL_MIN)
        )
        pairs = vectors.related_pairs(
            conn, article_id, published, lex_ids, lex_scores,
            s.window, s.closeness, use_floor=s.min_score > 0,
        )
    excluded = db.cluster_members(conn, cluster_key) | {article_id}
    if pairs is None:  # no model, or no vector for this article: shared words alone
        result: list[Candidate] = []
        docs: dict[int, db.DocInfo] = {}
        found = db.score_candidates(conn, vector, start_, end_, s.min_score)
        take_scored(
            result, docs, ((h.doc, h.score) for h in found
                           if round(h.score, SCORE_DIGITS) >= s.min_score),
            excluded, cluster_key, s,
        )
        return result, docs
    ids, scores = pairs.ids.tolist(), pairs.scores.tolist()
    result, docs, start = own_candidates(
        ids, scores, lambda part: db.read_docs(conn, part), excluded, cluster_key, published, s
    )
    if offers and start < len(ids):
        # The rest only where the article could enter the box: they score lower than the
        # box's entries, so they matter as offers alone.
        score_of = dict(zip(ids[start:], scores[start:], strict=True))
        rest = db.offer_targets(conn, start_, end_, score_of, s.count)
        take_scored(result, docs, ((d, score_of[i]) for i, d in rest.items()),
                    excluded, cluster_key, s)
    return result, docs


def take_scored(
    result: list[Candidate],
    docs: dict[int, db.DocInfo],
    scored: Iterable[tuple[db.DocInfo, float]],
    excluded: Container[int],
    cluster_key: int,
    s: Settings,
) -> None:
    """Append to ``result`` (and ``docs``) the scored articles a box may list: not in
    ``excluded`` nor of the cluster ``cluster_key``, at or above the box floor."""
    floor = box_floor(s)
    for d, raw in scored:
        if d.article_id in excluded or d.cluster_key == cluster_key:
            continue
        score = round(raw, SCORE_DIGITS)  # every path compares equal values
        if score >= floor:
            result.append(Candidate(d.article_id, score, d.published, d.cluster_key))
            docs[d.article_id] = d


def own_candidates(
    ids: Sequence[int],
    scores: Sequence[float],
    lookup: Callable[[Sequence[int]], Mapping[int, db.DocInfo]],
    excluded: Container[int],
    cluster_key: int,
    published: datetime,
    s: Settings,
) -> tuple[list[Candidate], dict[int, db.DocInfo], int]:
    """The candidates a box is chosen from, out of pairs ranked best first (`Pairs`):
    those of a growing prefix, best first, until the box is full; with what ``lookup``
    knows of each (indexed articles only) and where the prefix ended.

    A prefix ends between two different scores, so what follows scores lower than all of
    it and cannot change the box. Pure given ``lookup``: the per-article path reads the
    store, the batch path (`feedhub.related.batch`) a dict.
    """
    result: list[Candidate] = []
    docs: dict[int, db.DocInfo] = {}
    step, start = 4 * s.count, 0
    while start < len(ids):
        end = min(start + step, len(ids))
        while end < len(ids) and scores[end] == scores[end - 1]:
            end += 1
        part = ids[start:end]
        infos = lookup(part)  # indexed only
        take_scored(
            result, docs,
            ((infos[i], sc) for i, sc in zip(part, scores[start:end], strict=True) if i in infos),
            excluded, cluster_key, s,
        )
        start, step = end, 2 * step
        if start < len(ids) and len(top_related(result, published, s.count, 0.0)) == s.count:
            break
    return result, docs, start


def _recompute(conn: Connection, article_id: int, s: Settings) -> bool:
    """Rebuild one stored box from the index; True when it changed."""
    doc = db.read_docs(conn, [article_id]).get(article_id)
    if doc is None:
        return False
    # The cluster key as last indexed: update_related re-indexes an article whose cluster
    # changed, and cluster_members() also reads the live cluster of the others.
    vector = db.read_vector(conn, article_id)
    candidates, _ = _candidates(
        conn, article_id, doc.published, doc.cluster_key, vector, s, offers=False
    )
    box = top_related(candidates, doc.published, s.count, box_floor(s))
    old = [
        Candidate(x.related_id, x.score, x.published, x.cluster_key)
        for x in db.read_boxes(conn, [article_id])[article_id]
    ]
    if box == old:
        return False
    _write(conn, article_id, box, s)
    return True


def _write(conn: Connection, article_id: int, box: list[Candidate], s: Settings) -> None:
    _write_many(conn, {article_id: box}, s)


def _write_many(conn: Connection, boxes: Mapping[int, list[Candidate]], s: Settings) -> None:
    """Store boxes with their floors, in a few statements for all (`db.write_boxes`)."""
    # A full box admits only what beats its weakest entry; a box with room admits any
    # candidate at or above min_score (floor 0: box_size decides).
    db.write_boxes(
        conn,
        {
            article_id: (
                [db.Link(c.article_id, c.score, c.published, c.cluster_key) for c in box],
                box[-1].score if len(box) >= s.count else 0.0,
            )
            for article_id, box in boxes.items()
        },
    )


def rebuild_related(
    conn: Connection,
    settings: Settings = DEFAULT_SETTINGS,
) -> set[int]:
    """Re-index every stored article with today's document frequencies and recompute boxes.

    For a new tokenizer (TOKENIZER_VERSION), new settings, or after a bulk import. Returns
    the ids whose box lists other articles than before.
    """
    s = settings
    return _rebuild(conn, db.article_ids(conn), s)


def refresh_boxes(
    conn: Connection,
    ids: Iterable[int],
    settings: Settings = DEFAULT_SETTINGS,
) -> set[int]:
    """Recompute the boxes of already-indexed articles from the index (vectors unchanged).

    For a changed ``count`` or ``min_score``, or boxes of a bulk-loaded index. Returns the
    ids whose box changed.
    """
    s = settings
    return {i for i in sorted(set(ids)) if _recompute(conn, i, s)}


def _rebuild(conn: Connection, ids: Sequence[int], s: Settings) -> set[int]:
    before = db.all_boxes(conn)
    db.clear_index(conn)
    if (run := window.terms()) is not None:
        run.cleared()
    df = frequencies(conn, ids)  # pass 1: document frequencies of the whole set
    db.write_frequencies(conn, df, len(ids))
    reindex(conn, ids, df, len(ids), s, replace=False)  # pass 2: vectors
    recompute_boxes(conn, ids, s)  # pass 3: boxes, every candidate now indexed
    after = db.all_boxes(conn)
    return {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}


def frequencies(conn: Connection, ids: Sequence[int]) -> Counter[str]:
    """Document frequencies of the terms of the given articles (a re-freeze's first pass)."""
    df: Counter[str] = Counter()
    for chunk in chunks(ids, 1000):
        for doc in db.read_articles(conn, chunk).values():
            title_tf, body_tf = document_terms(doc.title, doc.summary, doc.content)
            df.update(title_tf.keys() | body_tf.keys())
    return df


def reindex(
    conn: Connection,
    ids: Sequence[int],
    df: Mapping[str, int],
    documents: int,
    s: Settings,
    *,
    replace: bool = True,
) -> None:
    """Re-weight the given articles with fixed frequencies; gone articles leave the index.

    ``replace=False`` after `clear_index`: there is nothing to delete first.
    """
    for chunk in chunks(ids, 1000):
        texts = db.read_articles(conn, chunk)
        vectors.ensure(conn, texts.values())
        if replace:
            db.delete_docs(conn, chunk)
            if (run := window.terms()) is not None:
                run.cleared()
        rows = []
        for article_id in chunk:
            doc = texts.get(article_id)
            if doc is not None:
                title_tf, body_tf = document_terms(doc.title, doc.summary, doc.content)
                terms = sorted(title_tf.keys() | body_tf.keys())
                vector = term_vector(title_tf, body_tf, df, documents, s.vector, _lead(doc))
                rows.append((doc, terms, vector))
        _put_docs(conn, rows)


def _put_docs(
    conn: Connection, rows: Sequence[tuple[db.ArticleText, Sequence[str], dict[str, float]]]
) -> None:
    """Index articles, and tell the run's in-memory postings (`feedhub.related.postings`)."""
    db.put_docs(conn, rows)
    if (run := window.terms()) is not None:
        run.indexed((doc.id, doc.published, vector) for doc, _, vector in rows)


def reweigh_leads(conn: Connection, ids: Sequence[int], s: Settings) -> None:
    """Re-weight the term vectors of those of ``ids`` that are indexed and have a lead, with
    the index's document frequencies as they stand (their boxes are then stale: recompute).

    For a store indexed before a lead had its own share (issue 15, `text.lead_text`): the
    text vectors' model id names the lead rule, so `vectors.backfill` finds such a store's
    articles stale and calls this before recomputing their boxes. Articles without a lead
    keep their frozen vectors: their weighting did not change.
    """
    indexed = db.read_docs(conn, ids).keys()
    texts = db.read_articles(conn, sorted(indexed))
    led = sorted(i for i, d in texts.items() if _lead(d) is not None)
    if not led:
        return
    terms = sorted({t for i in led for t in db.read_doc_terms(conn, i) or []})
    reindex(conn, led, db.frequencies(conn, terms), db.documents(conn), s)


def _lead(doc: db.ArticleText) -> Counter[str] | None:
    """The lead's terms of an article whose content is its page's text (full text), else
    None. Only page text: a feed's own summary beside its own content keeps the weighting
    the reference box was tuned on (giving those a lead share lost two of its three links
    in tests/test_publish_pipeline.py's sample outlets)."""
    return lead_terms(doc.summary, doc.content) if doc.page else None


def recompute_boxes(conn: Connection, ids: Iterable[int], s: Settings) -> None:
    """Recompute the given articles' boxes from the index as it stands."""
    for article_id in ids:
        _recompute(conn, article_id, s)
