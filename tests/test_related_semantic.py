"""Related News with text vectors: the bundled model offline, the lexical fallback without
the package, stored and reused vectors, the relevance floor and the closeness bonus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select, update

from feedhub.related import related_for, semantic, update_related
from feedhub.related.score import time_bonus
from feedhub.related.text import document_terms, lead_terms
from feedhub.related.update import Settings, recompute_boxes, reweigh_leads
from feedhub.related.vector import term_vector
from feedhub.related.vectors import backfill, embed
from feedhub.store import related as db
from feedhub.store.pages import article_pages
from feedhub.store.related import read_articles, related_docs
from feedhub.store.schema import articles
from feedhub.store.vectors import read_vectors, related_vectors, stale_ids
from tests.test_related_support import DATA, add_article, make_engine, read_story

SRC = Path(__file__).resolve().parents[1] / "src"

# Makes every connection attempt fail: the network is unreachable for the child.
NO_NETWORK = """
import socket
def _refuse(*args, **kwargs):
    raise OSError("network blocked by the test")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
"""
# `sys.modules[name] = None` makes `import name` raise ImportError: the package is missing.
NO_WORDLLAMA = "import sys\nsys.modules['wordllama'] = None\n"


def run_child(tmp_path: Path, site: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose sitecustomize is ``site``."""
    (tmp_path / "sitecustomize.py").write_text(site, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{SRC}",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),  # an empty home: no cached model elsewhere to find
    }
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_model_loads_from_the_package_with_the_network_unreachable(tmp_path: Path) -> None:
    done = run_child(tmp_path, NO_NETWORK, """
        from feedhub.related import semantic
        assert semantic.available()
        vec, words = semantic.embed_article("US troops leave Niger", "The last soldiers left.")
        print(semantic.model_id(), vec.shape[0], words)
    """)
    assert done.returncode == 0, done.stderr
    here = semantic.embed_article("US troops leave Niger", "The last soldiers left.")
    assert here is not None  # the same text, embedded in this process
    assert done.stdout.split() == [semantic.MODEL_ID, "256", str(here[1])]
    assert "Warning" not in done.stderr
    assert not (tmp_path / ".cache").exists()  # nothing was downloaded into the home


