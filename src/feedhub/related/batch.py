"""Related News boxes for many articles at once: the same boxes as one article at a time.

Issue 17 (a first publish of 100k articles in ≤ 5 minutes): the per-article path
(`update._index_one`) costs a df update, a term query, a candidate search, its own box and
a read + write of every box it enters, each in statements of its own: ~43 ms per article
at 10k stored. Here a run of new articles is indexed in one go, and the boxes of a
re-freeze's boxes pass are computed in one go, with a handful of statements per batch.

What makes it the same (docs in `update`, `rank`, `score`, `vectors`):

- A pair's score is fixed once both articles are indexed, and computed from the side of
  the one indexed later (its term query, its window product). The batch scores each new
  article exactly as the per-article path would at its turn: its term vector from the df
  as it stands after the articles before it (the df is evolved in memory in order), its
  lexical hits restricted to the articles indexed before it (later batch-mates are in the
  index already, so they are dropped from the hits), `vectors.related_pairs` for the rest.
- A box is the best ``count`` of what it has been offered (`rank.merge_into` is
  `top_related` over the box plus the newcomer), so a new article's own box is chosen
  from the articles indexed before it (`update.own_candidates`, the per-article prefix
  rule, with a dict for the store), and it is then offered, in order, to every article
  before it that it may enter: the visibility rules are the per-article ones (not its own
  id, nor its cluster key, nor a member of its cluster as `cluster_members` reads it: the
  live ``articles.cluster_id`` and the indexed keys), seen from the newcomer's side.
- Offers are pruned only where they cannot change a box: a full box whose floor (its
  weakest score, which only rises while new articles arrive) is above the offer, with a
  margin for the last bit of a rounded score; `merge_into` decides every other offer.
- Dates in boxes are compared as the index stores them (whole epoch seconds, `_stored`),
  the newcomer's own date as the article row gives it, as in `_index_one`.

What it holds in memory across a run's batches (`IndexRows`, dropped after any write of
another path): every indexed article's date, cluster key, box size and floor. Lexical scores
come from the run's postings in memory (`postings.TermPostings`), as on the per-article path.
Every batch still commits its articles, their boxes and the boxes they entered in its own
paced transaction (`store.pace`), so a killed run resumes after its last batch.

Changed and deleted articles, articles without a text vector, the lexical-only path (no
model) and calls outside a related run (no window index) take the per-article path: they
are rare, and their order in the queue is kept (a batch ends before each of them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import numpy as np
from sqlalchemy import Connection

from feedhub.related import semantic, vectors, window
from feedhub.related.rank import SCORE_DIGITS, Candidate, merge_into, top_related
from feedhub.related.score import LEXICAL_MIN
from feedhub.related.text import document_terms
from feedhub.related.update import (
    REFREEZE_AT,
    IndexStep,
    Settings,
    box_floor,
    own_candidates,
    read_for_index,
)
from feedhub.related.update import _index_one as index_one
from feedhub.related.update import _lead as lead
from feedhub.related.update import _put_docs as put_docs
from feedhub.related.update import _recompute as recompute_one
from feedhub.related.update import _remove as remove
from feedhub.related.update import index_until_refreeze as index_one_by_one
from feedhub.related.vector import term_vector
from feedhub.store import fulltext
from feedhub.store import related as db

# An offer is skipped when it is below a full box's floor by more than this: a stored score
# and a score rounded again may differ in their last bit, and `merge_into` decides the rest.
_OFFER_MARGIN = 1e-9


def _batchable(conn: Connection) -> window.WindowIndex | None:
    """The run's window index when the batch path applies here, else None.

    It needs text vectors and a related run's window index (the per-article path reads a
    window from the store otherwise), and exact candidates: PostgreSQL's ranked full-text
    candidates (``LIMIT_OPTION``, a benchmark's option) depend on what else is indexed.
    """
    if not semantic.available():
        return None
    if conn.get_execution_options().get(fulltext.LIMIT_OPTION) is not None:
        return None
    return window.active(conn)


def _stored(when: datetime) -> datetime:
    """A date as the index gives it back (`store.related`: whole epoch seconds, UTC)."""
    return datetime.fromtimestamp(int(when.timestamp()), UTC)


def _as_stored(box: Iterable[Candidate]) -> list[Candidate]:
    """A box as `read_boxes` would read it back after `write_box`."""
    return [Candidate(c.article_id, c.score, _stored(c.published), c.cluster_key) for c in box]


def _floor_of(box: Sequence[Candidate], s: Settings) -> float:
    """The floor `update._write` stores with a box."""
    return box[-1].score if len(box) >= s.count else 0.0


def _links(box: Sequence[Candidate], s: Settings) -> tuple[list[db.Link], float]:
    return [db.Link(c.article_id, c.score, c.published, c.cluster_key) for c in box], _floor_of(
        box, s
    )


def index_until_refreeze(
    conn: Connection,
    article_ids: Sequence[int],
    s: Settings,
    known: IndexRows | None = None,
) -> IndexStep:
    """`update.index_until_refreeze`, with each run of new articles indexed as a batch.

    Gone articles are removed first, then the rest in id order, stopping right after the
    article that brings the index to a REFREEZE_AT size, as the per-article path does.
    ``known``: the index's rows in memory across calls (`IndexRows`), or None.
    """
    known = known if known is not None else IndexRows()
    index = _batchable(conn)
    if index is None:
        known.drop()
        return index_one_by_one(conn, article_ids, s)
    ids, texts, indexed = read_for_index(conn, article_ids)
    changed: set[int] = set()
    gone = [i for i in ids if i not in texts]
    if gone:
        changed |= remove(conn, gone, s)
        known.drop()
    done = list(gone)
    present = [i for i in ids if i in texts]
    index.prefetch(present)
    at = 0
    while at < len(present):
        end = at
        while (
            end < len(present)
            and present[end] not in indexed
            and index.vector(present[end]) is not None
        ):
            end += 1
        if end == at:  # a changed article (or one without a vector): one by one, in order
            article_id = present[at]
            is_new = article_id not in indexed
            step, documents = index_one(conn, texts[article_id], s, was_indexed=not is_new)
            changed |= step
            known.drop()
            done.append(article_id)
            at += 1
            if is_new and documents in REFREEZE_AT:
                return IndexStep(sorted(done), changed, True)
            continue
        run = present[at:end]
        documents = db.documents(conn)
        point = min((p for p in REFREEZE_AT if p > documents), default=None)
        refreeze = point is not None and documents + len(run) >= point
        if point is not None and refreeze:  # stop right after the article that reaches it
            run = run[: point - documents]
        changed |= index_new(conn, [texts[i] for i in run], s, known)
        done.extend(run)
        at += len(run)
        if refreeze:
            return IndexStep(sorted(done), changed, True)
    return IndexStep(ids, changed, False)


def index_new(
    conn: Connection,
    docs: Sequence[db.ArticleText],
    s: Settings,
    known: IndexRows | None = None,
) -> set[int]:
    """Index articles not indexed yet, in order, as `_index_one` one after the other would;
    returns the ids whose box changed (theirs when not empty, and those they entered).

    ``known``: the index's rows held in memory by the caller across batches (read from the
    store when None); they are brought up to date with this batch's writes."""
    if not docs:
        return set()
    known = known if known is not None else IndexRows()
    # Before the batch's rows are written; every pair of the batch is in these dates.
    table = known.table(
        conn,
        int((min(d.published for d in docs) - s.window).timestamp()) - 1,
        int((max(d.published for d in docs) + s.window).timestamp()) + 1,
    )
    rows = _term_vectors(conn, docs, s)
    put_docs(conn, rows)  # the run's postings are told, as for one article
    pairs = _new_pairs(conn, docs, [v for _, _, v in rows], s)

    floor = box_floor(s)
    batch_ids = np.array([d.id for d in docs], dtype=np.int64)  # ascending, as indexed
    members = db.cluster_members_of(conn, {d.cluster_key for d in docs})

    boxes: dict[int, list[Candidate]] = {}  # the batch's own boxes, as stored
    mine: dict[int, db.DocInfo] = {}  # the batch's articles indexed so far, as the index has them
    offers: dict[int, list[tuple[int, float]]] = {}  # older holder → (batch position, score)

    def lookup(part: Sequence[int]) -> dict[int, db.DocInfo]:
        """Indexed before the article at hand: older ones, and the batch's earlier ones."""
        found = table.infos(part)
        found.update((i, mine[i]) for i in part if i in mine)
        return found

    for k, doc in enumerate(docs):
        key, p = doc.cluster_key, pairs[k]
        excluded = members[key] | {doc.id}
        result = _own_candidates(p, lookup, excluded, key, doc.published, s)
        boxes[doc.id] = _as_stored(top_related(result, doc.published, s.count, floor))

        # Offers to older articles: visible from this one, over the box floor, and a box that
        # could take them (room, or a floor at most this score). Sizes and floors as the batch
        # started: they only grow while new articles arrive, so this keeps every offer that
        # could enter; `merge_into` decides.
        at, old = table.find(p.ids)
        ok = old & (p.scores >= floor)
        ok[old] &= table.cluster_key[at[old]] != key
        ok[old] &= ~np.isin(p.ids[old], np.fromiter(excluded, np.int64, len(excluded)))
        ok[old] &= (table.box_size[at[old]] < s.count) | (
            p.scores[old] >= table.floor[at[old]] - _OFFER_MARGIN
        )
        for holder, score in zip(p.ids[ok].tolist(), p.scores[ok].tolist(), strict=True):
            offers.setdefault(holder, []).append((k, score))

        # Offers to the batch's own earlier articles, in memory.
        earlier = (p.ids >= docs[0].id) & (p.ids < doc.id)
        earlier[earlier] &= np.isin(p.ids[earlier], batch_ids)
        for holder, raw in zip(p.ids[earlier].tolist(), p.scores[earlier].tolist(), strict=True):
            info = mine[holder]
            if info.cluster_key == key or holder in excluded:
                continue
            score = round(raw, SCORE_DIGITS)
            if score < floor:
                continue
            new = Candidate(doc.id, score, doc.published, key)
            merged = merge_into(boxes[holder], new, info.published, s.count, floor)
            if merged is not None:
                boxes[holder] = _as_stored(merged)
        mine[doc.id] = db.DocInfo(doc.id, _stored(doc.published), key, 0, 0.0)

    changed = {i for i, box in boxes.items() if box}
    writes = {i: _links(box, s) for i, box in boxes.items() if box}
    current = db.read_boxes(conn, sorted(offers))
    for holder, offered in offers.items():
        old = [
            Candidate(x.related_id, x.score, x.published, x.cluster_key) for x in current[holder]
        ]
        box, anchor = old, table.published_of(holder)
        for k, raw in offered:
            d = docs[k]
            new = Candidate(d.id, round(raw, SCORE_DIGITS), d.published, d.cluster_key)
            merged = merge_into(box, new, anchor, s.count, floor)
            if merged is not None:
                box = _as_stored(merged)
        if box != old:
            changed.add(holder)
            writes[holder] = _links(box, s)
    db.write_boxes(conn, writes)
    sizes = {i: (len(b), f) for i, (b, f) in writes.items()}
    table.add(
        batch_ids,
        np.array([int(d.published.timestamp()) for d in docs], dtype=np.int64),
        np.array([d.cluster_key for d in docs], dtype=np.int64),
    )
    table.set_boxes(sizes)
    known.added(len(docs))
    return changed


