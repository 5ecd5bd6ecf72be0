"""Story feeds on a large store: the first publish writes every one, later ones only those
that changed.

Run: PYTHONPATH=src .venv/bin/python benchmarks/stories_scale.py [--articles 100000]

A SQLite store of N generated articles already placed in stories (most alone, one in five
with 2–6 articles, as on the UCI sample: 861 story feeds for 4,224 headlines) is published
with `write_site` (the publisher's own function, under its lock). Then: a publish of the
unchanged store, and a publish after 3 new articles joined 3 stories and 1 joined a story
of one (which so gets a feed). Printed: story feeds written, time, for each.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from feedhub.config.load import load_config
from feedhub.publish.run import publishing, write_site
from feedhub.store import Store
from feedhub.store.schema import articles, sources, stories, story_articles

WORDS = (
    "flood", "storm", "vote", "court", "bank", "rate", "strike", "deal", "talks", "fire",
    "quake", "border", "oil", "gas", "minister", "rebels", "army", "port", "trade", "budget",
    "drought", "harvest", "cyclone", "election",
)


def build(store: Store, n: int, seed: int = 7) -> dict[str, list[int]]:
    """N articles in stories; returns story id → article ids."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows, members, story_rows, links = [], {}, [], []
    i = 0
    while i < n:
        size = 1 if rng.random() < 0.8 else rng.randint(2, 6)
        sid = f"{len(members):016x}"
        when = start + timedelta(minutes=5 * i)
        ids = []
        for k in range(min(size, n - i)):
            i += 1
            title = " ".join(rng.choice(WORDS) for _ in range(7)).capitalize()
            at = when + timedelta(hours=3 * k)
            rows.append({"id": i, "source_id": 1 + i % 4, "guid": f"g{i}",
                         "url": f"https://news{i % 4}.example/{i}", "title": title,
                         "summary": f"<p>{title}.</p>", "content": "", "published": at,
                         "updated": at, "first_seen": at, "changed": at,
                         "content_hash": f"{i:064x}"})
            ids.append(i)
            links.append({"article_id": i, "story_id": sid})
        members[sid] = ids
        story_rows.append({"id": sid, "founder_id": ids[0], "started": when})
    with store.write() as conn:
        conn.execute(insert(sources), [
            {"id": k, "name": f"news{k}", "url": f"https://news{k}.example/feed", "kind": "http",
             "position": k, "title": f"News {k}"} for k in range(1, 5)])
        for j in range(0, len(rows), 5000):
            conn.execute(insert(articles), rows[j : j + 5000])
        conn.execute(insert(stories), story_rows)
        for j in range(0, len(links), 5000):
            conn.execute(insert(story_articles), links[j : j + 5000])
    return members


def grow(store: Store, members: dict[str, list[int]]) -> set[str]:
    """3 new articles join 3 stories with feeds, 1 joins a story of one; their story ids."""
    big = [s for s, ids in members.items() if len(ids) >= 2][:3]
    alone = next(s for s, ids in members.items() if len(ids) == 1)
    top = max(i for ids in members.values() for i in ids)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    with store.write() as conn:
        for k, sid in enumerate([*big, alone], start=1):
            i = top + k
            conn.execute(insert(articles).values(
                id=i, source_id=1, guid=f"new{i}", url=f"https://news1.example/new{i}",
                title=f"Follow-up {k}", summary="<p>More.</p>", content="", published=now,
                updated=now, first_seen=now, changed=now, content_hash=f"{i:064x}"))
            conn.execute(insert(story_articles).values(article_id=i, story_id=sid))
    return {*big, alone}


def publish(config, store: Store) -> tuple[int, float]:
    started = time.perf_counter()
    with publishing(config.output_dir):
        report = write_site(config, store)
    stories_written = sum(p.startswith("stories/") for p in report.changed_paths)
    return stories_written, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg = folder / "feedhub.yaml"
        cfg.write_text(
            "site: {title: s, base_url: 'http://127.0.0.1:8080/', author: s}\n"
            f"store: {folder / 'store.db'}\n"
            f"output: {{dir: {folder / 'out'}}}\n"
            "sources: [" + ", ".join(f"{{name: news{k}, url: 'https://news{k}.example/feed'}}"
                                     for k in range(1, 5)) + "]\n"
            # One topic that files nothing: the time measured is the story feeds'.
            "topics: [{name: none, title: None, keywords: [zzzzzz]}]\n", encoding="utf-8")
        config = load_config(cfg)
        store = Store.open(config.store_url)
        try:
            t0 = time.perf_counter()
            members = build(store, args.articles)
            feeds = sum(len(ids) >= 2 for ids in members.values())
            print(f"{args.articles} articles in {len(members)} stories, {feeds} with a feed "
                  f"(built in {time.perf_counter() - t0:.0f} s)")
            for label in ("first publish", "unchanged store"):
                written, secs = publish(config, store)
                print(f"{label:36} {written:6d} story feeds written {secs:7.1f} s")
            changed = grow(store, members)
            written, secs = publish(config, store)
            print(f"{'4 articles joined 4 stories':36} {written:6d} story feeds written "
                  f"{secs:7.1f} s (expected {len(changed)})")
            if written != len(changed):
                sys.exit("incremental publish rewrote other stories")
        finally:
            store.close()


if __name__ == "__main__":
    main()
