"""Related News scorer research: lexical + text-vector + closeness-in-time weights on UCI headlines.

Run: PYTHONPATH=src .venv/bin/python benchmarks/related_tune.py

In memory, titles only, ±3 days (the data README's protocol). Every pair in the window gets
feedhub's term-vector cosine (``lex``, idf of the whole sample), the wordllama cosine
(``sem``) and a closeness bonus: a score is ``w·lex + (1 − w)·sem + c·(1 − |Δt|/window)``
(as `feedhub.related.score`; ``--multiplicative`` tries ``sim × (1 − c·|Δt|/window)``).
To keep the weights honest the stories are split in two halves by story id: the grid is
searched on half A and the best points are reported on A, on B (never seen while
choosing) and on all. The floor tables show what a relevance floor on the similarity costs
in ranking and gains in link precision.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedhub.related import semantic
from feedhub.related.text import document_terms
from feedhub.related.vector import term_vector
from related import Headline, load_uci, tfidf_baseline

WINDOW = timedelta(days=3)


def half(story: str) -> str:
    return "A" if hashlib.sha1(story.encode()).digest()[0] % 2 == 0 else "B"


def lexical_matrix(heads: list[Headline]) -> np.ndarray:
    """Pairwise cosine of feedhub's term vectors (df of the whole sample)."""
    terms = [document_terms(h.title, "", "") for h in heads]
    df: Counter[str] = Counter()
    for t, b in terms:
        df.update(t.keys() | b.keys())
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, (t, b) in enumerate(terms):
        for term, w in term_vector(t, b, df, len(heads)).items():
            rows.append(i)
            cols.append(vocab.setdefault(term, len(vocab)))
            vals.append(w)
    m = np.zeros((len(heads), len(vocab)), dtype=np.float32)
    m[rows, cols] = vals
    return m @ m.T


def semantic_matrix(heads: list[Headline]) -> np.ndarray:
    vecs = []
    for h in heads:
        made = semantic.embed_article(h.title, "")
        vecs.append(np.zeros(semantic.DIMENSION, np.float32) if made is None else made[0])
    # float16 round trip: what the store keeps
    m = np.stack([semantic.from_blob(semantic.to_blob(v)) for v in vecs])
    return m @ m.T


MULTIPLY = "--multiplicative" in sys.argv


def scores(lex: np.ndarray, sem: np.ndarray, dt: np.ndarray, w: float, c: float) -> np.ndarray:
    """Ranking scores of every pair (dt: distance as a share of the window)."""
    sim = w * lex + (1 - w) * sem
    if MULTIPLY:
        return sim * (1 - c * np.minimum(dt, 1.0))
    return np.maximum(sim, 0.0) + c * (1 - np.minimum(dt, 1.0))


def evaluate(
    heads: list[Headline],
    lex: np.ndarray,
    sem: np.ndarray,
    dt: np.ndarray,
    w: float,
    decay: float,
    subset: str | None,
    lexical_candidates: bool = False,
) -> tuple[float, float, int]:
    """P@1 and nP@3 over the headlines of ``subset`` (None: all) with a same-story neighbour."""
    size = Counter(h.story for h in heads)
    stories = np.array([h.story for h in heads])
    score = scores(lex, sem, dt, w, decay)
    inside = dt <= 1.0
    np.fill_diagonal(inside, False)
    if lexical_candidates:
        inside &= lex > 0
    p1 = np3 = 0.0
    n = 0
    for i, h in enumerate(heads):
        if size[h.story] < 2 or (subset and half(h.story) != subset):
            continue
        idx = np.flatnonzero(inside[i])
        if idx.size == 0:
            n += 1
            continue
        s = np.round(score[i, idx], 6)
        order = np.lexsort((idx, dt[i, idx], -s))[:3]
        top = idx[order]
        hits = int((stories[top] == h.story).sum())
        p1 += stories[top[0]] == h.story
        np3 += hits / min(3, size[h.story] - 1)
        n += 1
    return p1 / n, np3 / n, n


