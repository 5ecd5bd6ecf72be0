"""Why a box lists what it lists: each link's score taken apart (`feedhub related`).

Recomputes a stored pair's parts from what the index holds (both term vectors, both text
vectors, both dates) with the functions that scored it, plus the terms the two share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import Connection

from feedhub.related import semantic
from feedhub.related.score import Parts, combine, floor_for, rounded, time_bonus
from feedhub.related.vector import similarity
from feedhub.store import related as db
from feedhub.store import vectors as vdb

SHARED_SHOWN = 6


@dataclass(frozen=True, slots=True)
class Explained:
    """One link of a box with its score's parts and the strongest shared terms."""

    related_id: int
    parts: Parts
    shared: tuple[str, ...]


def explain(conn: Connection, article_id: int, window: timedelta) -> list[Explained]:
    """The parts of every link in ``article_id``'s stored box, in box order."""
    links = db.read_boxes(conn, [article_id])[article_id]
    if not links:
        return []
    ids = [article_id, *(link.related_id for link in links)]
    docs = db.read_docs(conn, ids)
    model = semantic.model_id()
    vecs = vdb.read_vectors(conn, ids, model) if model else {}
    mine_terms = db.read_vector(conn, article_id)
    result = []
    for link in links:
        theirs = db.read_vector(conn, link.related_id)
        # Rounded as `vectors.related_pairs` rounds them before combining.
        lexical = float(rounded(np.array([similarity(mine_terms, theirs)]))[0])
        a, b = vecs.get(article_id), vecs.get(link.related_id)
        sem = None
        floor = 0.0
        if a is not None and b is not None and a.words and b.words:
            raw = semantic.raw_cosines(semantic.from_blob(a.vec), semantic.from_blobs([b.vec]))
            sem = float(rounded(raw)[0])
            floor = floor_for(a.words, b.words)
        bonus = 0.0
        if sem is not None and article_id in docs and link.related_id in docs:
            bonus = time_bonus(docs[article_id].published, docs[link.related_id].published, window)
        shared = sorted(mine_terms.keys() & theirs.keys(),
                        key=lambda t: (-mine_terms[t] * theirs[t], t))[:SHARED_SHOWN]
        result.append(Explained(link.related_id, combine(lexical, sem, bonus, floor),
                                tuple(shared)))
    return result
