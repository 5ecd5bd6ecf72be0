"""Term vectors and their similarity (pure).

Each article becomes one sparse, unit-length vector of its strongest terms:
weight = idf × (title_boost·(1+ln tf_title) + (1+ln tf_body)). Similarity is the dot product
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
) -> Vector:
    """Unit vector of the article's ``max_terms`` strongest terms (ties broken by term)."""
    weights = {
        term: idf(df.get(term, 1), documents)
        * (params.title_boost * _tf(title_tf.get(term, 0)) + _tf(body_tf.get(term, 0)))
        for term in title_tf.keys() | body_tf.keys()
    }
    strongest = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: params.max_terms]
    norm = math.sqrt(sum(w * w for _, w in strongest))
    if norm == 0.0:
        return {}
    return {term: w / norm for term, w in strongest}


def similarity(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine of two unit vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b[t] for t, w in a.items() if t in b)
