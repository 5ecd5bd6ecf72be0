"""PostgreSQL's own full-text index as the Related News candidate generator.

On PostgreSQL, ``related_docs`` gets a generated ``tsv`` column and a GIN index over it. The
tsvector is built from the article's own index terms (``related_docs.terms``: feedhub's
accent-folded, stemmed, stopword-free tokens) with ``array_to_tsvector``, which takes them
verbatim: ``to_tsvector('simple', title || summary)`` would index other tokens than the
scorer's ("Sénégal" vs "senegal", "troops" vs "troop"), so a shared story term could miss.

A candidate query asks the GIN index for the articles within the date window whose
tsvector matches any term of the query vector (``tsv @@ 'term1' | 'term2' | …``) and scores
them exactly from their postings — the same dot product of stored vectors as the term-index
query — so a box is the same on both backends by construction.

Ordering the matches by ``ts_rank`` and keeping the best N before scoring (``LIMIT_OPTION``)
is available for measurements but not the default: a shared common word is enough to match,
so on full articles 90 % of a window matched, ts_rank (term counts, no idf) is a poor proxy
for the cosine, and boxes changed (benchmarks/related.py, the README there).

The default on PostgreSQL is neither that GIN match nor the portable term-index query, but
the same sum from the postings alone with the query vector as an array (``POSTINGS_*``,
issue 14): every article with a posting of a query term in the window has that term in its
tsvector (a vector's terms are among its article's terms, and a posting carries its
article's date), so the GIN match drops nothing the sum counts; on full articles it matched
90 % of the window and cost more than the sum. The portable query (a UNION ALL of one scan
per term, what SQLite runs) gives the same rows on PostgreSQL but 3–4× slower there, with
one parameter per term and weight. At 10k generated articles, one new article's query:
GIN + postings 45 ms, term index 28 ms, postings with ``unnest`` 8 ms (benchmarks/README.md).

This module only holds SQL text: `feedhub.store.related` imports it (not the reverse).
"""

from __future__ import annotations

from sqlalchemy import DDL, Connection, TextClause, text

TSV_COLUMN = "tsv"
TSV_INDEX = "ix_related_docs_tsv"
# Execution options of the connection (`feedhub.store.related.score_candidates` reads them):
# the candidate generator on PostgreSQL, "postings" (DEFAULT_CANDIDATES: `POSTINGS_SCORES`),
# "fulltext" (the GIN match, then the same sum) or "terms" (the portable term-index query,
# the only one on SQLite) ...
CANDIDATES_OPTION = "feedhub_related_candidates"
POSTINGS = "postings"
FULLTEXT = "fulltext"
DEFAULT_CANDIDATES = POSTINGS
# ... and, for measurements, N: keep only the N best matches by ts_rank (not exact).
LIMIT_OPTION = "feedhub_fulltext_limit"

_ADD_COLUMN = (
    f"ALTER TABLE related_docs ADD COLUMN {TSV_COLUMN} tsvector "
    "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(terms, ' '))) STORED"
)
_ADD_INDEX = f"CREATE INDEX {TSV_INDEX} ON related_docs USING gin ({TSV_COLUMN})"

# Run after ``related_docs`` is created (metadata.create_all) on PostgreSQL only.
CREATE_DDL = [DDL(_ADD_COLUMN).execute_if(dialect="postgresql"),
              DDL(_ADD_INDEX).execute_if(dialect="postgresql")]


def install(conn: Connection) -> list[str]:
    """Add the column and index to an existing PostgreSQL store that lacks them.

    Looks first, so a store that has them takes no ALTER TABLE lock on open (several workers
    open the store at once). Returns what was added; nothing on SQLite.
    """
    if conn.dialect.name != "postgresql":
        return []
    added = []
    has_column = conn.scalar(
        text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'related_docs' AND column_name = :c"
        ),
        {"c": TSV_COLUMN},
    )
    if not has_column:
        conn.exec_driver_sql(_ADD_COLUMN)  # computes tsv for every existing row
        added.append(f"related_docs.{TSV_COLUMN}")
    has_index = conn.scalar(
        text(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'related_docs' AND indexname = :i"
        ),
        {"i": TSV_INDEX},
    )
    if not has_index:
        conn.exec_driver_sql(_ADD_INDEX)
        added.append(TSV_INDEX)
    return added


