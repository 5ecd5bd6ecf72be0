"""Related-news tables and queries: a term index for candidates and the stored boxes.

The index is plain SQLAlchemy Core (no FTS5), so SQLite and PostgreSQL run the same SQL:
``related_terms`` holds each article's term vector (its strongest terms, weights already
normalized) keyed by (term, published) so one query range-scans only the terms asked for
within the date window; ``related_df`` and ``related_stats`` give document frequencies for
new vectors; ``related_links`` holds every article's box. These functions take and return
plain values; the decisions are in `feedhub.related`.

On PostgreSQL the candidate query joins the postings to the query vector passed as an array
instead (`feedhub.store.fulltext`, which also keeps the GIN full-text match as an option);
the exact scores are the same.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Subquery,
    Table,
    Text,
    bindparam,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)

from feedhub.store import fulltext, pages, related_pg
from feedhub.store.batch import chunks
from feedhub.store.schema import Id, articles, metadata

if TYPE_CHECKING:
    from numpy.typing import NDArray

_T = TypeVar("_T")


# The index keeps dates as integer epoch seconds: comparing and reading integers is several
# times cheaper than parsing a datetime per candidate row, which dominated query time.
def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def _when(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# One row per indexed article: what the index needs without reading the (large) article row.
related_docs = Table(
    "related_docs",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("published", BigInteger, nullable=False),  # epoch seconds, see _epoch
    Column("cluster_key", Id, nullable=False),  # cluster_id, or the article's own id
    Column("terms", Text, nullable=False),  # every distinct term, to undo its df on removal
    Column("box_size", Integer, nullable=False, default=0),
    Column("floor", Float, nullable=False, default=0.0),  # weakest score in the box
    Index("ix_related_docs_cluster", "cluster_key"),
    # A window's boxes that could take a new entry, read from the index alone (schema 3).
    Index("ix_related_docs_window", "published", "floor", "box_size", "cluster_key"),
)
for _ddl in fulltext.CREATE_DDL:  # PostgreSQL only: the tsvector column and its GIN index
    event.listen(related_docs, "after_create", _ddl)

# Postings. Leading (term, published) lets a lookup scan only the window; rowid-less on
# SQLite so the primary key is the table (half the size, no second lookup).
related_terms = Table(
    "related_terms",
    metadata,
    Column("term", String(64), primary_key=True),
    Column("published", BigInteger, primary_key=True),  # epoch seconds
    Column(
        "article_id",
        Id,
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("weight", Float, nullable=False),
    Index("ix_related_terms_article", "article_id"),
    sqlite_with_rowid=False,
)

related_df = Table(
    "related_df",
    metadata,
    Column("term", String(64), primary_key=True),
    Column("df", Integer, nullable=False),
)

related_stats = Table(
    "related_stats",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("documents", Integer, nullable=False),
)

related_links = Table(
    "related_links",
    metadata,
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("rank", Integer, primary_key=True),  # 1 = most related
    Column("related_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("score", Float, nullable=False),
    Index("ix_related_links_related", "related_id"),
)


class ArticleText(NamedTuple):
    """What indexing reads from an article row."""

    id: int
    title: str
    summary: str
    content: str
    published: datetime
    cluster_key: int
    page: bool = False  # its content is the text extracted from its page (full text)


class DocInfo(NamedTuple):
    """An indexed article as the index knows it."""

    article_id: int
    published: datetime
    cluster_key: int
    box_size: int
    floor: float


class Scored(NamedTuple):
    """A candidate found through the index with its raw similarity to the query vector."""

    doc: DocInfo
    score: float


class Link(NamedTuple):
    """One entry of a stored box."""

    related_id: int
    score: float
    published: datetime
    cluster_key: int


@dataclass(frozen=True, slots=True)
class RelatedItem:
    """One line of a Related News box, ready to render."""

    article_id: int
    title: str
    url: str | None
    published: datetime
    score: float


def read_articles(conn: Connection, ids: Iterable[int]) -> dict[int, ArticleText]:
    """Texts of the given articles (missing ids are left out)."""
    a = articles.c
    # The article page's text when there is one (full text, store/pages.py).
    content = pages.analysis_content(a.content).label("content")
    rows = conn.execute(
        pages.with_pages(
            select(a.id, a.title, a.summary, content, a.published, a.cluster_id,
                   pages.article_pages.c.state.label("page_state"))
        ).where(a.id.in_(list(ids)))
    )
    return {
        r.id: ArticleText(r.id, r.title, r.summary, r.content, r.published, r.cluster_id or r.id,
                          r.page_state == pages.DONE)
        for r in rows
    }


def cluster_members(conn: Connection, key: int) -> set[int]:
    """Ids in dedupe cluster ``key``: live from articles (by index) and as last indexed.

    One UNION ALL of the two index lookups: each new article asks, and on PostgreSQL every
    statement is a round trip (issue 14).
    """
    members = {key}
    members.update(conn.scalars(_MEMBERS, {"key": key}))
    return members


_MEMBERS = union_all(
    select(articles.c.id).where(articles.c.cluster_id == bindparam("key")),
    select(related_docs.c.article_id).where(related_docs.c.cluster_key == bindparam("key")),
)


_DOC_COLUMNS = (
    related_docs.c.article_id,
    related_docs.c.published,
    related_docs.c.cluster_key,
    related_docs.c.box_size,
    related_docs.c.floor,
)
# Built once: a new article reads a few of these, and building the statement each time
# (coercions, cache key) cost as much as running it on SQLite (issue 14).
_READ_DOCS = select(*_DOC_COLUMNS).where(
    related_docs.c.article_id.in_(bindparam("ids", expanding=True))
)
_WINDOW_DOCS = select(*_DOC_COLUMNS).where(
    related_docs.c.published >= bindparam("start"),
    related_docs.c.published <= bindparam("end"),
    or_(related_docs.c.box_size < bindparam("count"),
        related_docs.c.floor <= bindparam("best", type_=Float)),
)


def read_docs(conn: Connection, ids: Iterable[int]) -> dict[int, DocInfo]:
    found: dict[int, DocInfo] = {}
    for chunk in chunks(list(ids)):
        rows = conn.execute(_READ_DOCS, {"ids": list(chunk)})
        found.update((r[0], DocInfo(r[0], _when(r[1]), *r[2:])) for r in rows)
    return found


def offer_targets(
    conn: Connection, start: datetime, end: datetime, scores: Mapping[int, float], count: int
) -> dict[int, DocInfo]:
    """The indexed articles among ``scores``' keys, published in [start, end], whose box
    would take a new entry of that score (room left, or a floor at or under it): those a
    new article is offered to.

    With text vectors thousands of articles in a window can clear the relevance floor on
    uniform text, and reading each one's row to compare floors was half of a new article's
    cost (issue 14: 251 ms per article at 10k). One range scan of the window's covering
    index drops the boxes whose floor beats every score; Python compares the rest.

    The rows come in one fetch (``all()``): thousands of them, fetched one at a time, cost
    PostgreSQL's client more than the scan (issue 14).
    """
    if not scores:
        return {}
    if conn.dialect.name == "postgresql":
        found = related_pg.offer_targets(conn, _epoch(start), _epoch(end), scores, count)
        return {r[0]: DocInfo(r[0], _when(r[1]), *r[2:]) for r in found}
    result = conn.execute(_WINDOW_DOCS, {"start": _epoch(start), "end": _epoch(end),
                                         "count": count, "best": max(scores.values())})
    # The driver's tuples: SQLAlchemy's Rows cost more than the scan (issue 14).
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    none = -1.0  # not a pair: below any floor
    return {
        r[0]: DocInfo(r[0], _when(r[1]), *r[2:])
        for r in rows
        if (r[3] < count and r[0] in scores) or scores.get(r[0], none) >= r[4]
    }


def read_doc_terms(conn: Connection, article_id: int) -> list[str] | None:
    """All distinct terms of an indexed article, or None when it is not indexed."""
    terms = conn.scalar(select(related_docs.c.terms).where(related_docs.c.article_id == article_id))
    return None if terms is None else terms.split()


def read_vector(conn: Connection, article_id: int) -> dict[str, float]:
    t = related_terms.c
    return dict(conn.execute(select(t.term, t.weight).where(t.article_id == article_id)).all())


def documents(conn: Connection) -> int:
    return conn.scalar(select(related_stats.c.documents).where(related_stats.c.id == 1)) or 0


_DF_SELECT = select(related_df.c.term, related_df.c.df).where(
    related_df.c.term.in_(bindparam("terms", expanding=True))
)
# One statement for all of an article's known terms, not one UPDATE per term: the
# executemany cost PostgreSQL ~35 ms per new article at 10k (issue 14).
_DF_ADD = (
    update(related_df)
    .where(related_df.c.term.in_(bindparam("terms", expanding=True)))
    .values(df=related_df.c.df + bindparam("delta", type_=Integer))
)
_DF_ADD_RETURNING = _DF_ADD.returning(related_df.c.term, related_df.c.df)
# A delta of its own per term (`add_frequencies`: a batch's counts, as an executemany).
_DF_ADD_EACH = (
    update(related_df)
    .where(related_df.c.term == bindparam("t"))
    .values(df=related_df.c.df + bindparam("delta"))
)
# Only the terms just decremented can have reached 0: the whole table is not scanned.
_DF_DROP = delete(related_df).where(
    related_df.c.term.in_(bindparam("terms", expanding=True)), related_df.c.df <= 0
)
_DOCUMENTS_ADD = (
    update(related_stats)
    .where(related_stats.c.id == 1)
    .values(documents=related_stats.c.documents + bindparam("delta", type_=Integer))
)


def frequencies(conn: Connection, terms: Sequence[str]) -> dict[str, int]:
    if conn.dialect.name == "postgresql":
        return related_pg.frequencies(conn, terms)
    result: dict[str, int] = {}
    for chunk in chunks(terms):
        result.update((term, df) for term, df in conn.execute(_DF_SELECT, {"terms": chunk}))
    return result


def all_frequencies(conn: Connection) -> dict[str, int]:
    """Every stored document frequency (a resumed re-freeze weights with them)."""
    return {term: df for term, df in conn.execute(select(related_df.c.term, related_df.c.df))}


def change_frequencies(conn: Connection, terms: Sequence[str], delta: int) -> dict[str, int]:
    """Add ``delta`` to the df of each term and to the document count; returns the new dfs."""
    return count_document(conn, terms, delta)[0]


def count_document(
    conn: Connection, terms: Sequence[str], delta: int
) -> tuple[dict[str, int], int]:
    """`change_frequencies`, also returning the new document count: indexing one article
    reads both, and each read was a statement of its own (issue 14).

    Per 500 terms one ``UPDATE … WHERE term IN (…) RETURNING term, df`` (SQLite ≥ 3.35 and
    PostgreSQL; a SELECT first where the dialect cannot return rows from an UPDATE), then
    one multi-row INSERT of the terms no article had yet, and one UPDATE of the document
    count: three or four statements however many terms, where the df update alone was one
    UPDATE per term. Read-then-write rather than a dialect upsert keeps this portable; the
    store has one writer at a time (docs/architecture.md), so nothing races between them.
    """
    if conn.dialect.name == "postgresql" and delta > 0:
        return related_pg.count_document(conn, terms, delta)
    new: dict[str, int] = {}
    returning = conn.dialect.update_returning
    for chunk in chunks(terms):
        params = {"terms": list(chunk), "delta": delta}
        if returning:
            new.update((term, df) for term, df in conn.execute(_DF_ADD_RETURNING, params))
        else:
            known = frequencies(conn, chunk)
            if known:
                conn.execute(_DF_ADD, {"terms": list(known), "delta": delta})
            new.update((term, df + delta) for term, df in known.items())
    fresh = [term for term in terms if term not in new]
    if fresh and delta > 0:
        conn.execute(insert(related_df), [{"term": term, "df": delta} for term in fresh])
    if delta < 0:
        for chunk in chunks(terms):
            conn.execute(_DF_DROP, {"terms": list(chunk)})
    stats = related_stats.c
    if returning:
        count = conn.scalar(_DOCUMENTS_ADD.returning(stats.documents), {"delta": delta})
    else:
        bumped = conn.execute(_DOCUMENTS_ADD, {"delta": delta})
        count = documents(conn) if bumped.rowcount else None
    if count is None:
        count = max(delta, 0)
        conn.execute(insert(related_stats).values(id=1, documents=count))
    # A term no article had counts delta from 0 (as before: negative only for a term that
    # was never counted).
    return {term: new.get(term, delta) for term in terms}, count


def put_doc(
    conn: Connection,
    doc: ArticleText,
    terms: Sequence[str],
    vector: Mapping[str, float],
) -> None:
    """Index one article: its doc row and its postings (the caller removed any old ones)."""
    put_docs(conn, [(doc, terms, vector)])


def put_docs(
    conn: Connection,
    items: Iterable[tuple[ArticleText, Sequence[str], Mapping[str, float]]],
) -> None:
    """Index many articles in two multi-row inserts (a re-freeze or a rebuild writes
    thousands: one statement per article cost PostgreSQL a round trip each)."""
    docs: list[dict[str, object]] = []
    postings: list[dict[str, object]] = []
    for doc, terms, vector in items:
        when = _epoch(doc.published)
        docs.append(
            {
                "article_id": doc.id,
                "published": when,
                "cluster_key": doc.cluster_key,
                "terms": " ".join(terms),
                "box_size": 0,
                "floor": 0.0,
            }
        )
        postings.extend(
            {"term": t, "published": when, "article_id": doc.id, "weight": w}
            for t, w in vector.items()
        )
    if docs:
        conn.execute(insert(related_docs), docs)
    if postings and conn.dialect.name == "postgresql":
        related_pg.insert_postings(conn, postings)
    elif postings:
        conn.execute(insert(related_terms), postings)


def delete_docs(conn: Connection, ids: Collection[int]) -> None:
    """`delete_doc` for many articles, one statement per table."""
    if not ids:
        return
    conn.execute(delete(related_terms).where(related_terms.c.article_id.in_(ids)))
    conn.execute(delete(related_links).where(related_links.c.article_id.in_(ids)))
    conn.execute(delete(related_docs).where(related_docs.c.article_id.in_(ids)))


def delete_doc(conn: Connection, article_id: int) -> None:
    """Drop an article from the index and drop its own box (not its place in other boxes)."""
    delete_docs(conn, [article_id])


def _sums(terms: int) -> Subquery:
    """(article_id, score ≥ :min_score) over the postings of ``terms`` query terms."""
    t = related_terms.c
    parts = [
        select(t.article_id, (t.weight * bindparam(f"w{i}", type_=Float)).label("part")).where(
            t.term == bindparam(f"t{i}"),
            t.published >= bindparam("start"),
            t.published <= bindparam("end"),
        )
        for i in range(terms)
    ]
    scans = union_all(*parts).subquery()
    return (
        select(scans.c.article_id, func.sum(scans.c.part).label("score"))
        .group_by(scans.c.article_id)
        .having(func.sum(scans.c.part) >= bindparam("min_score", type_=Float))
        .subquery()
    )


@lru_cache(maxsize=128)
def _candidates_query(terms: int) -> Select[tuple[int, int, int, int, float, float]]:
    """The candidate query for a vector of ``terms`` terms, built and compiled once per length.

    One index range scan per term, each scaled by that term's query weight (a UNION ALL of
    per-term scans): a single scan with a CASE over the terms evaluated ~terms/2 string
    comparisons per posting and was 2–3× slower on SQLite.
    """
    sums = _sums(terms)
    d = related_docs.c
    return select(d.article_id, d.published, d.cluster_key, d.box_size, d.floor, sums.c.score).join(
        sums, sums.c.article_id == d.article_id
    )


def score_candidates(
    conn: Connection,
    vector: Mapping[str, float],
    start: datetime,
    end: datetime,
    min_score: float,
) -> list[Scored]:
    """Indexed articles published in [start, end] whose dot product with ``vector`` ≥ min_score.

    The sum runs in the database over the postings of the vector's terms only. On PostgreSQL
    the sums come from the postings joined to the vector as an array (the same result;
    execution options of the connection: ``fulltext.CANDIDATES_OPTION`` "fulltext" for the GIN
    match first, "terms" for the term-index query).
    """
    if not vector:
        return []
    rows = _term_query(conn, vector, start, end, min_score, rows_too=True)
    return [Scored(DocInfo(r[0], _when(r[1]), *r[2:5]), r.score) for r in rows]


def lexical_scores(
    conn: Connection,
    vector: Mapping[str, float],
    start: datetime,
    end: datetime,
    min_score: float,
) -> tuple[list[int], list[float]]:
    """`score_candidates` as two lists, article ids and scores, without each article's row:
    with full articles thousands share a word with a new one, and building their rows cost
    more than the query."""
    if not vector:
        return [], []
    rows = _term_query(conn, vector, start, end, min_score, rows_too=False)
    return [r[0] for r in rows], [r[1] for r in rows]


def _term_query(
    conn: Connection,
    vector: Mapping[str, float],
    start: datetime,
    end: datetime,
    min_score: float,
    *,
    rows_too: bool,
) -> list[Any]:
    """The articles in [start, end] whose dot product with ``vector`` ≥ min_score, with their
    ``related_docs`` row (``rows_too``) or as (id, score) only. On PostgreSQL the sums come
    from the postings joined to the vector as an array (`fulltext.POSTINGS_SCORES`) unless
    the connection asks for the full-text matches or the portable term-index query."""
    options = conn.get_execution_options()
    mode = options.get(fulltext.CANDIDATES_OPTION, fulltext.DEFAULT_CANDIDATES)
    if conn.dialect.name == "postgresql" and mode == fulltext.POSTINGS:
        query = fulltext.POSTINGS_CANDIDATES if rows_too else fulltext.POSTINGS_SCORES
        return conn.execute(
            query, fulltext.candidate_params(dict(vector), _epoch(start), _epoch(end), min_score)
        ).all()
    if conn.dialect.name == "postgresql" and mode == fulltext.FULLTEXT:
        limit = options.get(fulltext.LIMIT_OPTION)
        if rows_too:
            query = fulltext.CANDIDATES if limit is None else fulltext.RANKED_CANDIDATES
        else:
            query = fulltext.SCORES if limit is None else fulltext.RANKED_SCORES
        return conn.execute(
            query,
            fulltext.candidate_params(dict(vector), _epoch(start), _epoch(end), min_score, limit),
        ).all()
    params: dict[str, object] = {
        "start": _epoch(start),
        "end": _epoch(end),
        "min_score": min_score,
    }
    for i, (term, weight) in enumerate(vector.items()):
        params[f"t{i}"] = term
        params[f"w{i}"] = weight
    query = _candidates_query(len(vector)) if rows_too else _scores_query(len(vector))
    return conn.execute(query, params).all()


def term_postings(
    conn: Connection, terms: Sequence[str], start: int, end: int
) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]]:
    """Each term's postings published in [start, end] (epoch seconds) as (published, article
    ids, weights), sorted by date then id (the primary key's order); a term without any
    gets empty arrays. For the related run's in-memory postings (`feedhub.related.postings`)."""
    # The two backends the store supports, each read its own fastest way (issue 14).
    if conn.dialect.name == "postgresql":
        return related_pg.term_postings(conn, sorted(set(terms)), start, end)
    return _term_postings_sqlite(conn, terms, start, end)


_TERM_POSTINGS = (
    "SELECT published, article_id, weight FROM related_terms"
    " WHERE term = ? AND published >= ? AND published <= ? ORDER BY published, article_id"
)


def _term_postings_sqlite(
    conn: Connection, terms: Sequence[str], start: int, end: int
) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]]:
    """`term_postings` on SQLite: one primary-key range per term on the driver's cursor.
    Without a round trip a query per term costs nothing, and the rows then need no term
    column to be split by: 0.058 s for 94k postings at 100k articles, against 0.10 s for
    one IN query per 500 terms (issue 14). Not seen by SQLAlchemy's statement events."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    out = {}
    try:
        for term in set(terms):
            rows = cursor.execute(_TERM_POSTINGS, (term, start, end)).fetchall()
            if not rows:
                out[term] = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                             np.zeros(0))
                continue
            published, ids, weights = zip(*rows, strict=True)
            out[term] = (np.asarray(published, dtype=np.int64),
                         np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float64))
    finally:
        cursor.close()
    return out


@lru_cache(maxsize=128)
def _scores_query(terms: int) -> Select[tuple[int, float]]:
    """`_candidates_query` without the join to each article's row."""
    sums = _sums(terms)
    return select(sums.c.article_id, sums.c.score)