def test_without_the_package_scoring_is_lexical_with_one_warning(tmp_path: Path) -> None:
    done = run_child(tmp_path, NO_WORDLLAMA, f"""
        from sqlalchemy import func, select
        from feedhub.related import related_for, update_related
        from feedhub.store.vectors import related_vectors
        from tests.test_related_support import add_article, make_engine
        from pathlib import Path
        engine = make_engine(Path({str(tmp_path)!r}))
        with engine.begin() as conn:
            a = add_article(conn, "Niger junta orders US troops out", "Niger base", "2024-04-12")
            b = add_article(conn, "US troops leave Niger base", "Niger base", "2024-04-20")
            update_related(conn, [a])
            update_related(conn, [b])
            print([i.article_id for i in related_for(conn, a)])
            print(conn.scalar(select(func.count()).select_from(related_vectors)))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[2]", "0"]
    assert done.stderr.count("wordllama package is not installed") == 1


def store_corpus(tmp_path: Path) -> tuple[object, dict[str, int]]:
    engine = make_engine(tmp_path)
    ids = {}
    with engine.begin() as conn:
        for path in sorted(DATA.glob("[bd]*.txt")):
            title, date, body, _ = read_story(path)
            ids[path.stem] = add_article(conn, title, f"<p>{body}</p>", date)
        update_related(conn, list(ids.values()))
    return engine, ids


needs_model = pytest.mark.skipif(not semantic.available(), reason="wordllama not installed")


@needs_model
def test_vectors_are_stored_compactly_and_reused(tmp_path: Path) -> None:
    engine, ids = store_corpus(tmp_path)
    with engine.begin() as conn:
        rows = conn.execute(select(related_vectors)).all()
        assert {r.article_id for r in rows} == set(ids.values())
        assert {(r.model, r.dim, len(r.vec)) for r in rows} == {(semantic.MODEL_ID, 256, 512)}
        # Give the ECB story the stored vector of the iPad story: if boxes use the stored
        # vectors (not recomputed text), the two now look alike to the semantic part.
        ecb, ipad = ids["d10-ecb-rates"], ids["d14-iphone-ipad"]
        v = related_vectors.c
        blob = conn.scalar(select(v.vec).where(v.article_id == ipad))
        conn.execute(update(related_vectors).where(v.article_id == ecb).values(vec=blob))
        assert related_for(conn, ecb) == []
        recompute_boxes(conn, [ecb], Settings())
        assert [i.article_id for i in related_for(conn, ecb)] == [ipad]


@needs_model
def test_floor_leaves_unrelated_articles_without_links(tmp_path: Path) -> None:
    engine, ids = store_corpus(tmp_path)
    with engine.begin() as conn:
        for lonely in ("d10-ecb-rates", "d11-champions-league", "d14-iphone-ipad"):
            assert related_for(conn, ids[lonely]) == [], lonely
        assert related_for(conn, ids["box-1-withdrawal-kicks-off"])  # its thread is linked
        # With the floor off (min_score 0, the ranking protocol) the same box is filled.
        update_related(conn, [ids["d10-ecb-rates"]], Settings(min_score=0.0))
        assert len(related_for(conn, ids["d10-ecb-rates"])) == 3


@needs_model
def test_word_by_word_vectors_are_those_of_the_whole_text() -> None:
    """`embed_text` tokenizes each distinct word once (a per-process cache); the ids must be
    those the tokenizer gives the whole whitespace-collapsed text, counted as often as the
    words occur: the vector is the mean of the same token rows."""
    model = semantic._load()
    texts = [read_story(p)[2] for p in sorted(DATA.glob("[bd]*.txt"))]
    texts += ["Niger  Niger\n\tjunta's \"decision\" — 1,100 troops (U.S.) Niamey Niger", "é"]
    for text in texts:
        collapsed = " ".join(text.split())
        ids = model.tokenizer.encode(collapsed, add_special_tokens=False).ids
        mean = model.embedding[ids].astype(np.float64).mean(axis=0)
        made = semantic.embed_text(text)
        assert made is not None
        vec, words = made
        assert words == len(ids)
        assert float(vec.astype(np.float64) @ (mean / np.linalg.norm(mean))) > 1 - 1e-6
    assert semantic.embed_text(" \n ") is None


def _one_word_at_a_time(model, text: str) -> tuple[bytes, int]:
    """embed_text as it was before issue 17: each new word's rows summed on its own."""
    from collections import Counter

    counts = Counter(text.split())
    sums, tokens = [], []
    for w in counts:
        ids = np.clip(np.asarray(model.tokenizer.encode(w, add_special_tokens=False).ids,
                                 dtype=np.intp), 0, model.embedding.shape[0] - 1)
        sums.append(model.embedding[ids].sum(axis=0, dtype=np.float32) if len(ids)
                    else np.zeros(model.embedding.shape[1], dtype=np.float32))
        tokens.append(len(ids))
    weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    n = int(weights @ np.asarray(tokens, dtype=np.float32))
    total = semantic.dots(np.asarray(sums).T, weights).astype(np.float64)
    return (total / np.linalg.norm(total)).astype(np.float32).tobytes(), n


def test_new_words_added_at_once_give_the_same_vectors_as_one_by_one() -> None:
    """Issue 17: a text's new words are tokenized one by one but summed in one numpy pass;
    the vectors must be the same bytes (stored vectors are compared across processes)."""
    model = semantic._load()
    texts = [read_story(p)[2] for p in sorted(DATA.glob("[bd]*.txt"))]
    texts += ["Niger  Niger\n\tjunta's \"decision\" — 1,100 troops (U.S.) Niamey Niger é",
              "\u200b \u0301 x"]
    semantic._Words._current = None  # every word new for the first text
    for text in texts:
        made = semantic.embed_text(text)
        assert made is not None
        assert (made[0].tobytes(), made[1]) == _one_word_at_a_time(model, text)


def test_a_batch_of_texts_gives_each_text_its_own_vector() -> None:
    """Issue 17: a feed's texts are embedded at once (`embed_texts`: their new words added
    in one pass): each must be the bytes of that text alone, from an empty word cache or
    a warm one, and a text without words None."""
    model = semantic._load()
    texts = [read_story(p)[2] for p in sorted(DATA.glob("[bd]*.txt"))]
    texts += ["Niger  Niger\n\tjunta's \"decision\" — 1,100 troops (U.S.) Niamey Niger é",
              " \n ", "\u200b \u0301 x", ""]
    expected = [_one_word_at_a_time(model, t) if t.split() else None for t in texts]
    for start_empty in (True, False):
        if start_empty:
            semantic._Words._current = None
        made = semantic.embed_texts(texts)
        assert [None if m is None else (m[0].tobytes(), m[1]) for m in made] == expected


def test_time_bonus_prefers_closer_within_a_news_cycle() -> None:
    t = datetime(2024, 4, 12, tzinfo=UTC)
    window = timedelta(days=90)
    bonuses = [time_bonus(t, t + timedelta(hours=h), window) for h in (0, 12, 36, 71)]
    assert bonuses == sorted(bonuses, reverse=True) and len(set(bonuses)) == 4
    # Beyond the news cycle every distance is equal: later coverage is not pushed out.
    assert time_bonus(t, t + timedelta(days=5), window) == 0.0
    assert time_bonus(t, t - timedelta(days=60), window) == 0.0
    later = t + timedelta(hours=12)
    assert time_bonus(t, later, window) == time_bonus(later, t, window)


@needs_model
def test_closer_of_two_equal_stories_ranks_first(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    body = "<p>The last American soldiers left the air base in Niamey, Niger's capital.</p>"
    with engine.begin() as conn:
        me = add_article(conn, "US troops leave Niger", body, "2024-06-10")
        far = add_article(conn, "US troops leave Niger", body, "2024-06-07")
        near = add_article(conn, "US troops leave Niger", body, "2024-06-11")
        update_related(conn, [me, far, near])
        assert [i.article_id for i in related_for(conn, me)] == [near, far]


@needs_model
def test_a_store_without_vectors_gets_them_on_backfill(tmp_path: Path) -> None:
    engine, ids = store_corpus(tmp_path)
    ecb = ids["d10-ecb-rates"]
    with engine.begin() as conn:
        before = {i: [x.article_id for x in related_for(conn, i)] for i in ids.values()}
        # As a store written before vectors existed, or by another model.
        conn.execute(update(related_vectors).values(model="another-model/1"))
        conn.execute(related_vectors.delete().where(related_vectors.c.article_id == ecb))
        assert len(stale_ids(conn, semantic.MODEL_ID)) == len(ids)
    done = backfill(
        engine.connect, engine.begin, lambda c, part: recompute_boxes(c, part, Settings()), 0.05
    )
    assert done == len(ids)
    with engine.begin() as conn:
        assert stale_ids(conn, semantic.MODEL_ID) == []
        models = set(conn.scalars(select(related_vectors.c.model)))
        assert models == {semantic.MODEL_ID}
        after = {i: [x.article_id for x in related_for(conn, i)] for i in ids.values()}
    assert after == before


@needs_model
def test_a_store_indexed_before_leads_had_a_share_is_reweighed_on_backfill(
    tmp_path: Path,
) -> None:
    # Issue 15: an article whose content is its page's text gives title + feed teaser a
    # fixed share of its vectors. A store indexed before (its text vectors name another text
    # rule) gets both vectors anew on the first publish: the term vectors of the articles
    # with a lead are re-weighted with the index's frequencies; the others keep theirs.
    engine, ids = store_corpus(tmp_path)
    box1, d01 = ids["box-1-withdrawal-kicks-off"], ids["d01-nigeria-kidnapping"]
    with engine.begin() as conn:
        conn.execute(update(articles).where(articles.c.id == box1)
                     .values(summary="<p>US troops begin to leave Niger.</p>"))
        row = conn.execute(select(articles.c.source_id, articles.c.url, articles.c.content)
                           .where(articles.c.id == box1)).one()
        conn.execute(article_pages.insert().values(
            article_id=box1, source_id=row.source_id, url=row.url, state="done", attempts=1,
            html=row.content, chars=len(row.content)))
        update_related(conn, [box1])  # the changed article, indexed under today's rule
        (doc,) = read_articles(conn, [box1]).values()
        title_tf, body_tf = document_terms(doc.title, doc.summary, doc.content)
        old = term_vector(title_tf, body_tf, db.frequencies(conn, sorted(title_tf | body_tf)),
                          db.documents(conn))  # as before: no lead
        db.delete_doc(conn, box1)
        db.put_doc(conn, doc, sorted(title_tf | body_tf), old)
        conn.execute(update(related_vectors).values(model="wordllama/words-3000"))
        kept = db.read_vector(conn, d01)
    done = backfill(engine.connect, engine.begin,
                    lambda c, part: recompute_boxes(c, part, Settings()), 0.05,
                    reweigh=lambda c, part: reweigh_leads(c, part, Settings()))
    assert done == len(ids)
    with engine.begin() as conn:
        lead = lead_terms(doc.summary, doc.content)
        assert lead is not None
        want = term_vector(title_tf, body_tf,
                           db.frequencies(conn, sorted(title_tf | body_tf)),
                           db.documents(conn), lead_tf=lead)
        got = db.read_vector(conn, box1)
        assert got.keys() == want.keys() and got != old
        assert all(abs(got[t] - want[t]) < 1e-9 for t in want)
        assert db.read_vector(conn, d01) == kept  # no lead: its frozen vector stays
        stored = read_vectors(conn, [box1], semantic.MODEL_ID)[box1]
        assert doc.page
        made = embed(doc.title, doc.summary, doc.content, doc.page)
        assert made is not None and stored.vec == semantic.to_blob(made[0])
        assert related_for(conn, box1)  # its box was recomputed


@needs_model
def test_fetch_computes_vectors_and_publish_reuses_them(tmp_path: Path) -> None:
    samples = Path(__file__).resolve().parents[1] / "config" / "samples"
    cfg = {
        "site": {"title": "t", "base_url": "http://127.0.0.1:8080/", "author": "a"},
        "store": str(tmp_path / "store.db"),
        "output": {"dir": str(tmp_path / "out")},
        "sources": [{"name": "wire", "url": str(samples / "wire.xml")},
                    {"name": "courier", "url": str(samples / "courier.atom")}],
        "topics": [{"name": "all", "title": "All", "keywords": ["the"]}],
    }
    (tmp_path / "feedhub.json").write_text(json.dumps(cfg), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}

    def feedhub(command: str) -> None:
        config = str(tmp_path / "feedhub.json")
        subprocess.run([sys.executable, "-m", "feedhub", "-q", "-c", config, command],
                       env=env, check=True, timeout=300)

    def stored() -> tuple[dict[int, bytes], int]:
        engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
        with engine.connect() as conn:
            v = related_vectors.c
            vecs = {r.article_id: r.vec for r in conn.execute(select(v.article_id, v.vec))}
            indexed = conn.scalar(select(func.count()).select_from(related_docs))
        engine.dispose()
        return vecs, indexed

    feedhub("fetch")
    after_fetch, indexed = stored()
    assert indexed == 0 and len(after_fetch) > 5  # computed by ingest, before any indexing
    assert all(len(v) == 512 for v in after_fetch.values())
    feedhub("publish")
    after_publish, indexed = stored()
    assert indexed == len(after_fetch)
    assert after_publish == after_fetch  # the same rows: reused, not recomputed differently
