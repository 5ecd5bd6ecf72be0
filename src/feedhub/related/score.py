"""How a pair of articles is scored for Related News (pure): meaning, shared words, time.

``similarity = W_LEX·lexical + (1 − W_LEX)·semantic`` (term-vector cosine and text-vector
cosine); a pair below the relevance floor is not related at all; the box ranks by
``similarity − CLOSENESS·min(|Δt| / CLOSE_SPAN, 1)`` (at least 0). Everything is symmetric
in the two articles, so a pair's score is the same whichever of them asks (what incremental
box updates rely on).

Chosen on the UCI headlines (benchmarks/related_tune.py: weights searched on half the
stories, checked on the other half) and on the labelled corpus of full articles in
tests/data/related (the reference box and its distractors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from feedhub.related.rank import SCORE_DIGITS

# Share of the lexical cosine: 0.1–0.4 were within 0.01 P@1 of each other on both halves;
# the text vectors carry most of the meaning, the shared names settle near-ties.
W_LEX = 0.3
# Closeness in time: a pair d apart loses CLOSENESS·min(d / CLOSE_SPAN, 1) (additive). A
# story's burst of coverage lies within days; beyond CLOSE_SPAN every distance costs the
# same, so a developing story's coverage weeks later is not pushed out by that week's other
# news (the reference box is 5–9 weeks newer). A multiplicative factor scored higher on UCI
# (it rewards that protocol's bursts) but let a weak same-week article beat a later copy of
# the same story; subtracting keeps a clearly closer match first. UCI: +0.12 P@1 over none.
CLOSE_SPAN = timedelta(days=3)
CLOSENESS = 0.2
# Relevance floor on the similarity (before the time penalty). Short texts (headlines only)
# score low even when related; full articles share the register of news and score higher
# even when not: the floor rises with the shorter text's length, from FLOOR_SHORT at
# SHORT_WORDS tokens to FLOOR_LONG at LONG_WORDS. See the README's related section.
FLOOR_SHORT = 0.2
FLOOR_LONG = 0.47
SHORT_WORDS = 20
LONG_WORDS = 80


@dataclass(frozen=True, slots=True)
class Parts:
    """A pair's score and what it is made of (for ranking and for `feedhub related`)."""

    lexical: float
    semantic: float | None  # None: no text vectors (model missing): lexical only
    similarity: float
    time_penalty: float
    floor: float
    score: float  # similarity − time penalty (≥ 0), rounded; what boxes rank by

    @property
    def related(self) -> bool:
        return round(self.similarity, SCORE_DIGITS) >= self.floor


def floor_for(words_a: int, words_b: int) -> float:
    """The relevance floor of a pair whose texts have these token counts."""
    shorter = min(words_a, words_b)
    share = min(max((shorter - SHORT_WORDS) / (LONG_WORDS - SHORT_WORDS), 0.0), 1.0)
    return round(FLOOR_SHORT + share * (FLOOR_LONG - FLOOR_SHORT), SCORE_DIGITS)


def time_penalty(
    a: datetime, b: datetime, window: timedelta, closeness: float = CLOSENESS
) -> float:
    """What two dates' distance costs a pair (0 at the same moment)."""
    span = min(window, CLOSE_SPAN).total_seconds()
    share = min(abs((a - b).total_seconds()) / span, 1.0) if span > 0 else 0.0
    return round(closeness * share, SCORE_DIGITS)


def combine(
    lexical: float,
    semantic: float | None,
    penalty: float,
    floor: float,
) -> Parts:
    """A pair's parts; ``semantic`` None scores by the lexical cosine alone."""
    sim = lexical if semantic is None else W_LEX * lexical + (1.0 - W_LEX) * semantic
    sim = round(sim, SCORE_DIGITS)
    return Parts(
        lexical, semantic, sim, penalty, floor, round(max(sim - penalty, 0.0), SCORE_DIGITS)
    )
