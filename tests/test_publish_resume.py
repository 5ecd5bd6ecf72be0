"""A first publish SIGKILLed half-way resumes after its last committed batch (issue 17).

A first publish takes all its articles (up to 4,096) into one re-freeze of the related
index: a pass that re-weights every article, then one that builds every Related News box,
in paced transactions. Here `feedhub publish` runs as the service runs it (a publish child:
a progress line on stderr per batch), is SIGKILLed right after its first committed batch of
boxes, and is run again. The second run must neither re-weight anything nor rebuild the
boxes committed before the kill (counted from its progress lines, which report every
article of a pass it handles), and must leave the same store and the same feeds as a
publish of a copy of the store that nobody killed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedhub.process import PARENT_ENV, PROGRESS_PREFIX
from feedhub.related.refreeze import BOXES, DONE, KEY, WEIGHTS
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

WIRES = 4
ITEMS = 25  # 100 articles: the boxes pass takes many batches of ~0.2 s
_VOCABULARY = (
    "niger mali burkina sahel army convoy mayor election market drought river harvest school "
    "clinic bridge minister border patrol council rally court budget strike port airline fuel "
    "price cattle herders rain flood vaccine teachers union road mine gold solar grid radio "
    "journalist ceasefire talks refugees camp aid embassy summit"
)
WORDS = _VOCABULARY.split()
CONFIG = """\
site: {{title: Resume desk, base_url: "http://127.0.0.1:8080/", author: Resume desk}}
store: data/feedhub.db
output: {{dir: out}}
sources:
{sources}
topics:
  - {{name: sahel, title: Sahel, keywords: [niger, mali, burkina, sahel]}}
  - {{name: economy, title: Economy, keywords: [market, budget, price, gold, fuel]}}
