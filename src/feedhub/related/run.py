"""The related stage's runner: the articles ingest queued → indexed, with their boxes.

Runs in short transactions beside a busy service, re-freezing the term index when it
reaches a REFREEZE_AT size (``refreeze.py``). The CLI's publish (and through it the
service's publish child) runs it under the output folder's lock, before rendering.
"""

from __future__ import annotations

import time
from functools import partial
from itertools import takewhile

from sqlalchemy import Connection

from feedhub.related.batch import IndexRows, index_until_refreeze, recompute_boxes
from feedhub.related.progress import Progress, Step
from feedhub.related.refreeze import mark, refreeze
from feedhub.related.update import (
    REFREEZE_AT,
    Settings,
    refreeze_ahead,
    reweigh_leads,
)
from feedhub.related.vectors import backfill as backfill_vectors
from feedhub.related.window import window_index
from feedhub.store import Store
from feedhub.store.batch import chunks
from feedhub.store.pace import Pacer
from feedhub.store.queue import dequeue, existing, queue_size, queue_top, queued
from feedhub.store.related import documents, indexed_ids

RELATED_TXN_BUDGET = 0.2  # seconds one related-update transaction may hold the write lock
RELATED_MAX_BATCH = 500


def update_pending_related(
    store: Store,
    settings: Settings,
    *,
    budget: float = RELATED_TXN_BUDGET,
    pause: float = 0.0,
    progress: Progress | None = None,
) -> int:
    """Bring related lists up to date for the articles ingest queued, in short transactions.

    The batch size adapts so one write transaction lasts about ``budget`` seconds: the
    service's fetches commit between batches. (A soak run with ~10k queued articles held
    the write lock for minutes in one transaction, then for ~6 s per 200-article batch,
    and every fetch waited behind it.)

    Only the articles queued when it starts are its share (ids up to the queue's highest):
    beside a busy service the queue never empties, and a publish that chased it never
    got to writing a single feed. Later ones wait for the next publish.

    Every batch commits its articles' removal from the queue (and a re-freeze records how
    far it got), so a run killed at any point resumes after its last committed batch.
    ``progress`` is told after each one.
    """
    # The run's text vectors in memory: each box's ±window is a mask and a matmul then.
    with window_index():
        return _update_pending(store, settings, budget, pause, progress)


def _update_pending(
    store: Store, s: Settings, budget: float, pause: float, progress: Progress | None
) -> int:
    pacer = Pacer(budget, pause, max_batch=RELATED_MAX_BATCH)
    with store.read() as conn:
        upto = queue_top(conn)
    refreeze(store.read, store.write, s, budget, pause, progress)  # one a dead publish left
    # Text vectors for articles stored before them (or by another model), then their boxes.
    backfill_vectors(store.read, store.write, partial(recompute_boxes, s=s), budget, pause,
                     reweigh=partial(reweigh_leads, s=s))
    with store.write() as conn:
        done = _skip_to_refreeze(conn, upto)
    if done:
        refreeze(store.read, store.write, s, budget, pause, progress)
    with store.read() as conn:
        total = done + queue_size(conn, upto)
    known = IndexRows()  # the index's rows across batches, read again after a re-freeze
    while True:
        started = time.perf_counter()
        with store.write() as conn:
            ids = queued(conn, upto, pacer.batch)
            if not ids:
                return done
            # New articles in batches (issue 17: `batch`), the same boxes as one by one.
            step = index_until_refreeze(conn, ids, s, known)
            if step.refreeze:
                mark(conn)  # committed with the articles that reached the size
            dequeue(conn, step.done)
            done += len(step.done)
        if progress is not None:
            progress(Step("indexing", done, total))
        pacer.record(time.perf_counter() - started)
        if step.refreeze:  # before any further article is indexed, in its own transactions
            refreeze(store.read, store.write, s, budget, pause, progress)
            known.drop()


def _skip_to_refreeze(conn: Connection, upto: int) -> int:
    """Queue the new articles that a coming re-freeze re-weights anyway straight into it
    (`refreeze_ahead`): marks the re-freeze, takes them off the queue, returns how many.

    Only a run of new, existing articles at the head of the queue qualifies: a changed or
    deleted one is indexed in order by the loop, as before.
    """
    indexed = documents(conn)
    room = max(REFREEZE_AT) - indexed
    if room <= 0:
        return 0
    head = queued(conn, upto, room)
    known = set(indexed_ids(conn))
    present = existing(conn, head)
    run = list(takewhile(lambda i: i in present and i not in known, head))
    joining = run[: refreeze_ahead(indexed, len(run))]
    if joining:
        mark(conn, joining)
        for chunk in chunks(joining, 500):
            dequeue(conn, chunk)
    return len(joining)