def read_boxes(conn: Connection, ids: Iterable[int]) -> dict[int, list[Link]]:
    """Stored boxes of the given articles, best first (articles with no box map to [])."""
    ids = list(ids)
    boxes: dict[int, list[Link]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        for r in conn.execute(_READ_BOXES, {"ids": list(chunk)}):
            boxes[r[0]].append(Link(r[1], r[2], _when(r[3]), r[4]))
    return boxes


_READ_BOXES = (
    select(related_links.c.article_id, related_links.c.related_id, related_links.c.score,
           related_docs.c.published, related_docs.c.cluster_key)
    .join(related_docs, related_docs.c.article_id == related_links.c.related_id)
    .where(related_links.c.article_id.in_(bindparam("ids", expanding=True)))
    .order_by(related_links.c.article_id, related_links.c.rank)
)


# Box size and floor of one article (`write_boxes`: an executemany over the boxes).
_DOC_BOX = (
    update(related_docs)
    .where(related_docs.c.article_id == bindparam("a"))
    .values(box_size=bindparam("size"), floor=bindparam("floor"))
)


def write_box(conn: Connection, article_id: int, box: Sequence[Link], floor: float) -> None:
    """Replace an article's box; ``floor`` is the score a newcomer must reach to be offered."""
    write_boxes(conn, {article_id: (box, floor)})


def write_boxes(conn: Connection, boxes: Mapping[int, tuple[Sequence[Link], float]]) -> None:
    """Replace several articles' boxes (article id → entries best first, floor).

    A new article changes its own box and those it is offered to, a batch of them many
    more; writing each with a DELETE, an INSERT and an UPDATE cost PostgreSQL ~6 ms a box
    (issue 14). Per 500 boxes one DELETE of their links, then multi-row INSERTs of every
    new entry, and the sizes and floors: on PostgreSQL one UPDATE from arrays, on SQLite
    (no round trips) an executemany, or one UPDATE for a single box.
    """
    if not boxes:
        return
    ids = sorted(boxes)
    for chunk in chunks(ids):
        conn.execute(delete(related_links).where(related_links.c.article_id.in_(chunk)))
    rows = [
        {"article_id": a, "rank": i, "related_id": x.related_id, "score": x.score}
        for a in ids
        for i, x in enumerate(boxes[a][0], 1)
    ]
    for part in chunks(rows, 5000):
        conn.execute(insert(related_links), list(part))
    if conn.dialect.name == "postgresql":
        related_pg.set_boxes(conn, {a: (len(boxes[a][0]), boxes[a][1]) for a in ids})
    else:
        conn.execute(
            _DOC_BOX, [{"a": a, "size": len(boxes[a][0]), "floor": boxes[a][1]} for a in ids]
        )


def holders(conn: Connection, ids: Iterable[int]) -> set[int]:
    """Articles whose box lists any of ``ids``."""
    lk = related_links.c
    found: set[int] = set()
    for chunk in chunks(list(ids)):
        found.update(conn.scalars(select(lk.article_id).where(lk.related_id.in_(chunk))))
    return found


def related_items(conn: Connection, article_id: int) -> list[RelatedItem]:
    """An article's box with titles, links and dates, most related first."""
    lk, a = related_links.c, articles.c
    rows = conn.execute(
        select(a.id, a.title, a.url, a.published, lk.score)
        .join(articles, a.id == lk.related_id)
        .where(lk.article_id == article_id)
        .order_by(lk.rank)
    )
    return [RelatedItem(*r) for r in rows]


def indexed_ids(conn: Connection) -> list[int]:
    """Every indexed article id, in ingest order."""
    return list(conn.scalars(select(related_docs.c.article_id).order_by(related_docs.c.article_id)))


def all_boxes(conn: Connection) -> dict[int, list[int]]:
    """Every stored box as related ids, best first (what a rebuild compares)."""
    lk = related_links.c
    boxes: dict[int, list[int]] = {}
    rows = conn.execute(select(lk.article_id, lk.related_id).order_by(lk.article_id, lk.rank))
    for article_id, related_id in rows:
        boxes.setdefault(article_id, []).append(related_id)
    return boxes


def article_ids(conn: Connection) -> list[int]:
    """Every stored article id, in ingest order."""
    return list(conn.scalars(select(articles.c.id).order_by(articles.c.id)))


def write_frequencies(conn: Connection, df: Mapping[str, int], documents: int) -> None:
    """Bulk-load document frequencies into an empty index (rebuild)."""
    rows = [{"term": t, "df": n} for t, n in sorted(df.items())]
    for chunk in chunks(rows, 5000):
        conn.execute(insert(related_df), list(chunk))
    conn.execute(insert(related_stats).values(id=1, documents=documents))


def replace_frequencies(conn: Connection, df: Mapping[str, int], documents: int) -> None:
    """Swap in new document frequencies, leaving docs, postings and boxes (re-freeze)."""
    conn.execute(delete(related_df))
    conn.execute(delete(related_stats))
    write_frequencies(conn, df, documents)


def clear_index(conn: Connection) -> None:
    """Empty every related table (for a rebuild)."""
    for table in (related_links, related_terms, related_docs, related_df, related_stats):
        conn.execute(delete(table))


# Batch indexing (issue 17: `feedhub.related.batch` indexes and boxes many articles per
# statement where the per-article path issues a few statements per article and per box).


def add_frequencies(conn: Connection, counts: Mapping[str, int], documents: int) -> None:
    """Add ``counts[term]`` to each term's df (inserting new terms) and ``documents`` to the
    document count: what `change_frequencies` does once per article, for a batch at once."""
    if not counts and not documents:
        return
    terms = sorted(counts)
    if conn.dialect.name == "postgresql":
        if terms:
            related_pg.add_frequencies(conn, counts)
    else:
        known = frequencies(conn, terms)
        if known:
            conn.execute(
                _DF_ADD_EACH, [{"t": t, "delta": counts[t]} for t in terms if t in known]
            )
        fresh = [{"term": t, "df": counts[t]} for t in terms if t not in known]
        for chunk in chunks(fresh, 5000):
            conn.execute(insert(related_df), list(chunk))
    stats = related_stats.c
    bumped = conn.execute(
        update(related_stats).where(stats.id == 1).values(documents=stats.documents + documents)
    )
    if bumped.rowcount == 0:
        conn.execute(insert(related_stats).values(id=1, documents=documents))


def read_term_vectors(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, float]]:
    """`read_vector` of many articles (terms in term order); not indexed ones map to {}."""
    t = related_terms.c
    ids = list(ids)
    found: dict[int, dict[str, float]] = {i: {} for i in ids}
    for chunk in chunks(ids):
        rows = conn.execute(
            select(t.article_id, t.term, t.weight)
            .where(t.article_id.in_(chunk))
            .order_by(t.article_id, t.term)
        )
        for article_id, term, weight in rows:
            found[article_id][term] = weight
    return found


