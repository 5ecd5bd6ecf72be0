"""Public corpora of feeds through `feedhub fetch --publish`: no crash, nothing unsafe
stored or published, every published document valid.

- feedparser's own test corpus (2,248 files, BSD-2): edge cases of every format.
- Real-world feeds that rss2email 3.12.2 and feed2exec 0.18.0 keep as test data (BBC
  Chinese, Gmane, Disqus, the Node.js blog, Planet Debian, GitHub releases, UDD …).

Each file is one local source, filed under one topic that publishes every story in its
subscription document (``entries_per_feed`` above the corpus size, so none waits for an
archive month to close). Every published file is then checked: well-formed, Atom valid by
../shared/atom, safe by tests/support/safety.py (the checker the property tests use).
`make test` downloads the corpora from their sdists on PyPI into .cache/ (see the
Makefile's `corpus` target); each test skips, naming the command, when its corpus is missing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import create_engine, func, select

from feedhub.publish.style import CSS as _CSS
from tests.conftest import REPO
from tests.support.safety import ATOM_NS, assert_safe, check_site
from tests.test_publish_helpers import validate_atom

CORPUS = REPO / ".cache" / "feedparser-corpus" / "tests"
REAL_FEEDS = REPO / ".cache" / "real-feeds"
REAL_SUFFIXES = (".xml", ".rss", ".atom")  # the rest there is expected output and configs
UNSAFE = re.compile(r"<script|<iframe|<object|<embed|<form|\son\w+\s*=|javascript:|<!--", re.I)
# Errors that mean a stage crashed (caught per source by ingest), not "this is no feed".
CRASHED = re.compile(r"^\S+: (?:parser failure|store error): ", re.M)

CONFIG_HEAD = """\
site: {title: Corpus desk, base_url: "http://127.0.0.1:8080/", author: Corpus desk}
store: data/corpus.db
output: {dir: out, entries_per_feed: 10000}
topics:
  - {name: corpus, title: Everything in the corpus, keywords: [zzzz-no-match]}
sources:
"""


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "runtests.py")


def real_feed_files() -> list[Path]:
    return sorted(p for p in REAL_FEEDS.rglob("*") if p.is_file() and p.suffix in REAL_SUFFIXES)


def fetch_publish_corpus(
    tmp_path: Path, cli, files: list[Path], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Every file as a source under the one topic, through `feedhub -q fetch --publish`."""
    lines = [f"  - {{name: c{i}, url: '{p}', topics: [corpus]}}" for i, p in enumerate(files)]
    cfg = tmp_path / "corpus.yaml"
    cfg.write_text(CONFIG_HEAD + "\n".join(lines) + "\n")
    r = cli("-c", str(cfg), "-q", "fetch", "--publish", timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert not CRASHED.findall(r.stderr), CRASHED.findall(r.stderr)[:10]
    return r


def check_published(tmp_path: Path) -> int:
    """Check every published file; return how many entries the topic feed has."""
    out = tmp_path / "out"
    report = check_site(out, allowed_css={_CSS})
    assert_safe(report)
    names = sorted(str(p.relative_to(out)) for p in report.atom)
    # The topic feed, its top stories, and the feeds of stories of two or more articles.
    assert names[:1] == ["corpus.atom"] and "top/corpus.atom" in names, names
    assert all(n.startswith("stories/") for n in names if "corpus" not in n), names
    assert report.html and report.opml
    validate_atom(*report.atom)
    root = etree.parse(str(out / "corpus.atom")).getroot()
    return len(root.findall(f"{{{ATOM_NS}}}entry"))


def stories(tmp_path: Path) -> tuple[int, int]:
    """(articles, stories) in the store: copies of one story publish as one entry."""
    from feedhub.store.schema import articles

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'corpus.db'}")
    with engine.connect() as conn:
        story = func.coalesce(articles.c.cluster_id, articles.c.id)
        row = conn.execute(select(func.count(), func.count(story.distinct()))).one()
    engine.dispose()
    return row[0], row[1]


@pytest.mark.slow
def test_feedparser_corpus_through_fetch_and_publish(tmp_path: Path, cli) -> None:
    files = corpus_files()
    if not files:
        pytest.skip(f"feedparser corpus not downloaded: run `make corpus` (looked in {CORPUS})")
    assert len(files) == 2248
    r = fetch_publish_corpus(tmp_path, cli, files, timeout=900)

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

    stored, story_count = stories(tmp_path)
    assert stored > 1000
    assert check_published(tmp_path) == story_count  # every story published, and checked


@pytest.mark.slow
def test_real_world_feeds_through_fetch_and_publish(tmp_path: Path, cli) -> None:
    files = real_feed_files()
    if not files:
        pytest.skip(
            f"real-world feed corpus not downloaded: run `make corpus` (looked in {REAL_FEEDS})"
        )
    assert len(files) >= 14, files
    r = fetch_publish_corpus(tmp_path, cli, files, timeout=300)
    assert r.stderr == "", r.stderr  # real feeds: every one parses
    stored, story_count = stories(tmp_path)
    assert stored >= 50  # 55 articles in the 14 feeds
    assert check_published(tmp_path) == story_count