def _term_vectors(
    conn: Connection, docs: Sequence[db.ArticleText], s: Settings
) -> list[tuple[db.ArticleText, list[str], dict[str, float]]]:
    """Each article's terms and term vector, weighted with the df and document count as
    `_index_one` would see them at its turn (the batch's earlier articles counted); the
    batch's df and count are added to the store."""
    parsed = []
    for doc in docs:
        title_tf, body_tf = document_terms(doc.title, doc.summary, doc.content)
        parsed.append((title_tf, body_tf, sorted(title_tf.keys() | body_tf.keys())))
    known = db.frequencies(conn, sorted({t for _, _, terms in parsed for t in terms}))
    base = db.documents(conn)
    counts: Counter[str] = Counter()
    rows = []
    for k, (doc, (title_tf, body_tf, terms)) in enumerate(zip(docs, parsed, strict=True)):
        counts.update(terms)
        df = {t: known.get(t, 0) + counts[t] for t in terms}
        vector = term_vector(title_tf, body_tf, df, base + k + 1, s.vector, lead(doc))
        rows.append((doc, terms, vector))
    db.add_frequencies(conn, counts, len(docs))
    return rows


def _new_pairs(
    conn: Connection,
    docs: Sequence[db.ArticleText],
    term_vectors: Sequence[Mapping[str, float]],
    s: Settings,
) -> list[vectors.Pairs]:
    """Each new article's scored pairs as `_candidates` computes them at its turn: the
    lexical hits of the batch's later articles (indexed already here) and its own left out."""
    position = {d.id: k for k, d in enumerate(docs)}
    lexical = _lexical(conn)
    out = []
    for k, (doc, vector) in enumerate(zip(docs, term_vectors, strict=True)):
        lex_ids, lex_scores = lexical(
            vector, doc.published - s.window, doc.published + s.window, LEXICAL_MIN
        )
        keep = [j for j, i in enumerate(lex_ids) if position.get(i, -1) < k]
        if len(keep) < len(lex_ids):
            lex_ids = [lex_ids[j] for j in keep]
            lex_scores = [lex_scores[j] for j in keep]
        pairs = vectors.related_pairs(
            conn,
            doc.id,
            doc.published,
            lex_ids,
            lex_scores,
            s.window,
            s.closeness,
            use_floor=s.min_score > 0,
        )
        assert pairs is not None  # the caller checked the article has a vector
        out.append(pairs)
    return out


