"""EXPLAIN plans of a new article's related and dedupe queries on PostgreSQL (issues 14, 17).

Run: PYTHONPATH=src .venv/bin/python benchmarks/explain_pg.py [--size 100000]
     [--store postgresql://postgres@127.0.0.1:5432] [--keep] [--full]

Builds a store of ``--size`` generated articles (`related.py`'s news, 100 a day), as a
running feedhub holds it: every article through dedupe (`dedupe_articles`, in batches) and
the related term index; text vectors and boxes for the 90 days before the new articles (the
only ones a new article meets). Then ``VACUUM ANALYZE``, and one new article goes through
`dedupe_articles` and `update_related` (with the window index, as a publish runs it) while
every statement they send is recorded. Each distinct statement is then run again under
``EXPLAIN (ANALYZE, BUFFERS)`` (writes: plain ``EXPLAIN``, nothing executed twice) with the
same parameters, in the same transaction, which is rolled back.

Also ``lexical_scores`` alone for that article (outside a run the candidate query is SQL).

Printed per statement: how often the article sent it, its first words, and the plan's scan
lines (which index, or a Seq Scan); ``--full`` prints whole plans. ``--keep`` keeps the
database (``feedhub_explain_<size>``) and reuses it when it is already built.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import related as bench  # benchmarks/related.py: the generated news
from feedhub.dedupe.cluster import dedupe_articles
from feedhub.related import refresh_boxes, update_related, vectors
from feedhub.related.score import LEXICAL_MIN
from feedhub.related.window import window_index
from feedhub.store import fulltext
from feedhub.store import related as db
from feedhub.store.db import create_store_engine, migrate
from feedhub.store.schema import articles, sources

NEW = 20  # the newest articles: the last one is explained, the others make it realistic
_SCAN = re.compile(r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan)")


def _database(server: str, name: str, keep: bool) -> tuple[str, bool]:
    """The store's URL and whether it must be built."""
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
        if exists and keep:
            admin.dispose()
            return f"{server}/{name}", False
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return f"{server}/{name}", True


def _drop(server: str, name: str) -> None:
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def build(conn: Connection, background: list[tuple[str, str, datetime]], start: datetime) -> None:
    """The stored articles, deduplicated and indexed (see the module docstring)."""
    t0 = time.perf_counter()
    conn.execute(insert(sources).values(id=1, name="bench", url="http://b.example", kind="http"))
    ids = bench.insert_articles(conn, background)
    for i in range(0, len(ids), 1000):
        dedupe_articles(conn, ids[i : i + 1000])
    print(f"  articles and dedupe: {time.perf_counter() - t0:.0f} s", flush=True)
    docs = bench.index_terms(conn, ids, background)
    recent = [d for d in docs if d.published >= start]
    for i in range(0, len(recent), 1000):
        vectors.ensure(conn, recent[i : i + 1000])
    print(f"  term index, vectors of {len(recent)}: {time.perf_counter() - t0:.0f} s", flush=True)
    with window_index():
        refresh_boxes(conn, [d.id for d in recent])
    print(f"  boxes: {time.perf_counter() - t0:.0f} s", flush=True)


class Recorder:
    """Every statement a connection sends while ``on``, with its parameters."""

    def __init__(self, conn: Connection) -> None:
        self.on = False
        self.sent: list[tuple[str, Any, bool]] = []
        event.listen(conn, "before_cursor_execute", self._record)

    def _record(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if self.on:
            self.sent.append((statement, parameters, executemany))


def explain(conn: Connection, title: str, sent: list[tuple[str, Any, bool]], full: bool) -> None:
    """One block per distinct statement: its count, its head, its plan's scans."""
    print(f"\n== {title}: {len(sent)} statements")
    seen: dict[str, int] = Counter(s for s, _, _ in sent)
    done: set[str] = set()
    for statement, parameters, many in sent:
        if statement in done:
            continue
        done.add(statement)
        head = " ".join(statement.split())
        print(f"\n[{seen[statement]}×] {head[:150]}{'…' if len(head) > 150 else ''}")
        if many:
            print("   (executemany: not explained)")
            continue
        reads = head.upper().startswith(("SELECT", "WITH"))
        options = "ANALYZE, BUFFERS" if reads else "COSTS"
        plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters)]
        for line in plan if full else [p for p in plan if _SCAN.search(p)] or plan[:1]:
            print(f"   {line.strip() if not full else line}")
        if not full and reads:
            print(f"   {plan[-1].strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--full", action="store_true", help="whole plans")
    args = parser.parse_args()
    server = args.store.rstrip("/")
    name = f"feedhub_explain_{args.size}"
    gen = bench.NewsGenerator()
    rows = gen.articles(args.size + NEW, datetime(2026, 3, 1, tzinfo=UTC), 100.0)
    background, fresh = rows[:-NEW], rows[-NEW:]
    url, fresh_store = _database(server, name, args.keep)
    engine = create_store_engine(url)
    try:
        if fresh_store:
            migrate(engine)
            print(f"building {args.size} articles in {name}", flush=True)
            with engine.begin() as conn:
                build(conn, background, fresh[0][2] - timedelta(days=90))
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE")
        conn = engine.connect().execution_options(
            **{fulltext.CANDIDATES_OPTION: fulltext.DEFAULT_CANDIDATES}
        )
        conn.begin()
        stored = conn.scalar(select(articles.c.id).order_by(articles.c.id.desc()).limit(1))
        print(f"{stored} articles stored; {NEW} new, the last one explained")
        recorder = Recorder(conn)
        new_ids = bench.insert_articles(conn, fresh)
        with window_index():
            for article_id in new_ids:
                recorder.on = article_id == new_ids[-1]
                dedupe_articles(conn, [article_id])
                dedupe_sent = list(recorder.sent)
                recorder.sent.clear()
                update_related(conn, [article_id])
        related_sent = list(recorder.sent)
        recorder.sent.clear()
        # The candidate query outside a run (inside one, the lexical scores come from the
        # run's postings in memory): the last article's vector over its window.
        vector = db.read_vector(conn, new_ids[-1])
        when, span = fresh[-1][2], timedelta(days=90)
        db.lexical_scores(conn, vector, when - span, when + span, LEXICAL_MIN)
        recorder.on = False
        explain(conn, "dedupe_articles (one new article)", dedupe_sent, args.full)
        explain(conn, "update_related (one new article)", related_sent, args.full)
        explain(conn, "lexical_scores outside a related run", recorder.sent, args.full)
        conn.rollback()
        conn.close()
    finally:
        engine.dispose()
        if not args.keep:
            _drop(server, name)


if __name__ == "__main__":
    main()
