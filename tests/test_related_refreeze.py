"""The re-freeze in short transactions (publish) gives the boxes of the in-call rebuild.

40 articles cross the REFREEZE_AT sizes 16 and 32. `update_related` over all ids rebuilds
inside its own transaction; `update_pending_related` runs the same re-freeze as a marker and
paced transactions. Both, and a re-freeze interrupted half-way then resumed, must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select

from feedhub.related import rebuild_related, update_related
from feedhub.related.refreeze import KEY, refreeze
from feedhub.related.run import update_pending_related
from feedhub.related.update import Settings, index_until_refreeze, reindex
from feedhub.store import Store
from feedhub.store.meta import get_meta, set_meta
from feedhub.store.related import documents, indexed_ids, related_links, related_terms
from feedhub.store.schema import pending_related
from tests.test_related_support import add_article

WORDS = [
    *("niger", "mali", "junta", "troops", "drone", "base", "sahel", "election", "court"),
    *("bank", "rates", "football", "final", "storm", "flood", "kenya", "tablet", "chip"),
    *("market", "oil", "gas", "strike", "union", "port", "harbour"),
]
Links = list[tuple[int, int, int, float]]
Terms = list[tuple[str, int, float]]


def store_with_articles(path: Path, n: int = 40) -> tuple[Store, list[int]]:
    store = Store.open(f"sqlite:///{path}")
    with store.write() as conn:
        ids = []
        for i in range(n):
            words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(6)]
            title = " ".join(words[:4]).capitalize()
            ids.append(add_article(conn, title, " ".join(words * 3), f"2024-05-{1 + i % 28:02d}"))
    return store, ids


def state(conn: Connection) -> tuple[Links, Terms]:
    links = conn.execute(
        select(
            related_links.c.article_id,
            related_links.c.rank,
            related_links.c.related_id,
            related_links.c.score,
        ).order_by(related_links.c.article_id, related_links.c.rank)
    ).all()
    terms = conn.execute(
        select(related_terms.c.term, related_terms.c.article_id, related_terms.c.weight).order_by(
            related_terms.c.term, related_terms.c.article_id
        )
    ).all()
    return [tuple(r) for r in links], [tuple(r) for r in terms]


def queue(conn: Connection, ids: list[int]) -> None:
    conn.execute(insert(pending_related), [{"article_id": i} for i in ids])


def test_paced_refreeze_equals_the_in_call_rebuild(tmp_path: Path) -> None:
    one, ids = store_with_articles(tmp_path / "one.db")
    with one.write() as conn:
        # A first publish re-freezes all its articles at once (not at 16 and 32, where the
        # articles before the size would depend on the order they were stored in).
        rebuild_related(conn)
        expected = state(conn)
    assert expected[0], "the corpus must produce some boxes"

    paced, ids = store_with_articles(tmp_path / "paced.db")
    with paced.write() as conn:
        queue(conn, ids)
    # A budget of 0 keeps every transaction at one article: the most interleaving.
    assert update_pending_related(paced, Settings(count=3), budget=0.0) == 40
    with paced.read() as conn:
        assert state(conn) == expected
        assert get_meta(conn, KEY) is None and documents(conn) == 40


def test_index_stops_at_the_refreeze_point(tmp_path: Path) -> None:
    store, ids = store_with_articles(tmp_path / "s.db")
    with store.write() as conn:
        step = index_until_refreeze(conn, ids, Settings())
        assert step.refreeze and step.done == ids[:16] and documents(conn) == 16


def test_an_interrupted_refreeze_is_run_again(tmp_path: Path) -> None:
    one, ids = store_with_articles(tmp_path / "one.db", 16)
    with one.write() as conn:
        update_related(conn, ids)
        expected = state(conn)

    store, ids = store_with_articles(tmp_path / "crash.db", 16)
    s = Settings()
    with store.write() as conn:
        step = index_until_refreeze(conn, ids, s)
        assert step.refreeze
        set_meta(conn, KEY, json.dumps(indexed_ids(conn)))
        # Half the re-weighting done with made-up frequencies, then the process "died".
        reindex(conn, ids[:8], {}, 1, s)
        assert state(conn) != expected
    assert refreeze(store.read, store.write, s, budget=0.0) == 16
    with store.read() as conn:
        assert state(conn) == expected
        assert get_meta(conn, KEY) is None
    assert refreeze(store.read, store.write, s, budget=0.0) == 0  # nothing marked any more


def _paced_after(
    tmp_path: Path, first: list[int], monkeypatch
) -> tuple[Store, list[int], list[int]]:
    """A store with the articles at positions ``first`` indexed, the rest (and any of ``first``
    again, as changed) queued; returns it, its ids and the ids indexed later, by the
    re-freeze's loop (one by one, or a run of new ones as a batch: `related.batch`)."""
    import feedhub.related.batch as batch

    store, ids = store_with_articles(tmp_path / "paced.db", 80)
    with store.write() as conn:
        update_related(conn, [ids[i] for i in first])
        queue(conn, sorted({*ids[20:], *(ids[i] for i in first if i >= 20)}))
    one_by_one: list[int] = []
    real, real_batch = batch.index_one, batch.index_new
    monkeypatch.setattr(
        batch, "index_one",
        lambda c, doc, s, **kw: one_by_one.append(doc.id) or real(c, doc, s, **kw),
    )
    monkeypatch.setattr(
        batch, "index_new",
        lambda c, docs, s, known=None: one_by_one.extend(d.id for d in docs)
        or real_batch(c, docs, s, known),
    )
    return store, ids, one_by_one