"""
TABLES = {  # what the related stage and stories leave, in a stable order
    "related_links": "article_id, rank",
    "related_terms": "term, article_id",
    "related_docs": "article_id",
    "related_df": "term",
    "story_articles": "article_id",
    "stories": "id",
}


def write_site(root: Path, wires: int = WIRES, per_wire: int = ITEMS) -> Path:
    """Feed files of made-up news in ``root/feeds`` (``wires`` feeds of ``per_wire``
    articles) and a config that reads them."""
    (root / "feeds").mkdir(parents=True)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for w in range(wires):
        items = []
        for i in range(per_wire):
            n = w * per_wire + i
            words = [WORDS[(n * 7 + k * (3 + n % 5)) % len(WORDS)] for k in range(60)]
            date = format_datetime(base + timedelta(hours=n))
            items.append(
                f"<item><title>{' '.join(words[:8]).capitalize()}</title>"
                f"<link>https://w{w}.example/{n}</link><guid>w{w}-{n}</guid>"
                f"<pubDate>{date}</pubDate><description>{' '.join(words)}.</description></item>"
            )
        (root / "feeds" / f"w{w}.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>w{w}</title>'
            f"<link>https://w{w}.example/</link>{''.join(items)}</channel></rss>"
        )
    sources = "\n".join(f"  - {{name: w{w}, url: feeds/w{w}.xml}}" for w in range(wires))
    cfg = root / "feedhub.yaml"
    cfg.write_text(CONFIG.format(sources=sources))
    return cfg


def copy_site(cfg: Path, to: Path) -> Path:
    """The same config and store (a consistent SQLite copy: same article ids) in ``to``."""
    (to / "data").mkdir(parents=True)
    (to / "feedhub.yaml").write_text(cfg.read_text())
    with sqlite3.connect(cfg.parent / "data" / "feedhub.db") as src, \
            sqlite3.connect(to / "data" / "feedhub.db") as dst:
        src.backup(dst)
    return to / "feedhub.yaml"


def publish_child(cfg: Path) -> subprocess.Popen[str]:
    """`feedhub publish` as the service starts it: progress lines on stderr."""
    env = {**os.environ, PARENT_ENV: str(os.getpid()), "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "feedhub", "-c", str(cfg), "-q", "publish", "--background"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def progress(lines: list[str]) -> list[tuple[str, int, int]]:
    """(pass, done, total) of each progress line."""
    out = []
    for line in lines:
        if line.startswith(PROGRESS_PREFIX):
            name, count = line[len(PROGRESS_PREFIX):].rstrip("\n").rsplit(" ", 1)
            done, total = count.split("/")
            out.append((name, int(done), int(total)))
    return out


def meta(cfg: Path, key: str) -> str | None:
    with sqlite3.connect(cfg.parent / "data" / "feedhub.db") as db:
        row = db.execute("select value from meta where key = ?", (key,)).fetchone()
    return row[0] if row else None


def rows(cfg: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(cfg.parent / "data" / "feedhub.db") as db:
        return {t: db.execute(f"select * from {t} order by {o}").fetchall()
                for t, o in TABLES.items()}


def feeds(cfg: Path) -> dict[str, bytes]:
    out = cfg.parent / "out"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.atom"))}


def test_a_killed_first_publish_resumes_without_redoing_its_batches(tmp_path: Path) -> None:
    cfg = write_site(tmp_path / "killed")
    r = run_cli("-c", str(cfg), "-q", "fetch", timeout=900)
    assert r.returncode == 0, r.stderr
    clean = copy_site(cfg, tmp_path / "clean")
    r = run_cli("-c", str(clean), "-q", "publish", timeout=900)
    assert r.returncode == 0, r.stderr

    child = publish_child(cfg)
    assert child.stderr is not None
    seen = []
    for line in child.stderr:  # blocks until the child reports a committed batch
        seen.append(line)
        if line.startswith(f"{PROGRESS_PREFIX}{BOXES} "):
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, "".join(seen)
    stage, killed_at = json.loads(meta(cfg, DONE) or "null")
    total = len(json.loads(meta(cfg, KEY) or "[]"))
    assert stage == "boxes" and 0 < killed_at < total == WIRES * ITEMS, "".join(seen)
    first = progress(seen)
    assert first[0][0] == WEIGHTS and first[-1][0] == BOXES

    again = publish_child(cfg)
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    steps = progress(err.splitlines())
    # Nothing re-weighted; the boxes pass went on from the kill: its first batch ended past
    # it (a pass restarted from zero reports its first batch of 8 at 8, below it).
    assert [s for s in steps if s[0] == WEIGHTS] == []
    boxes = [s for s in steps if s[0] == BOXES]
    assert boxes[0][1] > killed_at and boxes[-1][1:] == (total, total), steps
    assert meta(cfg, DONE) is None and meta(cfg, KEY) is None

    assert rows(cfg) == rows(clean)
    published = feeds(cfg)
    assert {"sahel.atom", "economy.atom"} <= published.keys()
    assert published == feeds(clean)


def test_the_service_logs_the_related_batches_of_a_publish(tmp_path: Path, caplog) -> None:
    from feedhub.config import load_config
    from feedhub.service.publisher import publish_in_child
    from feedhub.store import Store

    cfg = write_site(tmp_path)
    assert run_cli("-c", str(cfg), "-q", "fetch", timeout=900).returncode == 0
    config = load_config(cfg)
    store = Store.open(config.store_url)
    try:
        with caplog.at_level(logging.INFO, logger="feedhub.service"):
            report = publish_in_child(config, store)
    finally:
        store.close()
    assert report.topics == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "feedhub.service"]
    total = WIRES * ITEMS
    # The first and last batch of each pass at least (others at most every few seconds).
    assert any(m.startswith(f"publishing: related {WEIGHTS} ") for m in lines), lines
    assert f"publishing: related {WEIGHTS} {total}/{total}" in lines
    assert f"publishing: related {BOXES} {total}/{total}" in lines