class _Docs:
    """`db.read_docs` behind a dict: each id is read at most once per batch."""

    def __init__(self, conn: Connection, known: Mapping[int, db.DocInfo]) -> None:
        self.conn = conn
        self.found = dict(known)
        self.asked = set(known)

    def prefetch(self, ids: Iterable[int]) -> None:
        missing = [i for i in ids if i not in self.asked]
        if missing:
            self.found.update(db.read_docs(self.conn, missing))
            self.asked.update(missing)

    def __call__(self, part: Sequence[int]) -> dict[int, db.DocInfo]:
        self.prefetch(part)
        return {i: self.found[i] for i in part if i in self.found}


# The best pairs of each article whose rows a batch reads in one go: a box is nearly always
# full from the first dozen or two (`own_candidates` reads the rest in steps if not).
_PREFETCH = 24

# Pairs handed to `own_candidates` as Python values at first: a box is nearly always full
# from the first few dozen (the window may hold thousands).
_PREFIX = 256


def _own_candidates(
    p: vectors.Pairs,
    lookup: Callable[[Sequence[int]], Mapping[int, db.DocInfo]],
    excluded: Container[int],
    cluster_key: int,
    published: datetime,
    s: Settings,
) -> list[Candidate]:
    """`update.own_candidates` over ``p``, converting only a prefix of it when that is enough:
    a run that stops before the prefix's end saw exactly what it sees over all the pairs
    (a tie running past the end makes it stop there, and then it runs again over all)."""
    n = min(len(p.ids), _PREFIX)
    result, _, start = own_candidates(
        p.ids[:n].tolist(), p.scores[:n].tolist(), lookup, excluded, cluster_key, published, s
    )
    if start >= n and n < len(p.ids):
        result, _, _ = own_candidates(
            p.ids.tolist(), p.scores.tolist(), lookup, excluded, cluster_key, published, s
        )
    return result