def _in_call(tmp_path: Path, first: list[int]) -> tuple[Links, Terms]:
    store, ids = store_with_articles(tmp_path / "one.db", 80)
    with store.write() as conn:
        update_related(conn, [ids[i] for i in first])
        update_related(conn, sorted({*ids[20:], *(ids[i] for i in first if i >= 20)}))
        return state(conn)


def test_new_articles_a_refreeze_re_weights_anyway_go_straight_to_it(tmp_path, monkeypatch) -> None:
    expected = _in_call(tmp_path, list(range(20)))
    store, ids, one_by_one = _paced_after(tmp_path, list(range(20)), monkeypatch)
    assert update_pending_related(store, Settings(count=3)) == 60
    # 20 indexed + 60 new cross the sizes 32 and 64: the 44 new ones up to 64 join that
    # re-freeze directly; only the 16 after it are indexed one by one.
    assert one_by_one == ids[64:]
    with store.read() as conn:
        assert state(conn) == expected and documents(conn) == 80


def test_a_changed_article_in_the_queue_ends_the_shortcut_there(tmp_path, monkeypatch) -> None:
    first = [*range(20), 50]  # article 50 indexed early, then queued again as changed
    expected = _in_call(tmp_path, first)
    store, ids, one_by_one = _paced_after(tmp_path, first, monkeypatch)
    update_pending_related(store, Settings(count=3))
    # 21 indexed; the new run before article 50 is 30 long: 11 of them reach 32 and join
    # that re-freeze; the rest, article 50 included, are indexed in order as before.
    assert one_by_one == ids[31:]
    with store.read() as conn:
        assert state(conn) == expected


def uninterrupted_and_queued(tmp_path: Path) -> tuple[tuple[Links, Terms], Store, list[int]]:
    """What an uninterrupted run leaves (`state`), and a second store of the same articles,
    queued, for a run to be killed."""
    one, ids = store_with_articles(tmp_path / "one.db")
    with one.write() as conn:
        queue(conn, ids)
    update_pending_related(one, Settings(count=3), budget=0.0)
    with one.read() as conn:
        expected = state(conn)
    store, ids = store_with_articles(tmp_path / "crash.db")
    with store.write() as conn:
        queue(conn, ids)
    return expected, store, ids


class Killed(Exception):
    """Stands for a SIGKILL right after a committed batch (the subprocess test does it for
    real: tests/test_publish_resume.py)."""


def test_a_killed_refreeze_resumes_after_its_last_committed_batch(tmp_path, monkeypatch) -> None:
    import feedhub.related.refreeze as rf
    from feedhub.related.progress import Step

    expected, store, ids = uninterrupted_and_queued(tmp_path)
    steps: list[Step] = []

    def die_after_three_box_batches(step: Step) -> None:
        steps.append(step)
        if sum(s.name == rf.BOXES for s in steps) == 3:
            raise Killed

    # budget 0: the batches halve from 8 to one article (8, 4, 2, 1, 1…).
    with pytest.raises(Killed):
        update_pending_related(
            store, Settings(count=3), budget=0.0, progress=die_after_three_box_batches
        )
    assert [s.done for s in steps if s.name == rf.WEIGHTS][-1] == 40
    killed_at = steps[-1].done
    assert steps[-1] == Step(rf.BOXES, 14, 40)
    with store.read() as conn:
        assert json.loads(get_meta(conn, rf.DONE) or "") == ["boxes", killed_at]

    # Count the work the second run does: no re-weighting, boxes from the 11th on.
    weighed: list[int] = []
    boxed: list[int] = []
    real_reindex, real_boxes = rf.reindex, rf.recompute_boxes
    monkeypatch.setattr(rf, "reindex", lambda c, part, *a: weighed.extend(part)
                        or real_reindex(c, part, *a))
    monkeypatch.setattr(rf, "recompute_boxes", lambda c, part, *a: boxed.extend(part)
                        or real_boxes(c, part, *a))
    steps.clear()
    update_pending_related(store, Settings(count=3), budget=0.0, progress=steps.append)
    assert weighed == [] and boxed == ids[killed_at:]
    assert steps[0] == Step(rf.BOXES, killed_at + 8, 40)
    with store.read() as conn:
        assert state(conn) == expected
        assert get_meta(conn, KEY) is None and get_meta(conn, rf.DONE) is None


def test_a_refreeze_killed_while_re_weighting_keeps_its_frequencies(tmp_path, monkeypatch) -> None:
    import feedhub.related.refreeze as rf
    from feedhub.related.progress import Step

    expected, store, ids = uninterrupted_and_queued(tmp_path)

    def die_after_two_batches(step: Step) -> None:
        if step.done == 12:  # batches of 8 and 4 articles re-weighted
            raise Killed

    with pytest.raises(Killed):
        update_pending_related(
            store, Settings(count=3), budget=0.0, progress=die_after_two_batches
        )
    with store.read() as conn:
        assert json.loads(get_meta(conn, rf.DONE) or "") == ["weights", 12]
    # The frequencies are read back as stored, not counted again over the texts.
    monkeypatch.setattr(rf, "frequencies", lambda *a: pytest.fail("frequencies recounted"))
    weighed: list[int] = []
    real_reindex = rf.reindex
    monkeypatch.setattr(rf, "reindex", lambda c, part, *a: weighed.extend(part)
                        or real_reindex(c, part, *a))
    update_pending_related(store, Settings(count=3), budget=0.0)
    assert weighed == ids[12:]
    with store.read() as conn:
        assert state(conn) == expected
