"""Term vectors and their similarity (pure).

Each article becomes one sparse, unit-length vector of its strongest terms:
weight = idf × (title_boost·(1+ln tf_title) + (1+ln tf_body)). An article with a lead (the
feed's teaser beside its page's text, `feedhub.related.text.lead_text`) is two such parts
instead, each of unit length: lead_share × (title + lead) + (1 − lead_share) × body, so a long
body cannot drown its title and lead (issue 15). Similarity is the dot product
of two such vectors (a cosine), which is symmetric: the score of a pair does not depend on
which article asked, so a new article's score can be compared with an older box's entries.
Vectors are frozen when indexed (idf as of that moment): a pair's score never changes later,
which is what makes incremental updates equal to a one-shot update in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

Vector = dict[str, float]


@dataclass(frozen=True, slots=True)
class VectorParams:
    """Weighting knobs (title boost on reasoning; max_terms measured, see below)."""

    title_boost: float = 2.0  # a title word says more about the story than a body word
    # Strongest terms kept per article: bounds index size and query cost (∝ postings read).
    # 40–56 dropped the Sahel terms of the long reference article from its vector and lost
    # a box story to a Russia/China drills story; 64 kept them at ~5 ms per update (100k).
    max_terms: int = 64
    # The share of title + lead in an article with a lead. On the summary-only labelled pairs
    # with their bodies as full text (benchmarks/fulltext.py), 0.8 here and 0.7 in the text
    # vectors (`semantic.LEAD_SHARE`) kept all 228 same-story pairs over the floor (by
    # ≥ 0.02 in an in-memory check of the pairs against their floors); without a lead share
    # 41 fell under, with 0.6/0.6 one did.
    lead_share: float = 0.8


DEFAULT_PARAMS = VectorParams()


def idf(df: int, documents: int) -> float:
    """Smoothed inverse document frequency; ``df`` counts the article itself."""
    return math.log(1.0 + documents / max(df, 1))


def _tf(count: int) -> float:
    # Sublinear: the tenth "Niger" in a body adds little over the third.
    return 1.0 + math.log(count) if count > 0 else 0.0


def term_vector(
    title_tf: Mapping[str, int],
    body_tf: Mapping[str, int],
    df: Mapping[str, int],
    documents: int,
    params: VectorParams = DEFAULT_PARAMS,
    lead_tf: Mapping[str, int] | None = None,
) -> Vector:
    """Unit vector of the article's ``max_terms`` strongest terms (ties broken by term);
    ``lead_tf``: the terms of its lead, when it has one (`text.lead_terms`)."""
    if lead_tf is None:
        weights = {
            term: idf(df.get(term, 1), documents)
            * (params.title_boost * _tf(title_tf.get(term, 0)) + _tf(body_tf.get(term, 0)))
            for term in title_tf.keys() | body_tf.keys()
        }
    else:
        head = _unit({
            term: idf(df.get(term, 1), documents)
            * (params.title_boost * _tf(title_tf.get(term, 0)) + _tf(lead_tf.get(term, 0)))
            for term in title_tf.keys() | lead_tf.keys()
        })
        body = _unit({term: idf(df.get(term, 1), documents) * _tf(n)
                      for term, n in body_tf.items()})
        share = params.lead_share
        weights = {term: share * head.get(term, 0.0) + (1.0 - share) * body.get(term, 0.0)
                   for term in head.keys() | body.keys()}
    strongest = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: params.max_terms]
    norm = math.sqrt(sum(w * w for _, w in strongest))
    if norm == 0.0:
        return {}
    return {term: w / norm for term, w in strongest}


def _unit(weights: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {t: w / norm for t, w in weights.items()} if norm else {}


def similarity(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine of two unit vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b[t] for t, w in a.items() if t in b)