class _DocTable:
    """Indexed articles' rows (`db.DocInfo`) as aligned arrays sorted by id, for masks over
    a box's pairs."""

    def __init__(self, columns: tuple[np.ndarray, ...]) -> None:
        """``columns``: `db.index_rows`, in id order."""
        self.ids, self.published, self.cluster_key, self.box_size, self.floor = columns

    def find(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each id's row (clipped) and whether it is in the table."""
        if not len(self.ids):
            return np.zeros(len(ids), dtype=np.intp), np.zeros(len(ids), dtype=bool)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return at, self.ids[at] == ids

    def infos(self, ids: Sequence[int]) -> dict[int, db.DocInfo]:
        """`db.read_docs` of these ids, from the table."""
        at, found = self.find(np.asarray(ids, dtype=np.int64))
        return {
            i: db.DocInfo(
                i,
                _from_epoch(int(self.published[a])),
                int(self.cluster_key[a]),
                int(self.box_size[a]),
                float(self.floor[a]),
            )
            for i, a, f in zip(ids, at.tolist(), found.tolist(), strict=True)
            if f
        }

    def published_of(self, article_id: int) -> datetime:
        return _from_epoch(int(self.published[np.searchsorted(self.ids, article_id)]))

    def add(self, ids: np.ndarray, published: np.ndarray, keys: np.ndarray) -> None:
        """Rows of newly indexed articles (empty boxes: `set_boxes` sets theirs)."""
        at = np.searchsorted(self.ids, ids)
        self.ids = np.insert(self.ids, at, ids)
        self.published = np.insert(self.published, at, published)
        self.cluster_key = np.insert(self.cluster_key, at, keys)
        self.box_size = np.insert(self.box_size, at, 0)
        self.floor = np.insert(self.floor, at, 0.0)

    def set_boxes(self, sizes: Mapping[int, tuple[int, float]]) -> None:
        """Box sizes and floors just written."""
        if sizes:
            ids = np.fromiter(sizes, dtype=np.int64, count=len(sizes))
            at = np.searchsorted(self.ids, ids)
            self.box_size[at] = [sizes[i][0] for i in ids.tolist()]
            self.floor[at] = [sizes[i][1] for i in ids.tolist()]


def _from_epoch(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class IndexRows:
    """The date, cluster key, box size and floor of the indexed articles in the dates the
    batches' windows cover, held in memory across the batches of a related run (issue 17).

    Each batch of new articles may enter any box of its window whose floor its scores
    reach: reading those rows for every batch read thousands of rows per batch, and a
    publisher beside a busy service runs small batches (the write budget). The rows are read
    once, and the batch path's own writes keep them current; `drop` them after any other
    write to the index (the per-article path, a re-freeze, a backfill): the next batch reads
    them again. (The term postings are the run's own, `postings.TermPostings`, which every
    write path keeps current.)
    """

    def __init__(self) -> None:
        self._table: _DocTable | None = None
        self._lo = self._hi = 0  # the dates held, epoch seconds
        self._documents = 0  # the index's size the rows were read at, plus the batches since

    def table(self, conn: Connection, lo: int, hi: int) -> _DocTable:
        """The rows of the articles published in [lo, hi] (epoch seconds), and a quarter
        of that span on each side; read again when a batch's windows reach outside them,
        or when the index's size says another writer changed it (the service's retention
        unindexes expired articles without the publish lock).

        Only the dates the batches' windows cover, not the whole index: at 100k articles
        that read was 0.19 s per run, and a store's whole index grows with its age (issue
        17: costs that do not grow with the store)."""
        documents = db.documents(conn)
        if self._table is not None and (
            documents != self._documents or lo < self._lo or hi > self._hi
        ):
            self._table = None
        if self._table is None:
            margin = (hi - lo) // 4
            self._lo, self._hi = lo - margin, hi + margin
            self._table = _DocTable(db.index_rows(conn, self._lo, self._hi))
            self._documents = documents
        return self._table

    def added(self, count: int) -> None:
        """A batch indexed ``count`` articles and added their rows to the table."""
        self._documents += count

    def drop(self) -> None:
        self._table = None


def _lexical(conn: Connection) -> Callable[..., tuple[list[int], list[float]]]:
    """`db.lexical_scores` as the per-article path calls it: from the run's postings in
    memory (`window.terms`) inside a run, else from the store."""
    run = window.terms()
    return partial(db.lexical_scores, conn) if run is None else partial(run.scores, conn)


def recompute_boxes(conn: Connection, ids: Iterable[int], s: Settings) -> set[int]:
    """`update.recompute_boxes` for many articles at once (a re-freeze's boxes pass):
    each box from the index as it stands; returns the ids whose box changed."""
    ids = list(ids)
    index = _batchable(conn)
    if index is None:
        return {i for i in ids if recompute_one(conn, i, s)}
    docs = db.read_docs(conn, ids)
    index.prefetch([i for i in ids if i in docs])
    targets = [i for i in ids if i in docs and index.vector(i) is not None]
    alone = [i for i in ids if i in docs and index.vector(i) is None]
    changed = {i for i in alone if recompute_one(conn, i, s)}
    if not targets:
        return changed
    term_vectors = db.read_term_vectors(conn, targets)
    lexical = _lexical(conn)
    pairs = []
    for i in targets:
        d = docs[i]
        lex_ids, lex_scores = lexical(
            term_vectors[i], d.published - s.window, d.published + s.window, LEXICAL_MIN
        )
        p = vectors.related_pairs(
            conn,
            i,
            d.published,
            lex_ids,
            lex_scores,
            s.window,
            s.closeness,
            use_floor=s.min_score > 0,
        )
        assert p is not None  # it has a vector
        pairs.append(p)
    lookup = _Docs(conn, docs)
    lookup.prefetch(np.unique(np.concatenate([p.ids[:_PREFETCH] for p in pairs])).tolist())
    members = db.cluster_members_of(conn, {docs[i].cluster_key for i in targets})
    old = db.read_boxes(conn, targets)
    floor = box_floor(s)

    writes = {}
    for i, p in zip(targets, pairs, strict=True):
        d = docs[i]
        result = _own_candidates(
            p, lookup, members[d.cluster_key] | {i}, d.cluster_key, d.published, s
        )
        box = top_related(result, d.published, s.count, floor)
        if box != [Candidate(x.related_id, x.score, x.published, x.cluster_key) for x in old[i]]:
            writes[i] = _links(box, s)
    db.write_boxes(conn, writes)
    return changed | writes.keys()
