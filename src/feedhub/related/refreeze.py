"""Re-freezing the term index in short transactions instead of one long one.

At each REFREEZE_AT size every indexed vector is re-weighted with the document frequencies
of the moment and every box is recomputed: ~8k re-indexings up to 4,096 articles. Inside
one transaction that held SQLite's write lock for many seconds while a running service's
fetches waited (soak benchmark, p99 lateness 14.5 s). Here the frequencies are counted in a
read transaction and the index is rewritten in paced write transactions.

A marker in ``meta`` lists the articles to re-freeze, set in the transaction that reached
the size. The publisher runs the re-freeze right after that commit, and at its start in case
a publish died with a marker left (it then runs the whole re-freeze again), so no further
article is indexed before it. The result equals `update_related`'s in-call rebuild at the
same point.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Connection

from feedhub.related.update import Settings, frequencies, recompute_boxes, reindex
from feedhub.store import related as db
from feedhub.store.meta import delete_meta, get_meta, set_meta
from feedhub.store.pace import Pacer

KEY = "related.refreeze"

Begin = Callable[[], AbstractContextManager[Connection]]


def mark(conn: Connection, joining: Sequence[int] = ()) -> None:
    """Record that the articles indexed now, and ``joining`` (not indexed yet: the
    re-freeze indexes them), are to be re-frozen."""
    set_meta(conn, KEY, json.dumps(sorted({*db.indexed_ids(conn), *joining})))


def refreeze(read: Begin, write: Begin, s: Settings, budget: float, pause: float = 0.0) -> int:
    """Run a marked re-freeze to its end; returns how many articles it re-weighted."""
    with read() as conn:
        raw = get_meta(conn, KEY)
        if raw is None:
            return 0
        ids: Sequence[int] = json.loads(raw)
        df = frequencies(conn, ids)
    with write() as conn:
        db.replace_frequencies(conn, df, len(ids))
    # A pacer per pass: a box costs ~100× a re-weighting, so sizes learnt on one misfit the other.
    Pacer(budget, pause).run(ids, write, lambda conn, part: reindex(conn, part, df, len(ids), s))
    Pacer(budget, pause).run(ids, write, lambda conn, part: recompute_boxes(conn, part, s))
    with write() as conn:
        delete_meta(conn, KEY)
    return len(ids)
