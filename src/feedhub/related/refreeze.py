"""Re-freezing the term index in short transactions instead of one long one.

At each REFREEZE_AT size every indexed vector is re-weighted with the document frequencies
of the moment and every box is recomputed: ~8k re-indexings up to 4,096 articles. Inside
one transaction that held SQLite's write lock for many seconds while a running service's
fetches waited (soak benchmark, p99 lateness 14.5 s). Here the frequencies are counted in a
read transaction and the index is rewritten in paced write transactions.

A marker in ``meta`` lists the articles to re-freeze, set in the transaction that reached
the size. The publisher runs the re-freeze right after that commit, and at its start in case
a publish died with a marker left, so no further article is indexed before it. The result
equals `update_related`'s in-call rebuild at the same point.

Each batch also records how far its pass got (``DONE``, in the batch's transaction), so a
publish killed mid-way resumes after the last committed batch with the frequencies it had
stored (issue 17): a first publish takes up to 4,096 articles into one re-freeze, and
starting it again from scratch after every kill could keep it from ever finishing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Connection

from feedhub.related.batch import recompute_boxes
from feedhub.related.progress import Progress, Step
from feedhub.related.update import Settings, frequencies, reindex
from feedhub.store import related as db
from feedhub.store.meta import delete_meta, get_meta, set_meta
from feedhub.store.pace import Pacer

KEY = "related.refreeze"
DONE = "related.refreeze.done"  # ["weights" | "boxes", articles of that pass committed]
WEIGHTS, BOXES = "re-freeze: weights", "re-freeze: boxes"  # the passes, as progress names them

Begin = Callable[[], AbstractContextManager[Connection]]


def mark(conn: Connection, joining: Sequence[int] = ()) -> None:
    """Record that the articles indexed now, and ``joining`` (not indexed yet: the
    re-freeze indexes them), are to be re-frozen."""
    set_meta(conn, KEY, json.dumps(sorted({*db.indexed_ids(conn), *joining})))
    delete_meta(conn, DONE)


def refreeze(
    read: Begin,
    write: Begin,
    s: Settings,
    budget: float,
    pause: float = 0.0,
    progress: Progress | None = None,
) -> int:
    """Run a marked re-freeze to its end, from where a killed run left it; returns how many
    articles it re-weighted."""
    with read() as conn:
        raw = get_meta(conn, KEY)
        if raw is None:
            return 0
        ids: Sequence[int] = json.loads(raw)
        left = get_meta(conn, DONE)
        # Resuming: the frequencies the committed batches were weighted with, as stored
        # (no re-freeze batch changes them), not a recount over texts that may have changed.
        df = frequencies(conn, ids) if left is None else db.all_frequencies(conn)
    if left is None:
        stage, start = "weights", 0
        with write() as conn:
            db.replace_frequencies(conn, df, len(ids))
            set_meta(conn, DONE, json.dumps([stage, start]))
    else:
        stage, start = json.loads(left)
    # A pacer per pass: a box costs ~100× a re-weighting, so sizes learnt on one misfit the other.
    if stage == "weights":
        _pass(ids, start, write, "weights", WEIGHTS, budget, pause, progress,
              lambda conn, part: reindex(conn, part, df, len(ids), s))
        start = 0
    # The boxes of a batch at once (issue 17: `batch.recompute_boxes`), as one by one.
    _pass(ids, start, write, "boxes", BOXES, budget, pause, progress,
          lambda conn, part: recompute_boxes(conn, part, s))
    with write() as conn:
        delete_meta(conn, KEY)
        delete_meta(conn, DONE)
    return len(ids)


def _pass(
    ids: Sequence[int],
    start: int,
    write: Begin,
    key: str,
    name: str,
    budget: float,
    pause: float,
    progress: Progress | None,
    work: Callable[[Connection, Sequence[int]], object],
) -> None:
    """``work`` on ``ids[start:]`` in paced transactions, each recording how far it got."""
    done = start

    def batch(conn: Connection, part: Sequence[int]) -> None:
        nonlocal done
        work(conn, part)
        set_meta(conn, DONE, json.dumps([key, done + len(part)]))

    def committed(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(Step(name, done, len(ids)))

    Pacer(budget, pause).run(ids[start:], write, batch, on_commit=committed)
