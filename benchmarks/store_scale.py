"""Scale (issue 17): what a store of 10k, 100k, 1M articles costs, one size after another.

Run from the repository root:
    .venv/bin/python benchmarks/store_scale.py [--sizes 10000,100000,1000000]
        [--store postgresql://postgres@127.0.0.1:5432] [--publish-budget 3600]

For each size, on a fresh store (a SQLite file, or a fresh PostgreSQL database with
``--store``), as a user runs feedhub (each step a ``feedhub -q`` subprocess, timed from
spawn to exit; CPU and peak RSS from ``wait4``):

1. ingest: ``fetch`` of size/200 local RSS feeds of 200 items each (common.py's news-like
   corpus in groups of 50 feeds, one seed per group: real place and subject names, Zipf
   vocabulary, 4–8 sentence bodies, stories in threads, ~12 % syndicated copies);
2. first publish: every Related News box and every file. Stopped (SIGKILL) after
   ``--publish-budget`` seconds: the row then says how many queued articles were left, and
   the next publish resumes from there (the related queue is committed in batches);
3. the increment: ``fetch`` of 10 more feeds (2,000 new articles) and ``publish``;
4. ``publish`` with nothing new;
5. the store's size per article;
6. retention: ``prune`` (in this process) of the oldest ~10 %, by moving "now" forward.

Targets (issue 17): the increment at 100k ≤ 1.5× and at 1M ≤ 2× its cost at 10k; the first
publish of 100k ≤ 5 min and of 1M ≤ 1 h; the no-change publish not growing with the store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bench_env, generate_feeds, machine, table, write_config

ENTRIES = 200  # items per feed, as the 10k (50 × 200) and 100k (500 × 200) stores
GROUP = 50  # feeds generated together (one seed): syndicated copies stay within a group
MORE_FEEDS = 10  # the increment: 10 × 200 = 2,000 new articles


@dataclass(frozen=True)
class Step:
    wall: float
    cpu: float
    rss_mb: float
    killed: bool = False


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(cfg: Path, command: str, budget: float | None = None) -> Step:
    """``feedhub -q -c cfg command``; SIGKILL after ``budget`` seconds (None: no limit)."""
    started = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "feedhub", "-c", str(cfg), "-q", command],
                         env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    timer = None
    if budget is not None:  # wait4 below must reap the child itself (for its rusage)
        timer = threading.Timer(budget, p.send_signal, (signal.SIGKILL,))
        timer.start()
    assert p.stderr is not None
    err = p.stderr.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    if timer is not None:
        timer.cancel()
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and not killed:
        sys.exit(f"{command}: exit {code}\n{err[-3000:]}")
    return Step(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, killed)


def write_feeds(folder: Path, first: int, count: int) -> list[tuple[str, str]]:
    """Feeds number ``first`` … ``first + count - 1`` as local files, in groups of GROUP."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for group_start in range(first, first + count, GROUP):
        n = min(GROUP, first + count - group_start)
        gen = generate_feeds(n, ENTRIES, seed=17_000 + group_start)
        for k, body in enumerate(gen.bodies.values()):
            name = f"feed-{group_start + k:05d}"
            path = folder / f"{name}.xml"
            path.write_bytes(body)
            sources.append((name, str(path)))
    return sources


def store_for(work: Path, server: str | None, size: int) -> tuple[str, object]:
    """The store's URL (or path) and a cleanup."""
    if server is None:
        return str(work / "feedhub.db"), None
    from sqlalchemy import create_engine

    name = f"feedhub_scale_{os.getpid()}_{size}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    return f"{server}/{name}", (admin, name)


def drop(cleanup: object) -> None:
    if cleanup is None:
        return
    admin, name = cleanup  # type: ignore[misc]
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def store_facts(cfg: Path) -> tuple[int, int, float]:
    """(articles, queued for related, store bytes) through feedhub's own store code."""
    from sqlalchemy import func, select, text

    from feedhub.config import load_config
    from feedhub.store import Store
    from feedhub.store.schema import articles, pending_related

    config = load_config(cfg)
    store = Store.open(config.store_url)
    try:
        with store.read() as conn:
            n = conn.scalar(select(func.count()).select_from(articles)) or 0
            queued = conn.scalar(select(func.count()).select_from(pending_related)) or 0
            if conn.dialect.name == "postgresql":
                size = float(conn.scalar(text("SELECT pg_database_size(current_database())")))
            else:  # the file with its WAL
                db = Path(conn.engine.url.database or "")
                size = float(sum(p.stat().st_size for p in db.parent.glob(db.name + "*")))
    finally:
        store.close()
    return n, queued, size


