"""Issue 17: ingest's cheaper per-article work stores exactly what the plain code stores.

The parse workers embed a feed's articles at once and compute its dedupe features in
batches, and the writer sends bulk inserts to SQLite's driver itself. Stored vectors,
dedupe keys and rows are compared across runs and versions, so each must be the same
bytes. Real feeds (``.cache/real-feeds``) and the benchmark's generated corpora in every
format are ingested with a fixed clock; the store is compared

* with the store the same ingest writes through SQLAlchemy (``batch.DRIVER_INSERTS``
  off): every row of every table;
* with straightforward references kept here: each article's dedupe features from the
  frozen pre-speed-up code (tests/support/dedupe_reference.py), its text vector computed
  word by word from the model's own tokenizer and table, one text at a time, and its
  topics from one regular expression per rule over the whole text, decomposed whole.
"""

from __future__ import annotations

import asyncio
import re
import sys
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, select, text

from feedhub.config import load_config
from feedhub.ingest.run import Ingester
from feedhub.related import semantic
from feedhub.store import Store, batch
from feedhub.store.dedupe import dedupe_features, dedupe_keys
from feedhub.store.generation import GENERATION
from feedhub.store.schema import article_topics, articles, metadata
from feedhub.store.vectors import related_vectors
from feedhub.util.text import html_to_text
from tests.conftest import REPO
from tests.support import dedupe_reference as ref

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
REAL_FEEDS = REPO / ".cache" / "real-feeds"
GENERATED = 4  # feeds per format, of 25 items
RULES = [  # topic: keywords, categories, exclude
    ("africa", ["Niger", "Sahel", "Burkina Faso", "Lagos"], [], []),
    ("money", ["inflation", "oil"], ["Economy"], []),
    ("python", ["python", "release"], [], ["snake"]),
    ("world", ["the"], [], ["python"]),
]


def corpus(tmp_path: Path) -> list[Path]:
    """The real feeds, and a few generated feeds of each benchmark format, as files."""
    files = sorted(
        p for p in REAL_FEEDS.rglob("*") if p.is_file() and p.suffix in (".xml", ".rss", ".atom")
    )
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import common  # benchmarks/common.py
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    out = tmp_path / "generated"
    out.mkdir()
    for fmt in ("rss", "rss-teaser", "rss-full", "atom-full", "rdf", "json"):
        gen = common.generate_feeds(GENERATED, 25, fmt=fmt)
        for name, body in gen.bodies.items():
            path = out / f"{fmt}-{gen.files[name]}"
            path.write_bytes(body)
            files.append(path)
    return files


