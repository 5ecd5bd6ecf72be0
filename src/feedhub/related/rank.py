"""Choosing and merging related lists (pure): top-N by score, then time proximity, then id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Scores are rounded before comparing so sums done in another order (SQL vs Python,
# SQLite vs PostgreSQL) give the same ranking, and near-equal scores fall to the date tie-break.
SCORE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Candidate:
    """Another article as seen from one article: its score and what the tie-breaks need."""

    article_id: int
    score: float
    published: datetime
    cluster_key: int  # the article's dedupe cluster (its own id when it has none)


def sort_key(c: Candidate, anchor: datetime) -> tuple[float, float, int]:
    """Higher score first; at equal score the one closer in time to ``anchor``; then lower id."""
    distance = abs((c.published - anchor).total_seconds())
    return (-round(c.score, SCORE_DIGITS), distance, c.article_id)


def top_related(
    candidates: Iterable[Candidate], anchor: datetime, count: int, min_score: float
) -> list[Candidate]:
    """The ``count`` best candidates at or above ``min_score``, one per dedupe cluster.

    Keeping one per cluster stops the same story from several sources filling a box.
    """
    chosen: list[Candidate] = []
    clusters: set[int] = set()
    for c in sorted(candidates, key=lambda c: sort_key(c, anchor)):
        if len(chosen) == count or round(c.score, SCORE_DIGITS) < min_score:
            break
        if c.cluster_key not in clusters:
            clusters.add(c.cluster_key)
            chosen.append(c)
    return chosen


def merge_into(
    box: list[Candidate], new: Candidate, anchor: datetime, count: int, min_score: float
) -> list[Candidate] | None:
    """``box`` with ``new`` offered to it, or None when the box does not change.

    Equal to `top_related` over the box's candidates plus ``new``, because a box already
    holds the best of everything it has seen.
    """
    others = [c for c in box if c.article_id != new.article_id]
    merged = top_related([*others, new], anchor, count, min_score)
    return None if merged == box else merged
