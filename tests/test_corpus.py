"""feedparser's own test corpus (2,248 files) through `feedhub fetch` as local sources.

No crash, each failure recorded on its source, nothing unsafe stored. `make test` downloads
the corpus from feedparser's sdist into .cache/ (see the Makefile's `corpus` target).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from tests.conftest import REPO

CORPUS = REPO / ".cache" / "feedparser-corpus" / "tests"
UNSAFE = re.compile(r"<script|<iframe|<object|<embed|<form|\son\w+\s*=|javascript:|<!--", re.I)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "runtests.py")


@pytest.mark.slow
def test_feedparser_corpus_through_fetch(tmp_path: Path, cli) -> None:
    files = corpus_files()
    if not files:
        pytest.skip(f"feedparser corpus not downloaded: run `make corpus` (looked in {CORPUS})")
    assert len(files) == 2248
    lines = ["store: data/corpus.db", "sources:"]
    lines += [f"  - {{name: c{i}, url: '{p}'}}" for i, p in enumerate(files)]
    cfg = tmp_path / "corpus.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    r = cli("-c", str(cfg), "-q", "fetch", timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'corpus.db'}")
    with engine.connect() as conn:
        from feedhub.store.schema import articles, sources

        rows = conn.execute(
            select(
                sources.c.name, sources.c.last_fetch, sources.c.last_error, sources.c.error_count
            )
        ).all()
        assert len(rows) == len(files)
        assert all(r.last_fetch is not None for r in rows), "a source was never attempted"
        failed = [r for r in rows if r.last_error]
        assert all(r.error_count == 1 for r in failed)
        # every printed failure line names its source and matches the stored error
        printed = {line.split(": ", 1)[0] for line in r.stderr.splitlines() if ": " in line}
        assert {f.name for f in failed} <= printed
        assert len(failed) < len(files) // 4, f"{len(failed)} of {len(files)} failed"
        unsafe = [
            (a.id, m.group(0))
            for a in conn.execute(
                select(articles.c.id, articles.c.title, articles.c.summary, articles.c.content)
            )
            for field in (a.summary, a.content)
            if (m := UNSAFE.search(field))
        ]
        assert not unsafe, unsafe[:10]
    engine.dispose()