def main() -> None:
    if not semantic.available():
        sys.exit("wordllama is not installed: nothing to tune")
    heads = load_uci()
    t0 = time.perf_counter()
    lex = lexical_matrix(heads)
    sem = semantic_matrix(heads)
    secs = np.array([h.when.timestamp() for h in heads])
    dt = np.abs(secs[:, None] - secs[None, :]) / WINDOW.total_seconds()
    print(f"matrices in {time.perf_counter() - t0:.1f}s; {len(heads)} headlines")

    p1, np3, n = tfidf_baseline(heads, WINDOW)
    print(f"{'TF-IDF cosine baseline':40} all P@1 {p1:.3f} nP@3 {np3:.3f} (n={n})")
    rows = [("feedhub lexical only", 1.0, 0.0), ("wordllama only", 0.0, 0.0)]
    for label, w, d in rows:
        r = [evaluate(heads, lex, sem, dt, w, d, s) for s in ("A", "B", None)]
        print(f"{label:40} " + "  ".join(f"{s or 'all'} {a:.3f}/{b:.3f}"
                                         for s, (a, b, _) in zip("AB ", r, strict=True)))

    grid = [(w, d) for w in np.arange(0.0, 0.61, 0.1) for d in np.arange(0.0, 0.51, 0.05)]
    tuned = []
    for w, d in grid:
        p1a, np3a, _ = evaluate(heads, lex, sem, dt, w, d, "A")
        tuned.append((p1a + np3a, w, d, p1a, np3a))
    tuned.sort(reverse=True)
    print("\nbest on half A (P@1 + nP@3), then the same weights on B and on all:")
    for _, w, d, p1a, np3a in tuned[:4]:
        p1b, np3b, _ = evaluate(heads, lex, sem, dt, w, d, "B")
        p1x, np3x, _ = evaluate(heads, lex, sem, dt, w, d, None)
        p1c, np3c, _ = evaluate(heads, lex, sem, dt, w, d, None, lexical_candidates=True)
        print(f"  w_lex {w:.1f} closeness {d:.2f}: A {p1a:.3f}/{np3a:.3f}  "
              f"B {p1b:.3f}/{np3b:.3f}  all {p1x:.3f}/{np3x:.3f}  "
              f"all, lexical candidates only {p1c:.3f}/{np3c:.3f}")

    for _, w, d, *_ in [*tuned[:1], (0, 0.3, 0.2)]:
        floor_table(heads, lex, sem, dt, w, d)


def floor_table(heads: list[Headline], lex: np.ndarray, sem: np.ndarray, dt: np.ndarray,
                w: float, d: float) -> None:
    print(f"\nboxes of 3 at w_lex {w:.1f}, closeness {d:.2f} under a floor on the similarity "
          "(all headlines; a link is right when same story; singletons: headlines with no "
          "same-story neighbour)")
    print(f"{'floor':>6} {'P@1':>6} {'nP@3':>6} {'link prec':>9} {'links/head':>10} "
          f"{'singletons w/ link':>18}")
    for floor in (0.0, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3):
        print(f"{floor:6.2f} " + boxes_at(heads, lex, sem, dt, w, d, floor))


def boxes_at(heads: list[Headline], lex: np.ndarray, sem: np.ndarray, dt: np.ndarray,
             w: float, decay: float, floor: float) -> str:
    """One row of the floor table: ranking figures and link precision at ``floor``."""
    size = Counter(h.story for h in heads)
    stories = np.array([h.story for h in heads])
    sim = w * lex + (1 - w) * sem
    score = np.round(scores(lex, sem, dt, w, decay), 6)
    inside = (dt <= 1.0) & (np.round(sim, 6) >= floor)
    np.fill_diagonal(inside, False)
    p1 = np3 = 0.0
    n = links = right = lonely = lonely_linked = 0
    for i, h in enumerate(heads):
        idx = np.flatnonzero(inside[i])
        top = idx[np.lexsort((idx, dt[i, idx], -score[i, idx]))[:3]]
        hits = int((stories[top] == h.story).sum())
        links += top.size
        right += hits
        if size[h.story] < 2:
            lonely += 1
            lonely_linked += top.size > 0
            continue
        p1 += bool(top.size) and stories[top[0]] == h.story
        np3 += hits / min(3, size[h.story] - 1)
        n += 1
    return (f"{p1 / n:6.3f} {np3 / n:6.3f} {right / max(links, 1):9.3f} "
            f"{links / len(heads):10.2f} {lonely_linked / lonely:18.3f}")

if __name__ == "__main__":
    main()
