"""How a pair of articles is scored for Related News (pure): meaning, shared words, time.

``similarity = W_LEX·lexical + (1 − W_LEX)·semantic`` (term-vector cosine and text-vector
cosine). A pair below the relevance floor is not related at all; related pairs rank by
``(similarity + CLOSENESS·(1 − min(|Δt| / CLOSE_SPAN, 1))) / (1 + CLOSENESS)`` (divided so a
score stays within 0–1). Everything is symmetric in the
two articles, so a pair's score is the same whichever of them asks (what incremental box
updates rely on).

Chosen on the UCI headlines (benchmarks/related_tune.py: weights searched on half the
stories, checked on the other half) and on the labelled full articles of tests/data/related
(the reference box, its thread and unrelated singletons); figures in benchmarks/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from feedhub.related.rank import SCORE_DIGITS

if TYPE_CHECKING:
    from numpy.typing import NDArray

# Share of the lexical cosine. On UCI headlines 0.3–0.6 are within 0.01 of each other; on
# full articles the text vectors separate the reference thread from its distractors better
# (0.2–0.4 kept the reference box, 0.6 did not), so the lower end.
W_LEX = 0.3
# Closeness in time: a bonus falling linearly to 0 at CLOSE_SPAN (or the window, if
# shorter). A story's burst of coverage lies within days; beyond CLOSE_SPAN every distance
# scores the same, so a developing story's coverage weeks later is not pushed out by
# unrelated news of the same week (the reference box is 5–9 weeks newer; the floor keeps
# unrelated news out). UCI P@1 rises with the bonus (0.2: 0.741, 0.3: 0.776, 0.5: 0.815)
# because that protocol rewards bursts; 0.3 stops where a same-day article just above the
# floor would start to beat a clearly closer match from a week later.
CLOSE_SPAN = timedelta(days=3)
CLOSENESS = 0.3
# Relevance floor on the similarity (before the bonus). Short texts (headlines only) score
# low even when related; full articles share the register of news and score higher even
# when not: the floor rises with the shorter text's token count, from FLOOR_SHORT at
# SHORT_WORDS to FLOOR_LONG at LONG_WORDS. FLOOR_SHORT: UCI same-story vs different-story
# headline pairs (benchmarks/related_tune.py's floor table); FLOOR_LONG: tests/data/related,
# between its unrelated pairs (≤ 0.474 in every indexing order: idf is frozen at indexing)
# and its thread's links (≥ 0.496): a thin margin on a small corpus.
FLOOR_SHORT = 0.15
FLOOR_LONG = 0.485
SHORT_WORDS = 20
LONG_WORDS = 80
# Lexical cosines below this are not fetched from the term index (they count as 0): they
# move a similarity by < 0.015. On full articles nearly every pair shares some word: on the
# generated news of benchmarks/related_publish.py a box's query returned ~1,030 rows at
# 0.02 and ~160 at 0.05, the rows costing more than the rest of the box; the labelled
# corpus (benchmarks/related_corpus.py) gives the same boxes at 0.02 and 0.05.
LEXICAL_MIN = 0.05


@dataclass(frozen=True, slots=True)
class Parts:
    """A pair's score and what it is made of (for ranking and for `feedhub related`)."""

    lexical: float
    semantic: float | None  # None: no text vectors (model missing): lexical only
    similarity: float
    time_bonus: float
    floor: float
    score: float  # (similarity + time bonus) / (1 + CLOSENESS), rounded; what boxes rank by

    @property
    def related(self) -> bool:
        return round(self.similarity, SCORE_DIGITS) >= self.floor


def floor_for(words_a: int, words_b: int) -> float:
    """The relevance floor of a pair whose texts have these token counts."""
    return float(floors(words_a, np.array([words_b]))[0])


def time_bonus(
    a: datetime, b: datetime, window: timedelta, closeness: float = CLOSENESS
) -> float:
    """What two dates' closeness adds to a pair's score (``closeness`` at the same moment).

    Dates count in whole seconds, as the index stores them."""
    apart = np.array([abs(int(a.timestamp()) - int(b.timestamp()))])
    return float(bonuses(apart, window, closeness)[0])


def combine(lexical: float, semantic: float | None, bonus: float, floor: float) -> Parts:
    """A pair's parts; ``semantic`` None scores by the lexical cosine alone."""
    sim, score = combine_many(
        np.array([lexical]),
        None if semantic is None else np.array([semantic]),
        np.array([bonus]),
    )
    return Parts(lexical, semantic, float(sim[0]), bonus, floor, float(score[0]))


# The same rules over arrays: a box scores every article of its window at once. The scalar
# functions above call these, so a pair scores the same in a box, in `feedhub related` and
# in any other caller, to the last digit.


def rounded(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scores rounded to SCORE_DIGITS (numpy's rounding: used on every scoring path)."""
    return np.round(x, SCORE_DIGITS)


def floors(words: int, others: NDArray[np.int64]) -> NDArray[np.float64]:
    """The relevance floors of one text of ``words`` tokens paired with texts of ``others``."""
    shorter = np.minimum(others, words).astype(np.float64)
    share = np.clip((shorter - SHORT_WORDS) / (LONG_WORDS - SHORT_WORDS), 0.0, 1.0)
    return rounded(FLOOR_SHORT + share * (FLOOR_LONG - FLOOR_SHORT))


def bonuses(
    seconds_apart: NDArray[np.int64], window: timedelta, closeness: float = CLOSENESS
) -> NDArray[np.float64]:
    """`time_bonus` of pairs that lie ``seconds_apart`` (whole seconds, ≥ 0)."""
    span = min(window, CLOSE_SPAN).total_seconds()
    if span <= 0:
        return np.zeros(len(seconds_apart))
    share = np.minimum(seconds_apart / span, 1.0)
    return rounded(closeness * (1.0 - share))


def combine_many(
    lexical: NDArray[np.float64],
    semantic: NDArray[np.float64] | None,
    bonus: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Similarities and scores of pairs (`combine`'s rules); ``semantic`` None: lexical only.
    A pair is related when its similarity is at or above its floor."""
    sim = lexical if semantic is None else W_LEX * lexical + (1.0 - W_LEX) * semantic
    sim = rounded(sim)
    return sim, rounded((np.maximum(sim, 0.0) + bonus) / (1.0 + CLOSENESS))