def tsquery(terms: list[str]) -> str:
    """``'a' | 'b' | …`` as tsquery text. Terms are ``[^\\W_]+`` words (no quotes or
    backslashes), quoted so the tsquery parser takes each verbatim."""
    return " | ".join(f"'{t}'" for t in terms)


_CANDIDATES = """
WITH q AS (
    SELECT term, w FROM unnest(CAST(:terms AS text[]), CAST(:weights AS float8[])) AS q(term, w)
), hits AS (
    SELECT article_id FROM related_docs
    WHERE {column} @@ CAST(:query AS tsquery) AND published BETWEEN :start AND :end
    {ranking}
), scores AS (
    SELECT t.article_id, sum(t.weight * q.w) AS score
    FROM related_terms t JOIN q ON q.term = t.term
    WHERE t.published BETWEEN :start AND :end AND t.article_id IN (SELECT article_id FROM hits)
    GROUP BY t.article_id
)
{select}
WHERE s.score >= :min_score
"""
_DOCS = """SELECT d.article_id, d.published, d.cluster_key, d.box_size, d.floor, s.score
FROM scores s JOIN related_docs d ON d.article_id = s.article_id"""
_SCORES = "SELECT s.article_id, s.score FROM scores s"
_RANKING = (
    f"ORDER BY ts_rank({TSV_COLUMN}, CAST(:query AS tsquery)) DESC, article_id LIMIT :limit"
)
# The GIN index's matches within the window, scored exactly from their postings (the
# scores of the articles sharing a vector term; a match on other terms only scores nothing).
CANDIDATES: TextClause = text(_CANDIDATES.format(column=TSV_COLUMN, ranking="", select=_DOCS))
# The same over the ``:limit`` best matches by ts_rank only (LIMIT_OPTION; not exact).
RANKED_CANDIDATES: TextClause = text(
    _CANDIDATES.format(column=TSV_COLUMN, ranking=_RANKING, select=_DOCS)
)
# Only (article id, score) of the same matches: the text-vector path reads the rows of the
# few it keeps (`feedhub.store.related.lexical_scores`).
SCORES: TextClause = text(_CANDIDATES.format(column=TSV_COLUMN, ranking="", select=_SCORES))
RANKED_SCORES: TextClause = text(
    _CANDIDATES.format(column=TSV_COLUMN, ranking=_RANKING, select=_SCORES)
)


# The same sums from the postings alone (DEFAULT_CANDIDATES, see the module docstring): one
# join of the query's (term, weight) array with the (term, published) primary key.
_POSTINGS = """
WITH q AS (
    SELECT term, w FROM unnest(CAST(:terms AS text[]), CAST(:weights AS float8[])) AS q(term, w)
), scores AS (
    SELECT t.article_id, sum(t.weight * q.w) AS score
    FROM related_terms t JOIN q ON q.term = t.term
    WHERE t.published BETWEEN :start AND :end
    GROUP BY t.article_id
)
{select}
WHERE s.score >= :min_score
"""
POSTINGS_CANDIDATES: TextClause = text(_POSTINGS.format(select=_DOCS))
POSTINGS_SCORES: TextClause = text(_POSTINGS.format(select=_SCORES))


def candidate_params(
    vector: dict[str, float], start: int, end: int, min_score: float, limit: int | None = None
) -> dict[str, object]:
    """Parameters of `CANDIDATES` (or `RANKED_CANDIDATES` with ``limit``) for a query
    vector and an epoch-second window."""
    terms = list(vector)
    return {
        "terms": terms,
        "weights": [vector[t] for t in terms],
        "query": tsquery(terms),
        "start": start,
        "end": end,
        "min_score": min_score,
        "limit": limit,
    }