def cluster_members_of(conn: Connection, keys: Iterable[int]) -> dict[int, set[int]]:
    """`cluster_members` of many cluster keys, two statements per chunk of keys."""
    keys = sorted(set(keys))
    members: dict[int, set[int]] = {k: {k} for k in keys}
    a, d = articles.c, related_docs.c
    for chunk in chunks(keys):
        for i, key in conn.execute(select(a.id, a.cluster_id).where(a.cluster_id.in_(chunk))):
            members[key].add(i)
        for i, key in conn.execute(
            select(d.article_id, d.cluster_key).where(d.cluster_key.in_(chunk))
        ):
            members[key].add(i)
    return members


def index_rows(conn: Connection, start: int, end: int) -> tuple[NDArray[np.int64], ...]:
    """Article ids, published (epoch seconds), cluster keys, box sizes and floors of the
    indexed articles published in [start, end], as arrays in id order: the batch path holds
    them in memory across its batches. Read as the driver's tuples (100k rows: SQLAlchemy
    Rows took 0.45 s)."""
    d = related_docs.c
    result = conn.execute(
        select(d.article_id, d.published, d.cluster_key, d.box_size, d.floor)
        .where(d.published >= start, d.published <= end)
        .order_by(d.article_id)
    )
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    if not rows:
        return (*(np.zeros(0, dtype=np.int64) for _ in range(4)), np.zeros(0))
    ids, published, keys, sizes, floors = zip(*rows, strict=True)
    return (
        np.asarray(ids, dtype=np.int64),
        np.asarray(published, dtype=np.int64),
        np.asarray(keys, dtype=np.int64),
        np.asarray(sizes, dtype=np.int64),
        np.asarray(floors, dtype=np.float64),
    )