def ingest_into(folder: Path, files: list[Path]) -> Engine:
    """Every file as a source, ingested once at T0 (parse and prepare inline, no pool)."""
    folder.mkdir()
    topics = [
        f"  - {{name: {name}, title: {name}, keywords: [{', '.join(keywords)}], "
        f"categories: [{', '.join(categories)}], exclude: [{', '.join(exclude)}]}}"
        for name, keywords, categories, exclude in RULES
    ]
    # One source at a time: article ids follow the source order in both runs.
    lines = ["store: data/feedhub.db", "schedule: {interval: 1h, jitter: 0%}",
             "fetch: {concurrency: 1}", "sources:"]
    lines += [f"  - {{name: s{i}, url: '{p}'}}" for i, p in enumerate(files)]
    (folder / "feedhub.yaml").write_text("\n".join([*lines, "topics:", *topics]) + "\n")
    config = load_config(folder / "feedhub.yaml")
    store = Store.open(config.store_url)
    try:
        reports = asyncio.run(Ingester(config, store, clock=lambda: T0).run())
    finally:
        store.close()
    assert sum(r.new for r in reports) > 500
    return create_engine(config.store_url)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; not the store's generation, which counts write
    transactions: how many sources share one group commit depends on timing."""
    with engine.connect() as conn:
        return {
            t.name: sorted(
                (tuple(r) for r in conn.execute(text(f'SELECT * FROM "{t.name}"'))
                 if not (t.name == "meta" and r[0] == GENERATION)),
                key=repr,
            )
            for t in metadata.sorted_tables
        }


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Engine]:
    if not REAL_FEEDS.is_dir():
        pytest.skip(f"real-world feed corpus not downloaded: run `make corpus` ({REAL_FEEDS})")
    tmp = tmp_path_factory.mktemp("equivalence")
    files = corpus(tmp)
    fast = ingest_into(tmp / "fast", files)
    mp = pytest.MonkeyPatch()
    mp.setattr(batch, "DRIVER_INSERTS", False)
    try:
        plain = ingest_into(tmp / "plain", files)
    finally:
        mp.undo()
    return fast, plain


def test_driver_inserts_store_what_sqlalchemy_stores(stores: tuple[Engine, Engine]) -> None:
    fast, plain = stores
    a, b = dump(fast), dump(plain)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
    assert len(a["articles"]) > 500 and len(a["dedupe_keys"]) > 5000


def test_dedupe_features_are_the_reference_features(stores: tuple[Engine, Engine]) -> None:
    fast, _ = stores
    c = articles.c
    with fast.connect() as conn:
        rows = conn.execute(
            select(c.id, c.source_id, c.published, c.title, c.content, c.summary, c.url,
                   c.canonical_url)
        ).all()
        stored = {r.article_id: r for r in conn.execute(select(dedupe_features))}
        keys = set(map(tuple, conn.execute(select(dedupe_keys.c.key, dedupe_keys.c.article_id))))
    assert len(stored) == len(rows) > 500
    expected_keys = set()
    for r in rows:
        f = ref.extract(
            r.id, r.source_id, r.published, r.title, r.content or r.summary,
            r.canonical_url or r.url, canonical=r.canonical_url is not None,
        )
        s = stored[r.id]
        assert (s.url_key, s.fingerprint) == (f.url_key, f.fingerprint), r.id
        assert s.shingles == f.shingles.astype("<u4").tobytes(), r.id
        assert s.keys == np.asarray(f.keys, dtype="<i8").tobytes(), r.id
        expected_keys |= {(k, r.id) for k in f.keys}
    assert keys == expected_keys


def reference_vector(model: Any, title: str, summary: str, content: str) -> tuple[int, bytes]:
    """An article's stored (token count, blob), computed alone and word by word: each word's
    token rows summed (the tokenizer's ids of the word alone), weighted by its count."""
    body = html_to_text(content) or html_to_text(summary)
    counts = Counter(semantic.article_text(title, body).split())
    table = model.embedding
    sums, tokens = [], []
    for w in counts:
        ids = np.clip(np.asarray(model.tokenizer.encode(w, add_special_tokens=False).ids,
                                 dtype=np.intp), 0, table.shape[0] - 1)
        sums.append(table[ids].sum(axis=0, dtype=np.float32) if len(ids)
                    else np.zeros(table.shape[1], dtype=np.float32))
        tokens.append(len(ids))
    if not counts:
        return 0, b""
    weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    n = int(weights @ np.asarray(tokens, dtype=np.float32))
    total = semantic.dots(np.asarray(sums).T, weights).astype(np.float64)
    norm = float(np.linalg.norm(total))
    if n == 0 or norm == 0.0:
        return 0, b""
    return n, semantic.to_blob((total / norm).astype(np.float32))


@pytest.mark.skipif(not semantic.available(), reason="wordllama not installed")
def test_text_vectors_are_each_article_alone(stores: tuple[Engine, Engine]) -> None:
    fast, _ = stores
    model = semantic._load()
    c = articles.c
    with fast.connect() as conn:
        rows = conn.execute(select(c.id, c.title, c.summary, c.content)).all()
        stored = {r.article_id: r for r in conn.execute(select(related_vectors))}
    assert len(stored) == len(rows) > 500
    for r in rows:
        v = stored[r.id]
        assert (v.model, v.dim) == (semantic.MODEL_ID, semantic.DIMENSION)
        assert (v.words, v.vec) == reference_vector(model, r.title, r.summary, r.content), r.id


def _folded(text: str) -> str:
    """The text matched against: NFKD of the whole text, combining marks dropped, casefolded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _phrases(phrases: list[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, words apart by any non-word run (the matcher's definition)."""
    alternatives = [
        r"\W+".join(map(re.escape, words))
        for words in ([w for w in re.split(r"\W+", _folded(p)) if w] for p in phrases)
        if words
    ]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)") if alternatives else None


def test_topics_are_the_reference_topics(stores: tuple[Engine, Engine]) -> None:
    fast, _ = stores
    c = articles.c
    with fast.connect() as conn:
        rows = conn.execute(select(c.id, c.title, c.summary, c.content, c.categories)).all()
        filed = set(map(tuple, conn.execute(select(article_topics))))
    expected = set()
    for r in rows:
        text = "\n".join((r.title, html_to_text(r.summary), html_to_text(r.content),
                          "\n".join(r.categories)))
        folded = _folded(text)
        categories = {_folded(x).strip() for x in r.categories}
        for name, keywords, cats, exclude in RULES:
            kw, ex = _phrases(keywords), _phrases(exclude)
            hit = (kw is not None and kw.search(folded) is not None) or bool(
                {_folded(x) for x in cats} & categories
            )
            if hit and (ex is None or ex.search(folded) is None):
                expected.add((r.id, name))
    assert filed == expected
    assert {t for _, t in filed} == {name for name, *_ in RULES}