def prune_tenth(cfg: Path) -> tuple[float, int]:
    """Retention of the oldest ~10 %: returns (seconds, articles deleted).

    An article goes when its date and its first_seen are both past the cutoff. Here every
    article was first seen at ingest, so first_seen is set to its date first, as in a
    store a service filled day by day; then "now" is the 10th percentile's date + max_age.
    """
    from sqlalchemy import func, select, update

    from feedhub.config import load_config
    from feedhub.retention import prune
    from feedhub.store import Store
    from feedhub.store.schema import articles

    config = load_config(cfg)
    store = Store.open(config.store_url)
    try:
        with store.write() as conn:
            conn.execute(update(articles).values(first_seen=articles.c.published))
            n = conn.scalar(select(func.count()).select_from(articles)) or 0
            tenth = conn.scalar(select(articles.c.published).order_by(articles.c.published)
                                .offset(n // 10).limit(1))
        assert tenth is not None
        now = tenth.replace(tzinfo=tenth.tzinfo or UTC) + config.file.retention.max_age
        t = time.perf_counter()
        deleted = prune(config, store, now)
        return time.perf_counter() - t, deleted
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--store", metavar="URL", default="",
                    help="a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432)")
    ap.add_argument("--publish-budget", type=float, default=3600.0,
                    help="stop the first publish after this many seconds (it resumes)")
    ap.add_argument("--finish", action="store_true",
                    help="after the budget's kill, resume the first publish to its end "
                         "(the row then reports both runs' sum) and go on")
    ap.add_argument("--no-prune", action="store_true", help="skip the retention step")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    server = args.store.rstrip("/") or None
    print(f"{machine()}\nbackend {'PostgreSQL' if server else 'SQLite'}; load {load()}",
          flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"feedhub-scale-{size}-"))
        url, cleanup = store_for(work, server, size)
        try:
            feeds = size // ENTRIES
            t = time.perf_counter()
            first = write_feeds(work / "sources", 0, feeds)
            more = write_feeds(work / "sources", feeds, MORE_FEEDS)
            print(f"{size}: generated {len(first) + len(more)} feeds in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
            cfg = write_config(work / "first.yaml", first, store=Path(url), output=work / "feeds",
                               entries_per_feed=50)
            full = write_config(work / "full.yaml", first + more, store=Path(url),
                                output=work / "feeds", entries_per_feed=50)
            if server:  # write_config takes a path; a URL goes in as is
                for c in (cfg, full):
                    c.write_text(c.read_text().replace(str(Path(url)), url))
            steps: dict[str, Step] = {}
            for label, c, command, budget in (
                ("ingest", cfg, "fetch", None),
                ("first publish", cfg, "publish", args.publish_budget),
            ):
                before = load()
                steps[label] = run(c, command, budget)
                print(f"  {label:16} {steps[label].wall:8.1f} s wall {steps[label].cpu:8.1f} s "
                      f"CPU {steps[label].rss_mb:6.0f} MB (load before {before})", flush=True)
            articles, queued, size_bytes = store_facts(cfg)
            if steps["first publish"].killed and args.finish:
                print(f"  first publish stopped after {args.publish_budget:.0f} s: {queued} of "
                      f"{articles} still queued; resuming", flush=True)
                rest = run(cfg, "publish")
                done = steps["first publish"]
                steps["first publish"] = Step(done.wall + rest.wall, done.cpu + rest.cpu,
                                              max(done.rss_mb, rest.rss_mb))
                print(f"  resumed publish  {rest.wall:8.1f} s wall {rest.cpu:8.1f} s CPU "
                      f"{rest.rss_mb:6.0f} MB", flush=True)
            if steps["first publish"].killed:
                print(f"  first publish stopped after {args.publish_budget:.0f} s: "
                      f"{queued} of {articles} still queued", flush=True)
                rows.append([str(size), f"{articles / steps['ingest'].wall:.0f}",
                             f"> {args.publish_budget:.0f} ({queued} left)", "–", "–", "–",
                             f"{size_bytes / articles / 1024:.1f}", "–",
                             f"{max(s.rss_mb for s in steps.values()):.0f}", load()])
                continue
            for label, c, command in (("fetch +2,000", full, "fetch"),
                                      ("publish +2,000", full, "publish"),
                                      ("no-change publish", full, "publish")):
                before = load()
                steps[label] = run(c, command)
                print(f"  {label:16} {steps[label].wall:8.1f} s wall {steps[label].cpu:8.1f} s "
                      f"CPU {steps[label].rss_mb:6.0f} MB (load before {before})", flush=True)
            articles, queued, size_bytes = store_facts(full)
            prune_s, deleted = (0.0, 0) if args.no_prune else prune_tenth(full)
            print(f"  prune {deleted} articles {prune_s:.1f} s", flush=True)
            increment = steps["fetch +2,000"].wall + steps["publish +2,000"].wall
            rows.append([
                str(size), f"{steps['ingest'].wall and size / steps['ingest'].wall:.0f}",
                f"{steps['first publish'].wall:.0f}", f"{increment:.1f}",
                f"{1000 * steps['publish +2,000'].wall / (MORE_FEEDS * ENTRIES):.1f}",
                f"{steps['no-change publish'].wall:.1f}",
                f"{size_bytes / articles / 1024:.1f}",
                "–" if args.no_prune else f"{prune_s:.0f} ({deleted})",
                f"{max(s.rss_mb for s in steps.values()):.0f}", load(),
            ])
        finally:
            drop(cleanup)
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows, ["stored", "ingest art/s", "1st publish s", "+2,000 s",
                       "publish ms/new", "no change s", "KB/article", "prune 10 % s",
                       "peak MB", "load end"]))


if __name__ == "__main__":
    main()
