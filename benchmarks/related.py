"""Related News benchmark: ranking quality on UCI headlines and update time at 10k/100k articles.

Run: PYTHONPATH=src .venv/bin/python benchmarks/related.py [--sizes 10000,100000]
     [--store postgresql://postgres@127.0.0.1:5432] [--fulltext-limits 1000]

1. Quality. UCI News Aggregator sample (F. Gasparetti, 2016, UCI ML Repository, CC BY 4.0),
   titles only: every headline goes through the real store path (`update_related` into a
   SQLite file, in timestamp order, ±3 days, min_score 0 so everything in the window is
   ranked); for each headline with a same-story neighbour, P@1 and nP@3 (hits in the top 3
   / min(3, same-story headlines)). Beside it, a plain TF-IDF cosine baseline computed here.
2. Speed. Generated news of real words (stories sharing a real UCI story's words, a section's
   vocabulary, Zipf-weighted UCI headline words and real stopwords; 100 articles/day)
   bulk-indexed into a SQLite file, boxes computed for the last 90 days, then N new articles
   go through `update_related` one at a time.

``--store`` adds the same measurements on a PostgreSQL server (a fresh database per store,
dropped afterwards): with its default candidate query (the postings joined to the vector as
an array), with its full-text candidates (``--fulltext-limits`` adds rows that keep only the
N best matches by ts_rank), with the portable term-index query,
and with that query on a store without the tsvector column (what the column costs writes),
beside SQLite's rows.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import math
import os
import pstats
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import news_vocabulary
from feedhub.related import Settings, refresh_boxes, related_for, update_related, vectors
from feedhub.related.run import update_pending_related
from feedhub.related.text import STOPWORDS, document_terms
from feedhub.related.vector import term_vector
from feedhub.related.window import window_index
from feedhub.store import Store, fulltext
from feedhub.store import related as db
from feedhub.store.db import create_store_engine, migrate
from feedhub.store.queue import enqueue
from feedhub.store.schema import articles, metadata, sources

PROFILE = 0  # --profile N

UCI = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-news-sample.csv"
if not UCI.exists():
    UCI = Path("/work/shared/data/uci-news-sample.csv")


@dataclass(frozen=True)
class Backend:
    """Where a measurement's store lives and which candidate generator it uses."""

    label: str
    server: str | None = None  # a PostgreSQL server URL; None: a SQLite file
    candidates: str = "terms"  # fulltext.CANDIDATES_OPTION on PostgreSQL
    limit: int | None = None  # fulltext.LIMIT_OPTION: the N best matches by ts_rank only
    bare: bool = False  # PostgreSQL without the tsvector column and its index (write cost)

    @property
    def short(self) -> str:
        return self.label.split(",")[0]


SQLITE = Backend("SQLite")
_CLEANUP = ExitStack()  # drops the PostgreSQL databases made by new_store at exit


def _pg_database(server: str, name: str, template: str | None = None) -> str:
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    db = f"feedhub_bench_{os.getpid()}_{name.replace('.', '_').replace('-', '_')}".lower()
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        c.exec_driver_sql(f"CREATE DATABASE {db}" + (f" TEMPLATE {template}" if template else ""))

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.dispose()

    _CLEANUP.callback(drop)
    return f"{server}/{db}"


def candidate_options(backend: Backend) -> dict[str, object]:
    """The execution options that pick ``backend``'s candidate query (PostgreSQL)."""
    options: dict[str, object] = {fulltext.CANDIDATES_OPTION: backend.candidates}
    if backend.limit is not None:
        options[fulltext.LIMIT_OPTION] = backend.limit
    return options


def new_store(directory: Path, name: str, backend: Backend = SQLITE) -> Connection:
    """A store as feedhub opens it (SQLite: 16 KiB pages, WAL, mmap) on a new file, or on a
    new database of ``backend.server`` (migrated: full-text column and index included)."""
    if backend.server is None:
        engine = create_store_engine(f"sqlite:///{directory / name}")
        metadata.create_all(engine)
    else:
        engine = create_store_engine(_pg_database(backend.server, name))
        migrate(engine)
        if backend.bare:
            with engine.begin() as c:
                c.exec_driver_sql(f"ALTER TABLE related_docs DROP COLUMN {fulltext.TSV_COLUMN}")
    conn = engine.connect().execution_options(**candidate_options(backend))
    conn.begin()
    conn.execute(insert(sources).values(id=1, name="bench", url="http://b.example", kind="http"))
    return conn


def insert_articles(conn: Connection, rows: Sequence[tuple[str, str, datetime]]) -> list[int]:
    first = (conn.scalar(select(articles.c.id).order_by(articles.c.id.desc()).limit(1)) or 0) + 1
    payload = [
        {
            "id": first + i,
            "source_id": 1,
            "guid": f"g{first + i}",
            "title": title,
            "summary": "",
            "content": body,
            "authors": [],
            "categories": [],
            "published": when,
            "updated": when,
            "first_seen": when,
            "changed": when,
            "content_hash": "x",
        }
        for i, (title, body, when) in enumerate(rows)
    ]
    for i in range(0, len(payload), 5000):
        conn.execute(insert(articles), payload[i : i + 5000])
    return [first + i for i in range(len(rows))]


# ---------------------------------------------------------------- quality (UCI headlines)


@dataclass(frozen=True)
class Headline:
    title: str
    story: str
    when: datetime


def load_uci() -> list[Headline]:
    with UCI.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows.sort(key=lambda r: (int(r["TIMESTAMP"]), int(r["ID"])))  # ingest order
    return [
        Headline(r["TITLE"], r["STORY"], datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, UTC))
        for r in rows
    ]


def score_rankings(heads: list[Headline], top3: Callable[[int], list[int]]) -> tuple[float, ...]:
    size = Counter(h.story for h in heads)
    p1 = np3 = 0.0
    n = 0
    for i, h in enumerate(heads):
        if size[h.story] < 2:
            continue
        ranked = top3(i)[:3]
        hits = sum(heads[j].story == h.story for j in ranked)
        p1 += bool(ranked) and heads[ranked[0]].story == h.story
        np3 += hits / min(3, size[h.story] - 1)
        n += 1
    return p1 / n, np3 / n, n


def tfidf_baseline(heads: list[Headline], window: timedelta) -> tuple[float, ...]:
    """Textbook TF-IDF cosine (sklearn's defaults: \\w\\w+ tokens, smooth idf, l2 norm)."""
    tfs = [Counter(re.findall(r"\b\w\w+\b", h.title.lower())) for h in heads]
    df = Counter(t for tf in tfs for t in tf)
    n = len(tfs)
    vecs = []
    for tf in tfs:
        v = {t: c * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in tf.items()}
        norm = math.sqrt(sum(x * x for x in v.values()))
        vecs.append({t: x / norm for t, x in v.items()})
    postings: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(vecs):
        for t in v:
            postings[t].append(i)

    def top3(i: int) -> list[int]:
        scores: Counter[int] = Counter()
        for t, w in vecs[i].items():
            for j in postings[t]:
                if j != i and abs(heads[j].when - heads[i].when) <= window:
                    scores[j] += w * vecs[j][t]
        return sorted(scores, key=lambda j: (-scores[j], abs(heads[j].when - heads[i].when), j))[:3]

    return score_rankings(heads, top3)


def feedhub_quality(
    heads: list[Headline], window: timedelta, workdir: Path, backend: Backend = SQLITE
):
    conn = new_store(workdir, f"uci-0-{backend.candidates}-{backend.limit}-"
                     f"{backend.bare}.db", backend)
    ids = insert_articles(conn, [(h.title, "", h.when) for h in heads])
    start = time.perf_counter()
    for i in range(0, len(ids), 50):  # ingest-sized batches
        update_related(conn, ids[i : i + 50], Settings(window=window, min_score=0.0))
    elapsed = time.perf_counter() - start
    index = {article_id: i for i, article_id in enumerate(ids)}
    result = score_rankings(
        heads, lambda i: [index[r.article_id] for r in related_for(conn, ids[i])]
    )
    boxes = db.all_boxes(conn)
    conn.close()
    return (*result, elapsed, {index[a]: [index[r] for r in b] for a, b in boxes.items()})


# ---------------------------------------------------------------- speed (generated news)


class NewsGenerator:
    """Deterministic synthetic news of real words: stories of 1–8 articles sharing a real UCI
    story's words and a section's vocabulary (common.py's `news_vocabulary`).

    Until session 7 the words were made-up syllables, which the text-vector model saw as all
    alike: ~4,000 of a window's 9,000 articles cleared the relevance floor of any new one,
    and every one of them was a box to offer it to (issue 17: "real vocabulary").
    """

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        news = news_vocabulary()
        self.general = list(news.ranked)
        # Zipf frequencies, as cumulative weights once (choices() would re-add the weights
        # per call otherwise).
        self.general_cum = list(accumulate(1 / (i + 1) for i in range(len(self.general))))
        self.stop = sorted(STOPWORDS)
        # 20 sections, five per UCI category, each led by its category's frequent words.
        self.sections = [list(words[j::5][:400]) for words in news.by_category.values()
                         for j in range(5)]
        self.stories = [words for _, words in news.stories]
        self.entities = [w for w in self.general if w[:1].isupper()]

    def _key(self) -> list[str]:
        """A story's own words: a real story's content words, topped up with names."""
        r = self.rng
        words = r.choice(self.stories)
        key = r.sample(words, min(len(words), r.randint(3, 7)))
        while len(key) < 3:
            key.append(r.choice(self.entities))
        return key

    def _text(self, k: int, key: list[str], section: list[str]) -> str:
        r = self.rng
        out = []
        for _ in range(k):
            x = r.random()
            if x < 0.12:
                out.append(r.choice(key))
            elif x < 0.35:
                out.append(section[min(int(r.expovariate(1 / 60)), len(section) - 1)])
            elif x < 0.70:
                out.append(r.choices(self.general, cum_weights=self.general_cum)[0])
            else:
                out.append(r.choice(self.stop))
        return " ".join(out)

    def articles(
        self, count: int, end: datetime, per_day: float
    ) -> list[tuple[str, str, datetime]]:
        """``count`` articles ending at ``end``; each story's articles spread over days."""
        r = self.rng
        span = timedelta(days=count / per_day)
        out: list[tuple[str, str, datetime]] = []
        while len(out) < count:
            key = self._key()
            section = r.choice(self.sections)
            start = end - span * r.random()
            for _ in range(min(int(r.expovariate(1 / 2.5)) + 1, 8)):
                when = min(start + timedelta(hours=r.expovariate(1 / 48)), end)
                title = self._text(r.randint(6, 11), key, section)
                body = "<p>" + self._text(r.randint(80, 300), key, section) + "</p>"
                out.append((title[:1].upper() + title[1:], body, when))
        out = out[:count]
        out.sort(key=lambda a: a[2])
        return out


def bulk_index(conn: Connection, ids: list[int], rows: list[tuple[str, str, datetime]]) -> None:
    """Index a background corpus as `rebuild_related` does (df of the whole set), fast."""
    docs = index_terms(conn, ids, rows)
    for i in range(0, len(docs), 1000):  # text vectors, as the parse workers store them
        vectors.ensure(conn, docs[i : i + 1000])


def index_terms(
    conn: Connection, ids: list[int], rows: list[tuple[str, str, datetime]]
) -> list[db.ArticleText]:
    """The term index of a background corpus (df of the whole set); returns its articles."""
    df: Counter[str] = Counter()
    for title, body, _ in rows:
        t, b = document_terms(title, "", body)
        df.update(t.keys() | b.keys())
    db.write_frequencies(conn, df, len(rows))
    docs = []
    for article_id, (title, body, when) in zip(ids, rows, strict=True):
        t, b = document_terms(title, "", body)
        doc = db.ArticleText(article_id, title, "", body, when, article_id)
        docs.append((doc, sorted(t.keys() | b.keys()), term_vector(t, b, df, len(rows))))
    for i in range(0, len(docs), 1000):
        db.put_docs(conn, docs[i : i + 1000])
    return [doc for doc, _, _ in docs]


def speed(
    size: int, workdir: Path, new: int = 300, per_day: float = 100.0, backend: Backend = SQLITE
) -> dict[str, Any]:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    gen = NewsGenerator()
    rows = gen.articles(size + new, end, per_day)
    fresh = rows[-new:]  # the newest articles arrive last, as in a live service
    background = rows[:-new]
    conn = new_store(workdir, f"speed-{size}-{backend.candidates}-{backend.limit}-"
                     f"{backend.bare}.db", backend)
    t0 = time.perf_counter()
    ids = insert_articles(conn, background)
    bulk_index(conn, ids, background)
    cutoff = fresh[0][2] - timedelta(days=90)
    recent = [i for i, r in zip(ids, background, strict=True) if r[2] >= cutoff]
    with window_index():  # the vectors in memory, as a publish computes boxes
        refresh_boxes(conn, recent)  # realistic floors for boxes a new article may enter
    conn.commit()
    if backend.server is not None:
        # The planner's statistics, as autovacuum leaves a store a minute after a bulk load:
        # the measurement starts right after it, and a live store would have them.
        with conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    build = time.perf_counter() - t0
    name = f"speed-{size}-{backend.candidates}-{backend.limit}-{backend.bare}.db"
    conn, copy_url = clone_store(conn, workdir, name, backend)
    del rows, background, ids  # the generator's text is no part of a publish's heap
    gc.collect()
    publisher = publisher_path(copy_url, fresh, backend)
    conn.begin()
    new_ids = insert_articles(conn, fresh)
    # Their text vectors, as the parse workers store them at ingest (issue 14, item 2:
    # vectors are computed once, there): both paths below time the box alone.
    vectors.ensure(conn, db.read_articles(conn, new_ids).values())
    times = []
    changed = 0
    profiler = cProfile.Profile() if PROFILE else None
    # Statements sent per new article (issue 14: on PostgreSQL each is a round trip).
    statements = [0]
    count = lambda *_: statements.__setitem__(0, statements[0] + 1)  # noqa: E731
    event.listen(conn, "before_cursor_execute", count)
    with window_index():  # one run, as a publish holds the vectors in memory
        for article_id in new_ids:
            t = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            changed += len(update_related(conn, [article_id]))
            if profiler is not None:
                profiler.disable()
            times.append(time.perf_counter() - t)
    event.remove(conn, "before_cursor_execute", count)
    conn.commit()
    if profiler is not None:  # --profile: where one new article's time goes
        print(f"\nprofile of the {len(new_ids)} updates, {backend.label}, {size}:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(PROFILE)
    if backend.server is None:
        file_mb = (workdir / name).stat().st_size / 1e6
    else:
        file_mb = conn.scalar(text("SELECT pg_database_size(current_database())")) / 1e6
    times.sort()
    boxes = db.all_boxes(conn)
    conn.close()
    return {
        "boxes": boxes,
        "publisher_ms": publisher[0],
        "publisher_same": publisher[1] == boxes,
        "mean_ms": 1000 * sum(times) / len(times),
        "p50_ms": 1000 * times[len(times) // 2],
        "p95_ms": 1000 * times[int(len(times) * 0.95)],
        "changed": changed / len(new_ids),
        "statements": statements[0] / len(new_ids),
        "recent": len(recent),
        "build_s": build,
        "file_mb": file_mb,
    }


def clone_store(
    conn: Connection, workdir: Path, name: str, backend: Backend
) -> tuple[Connection, str]:
    """A copy of the built store (committed) for the publisher's path, and a connection to
    the original again (PostgreSQL copies a database only while no one is connected)."""
    engine = conn.engine
    if backend.server is None:
        copy = workdir / f"publisher-{name}"
        target = sqlite3.connect(copy)
        conn.connection.driver_connection.backup(target)
        target.close()
        # A new connection, as a publish opens the store (with the generator's text freed,
        # below, one call per article at 100k went 10.5 → 9.1 ms at load ~2).
        conn.close()
        engine.dispose()
        return engine.connect().execution_options(**candidate_options(backend)), \
            f"sqlite:///{copy}"
    source = engine.url.database
    conn.close()
    engine.dispose()
    copy = _pg_database(backend.server, f"publisher-{name}", template=source)
    return engine.connect().execution_options(**candidate_options(backend)), copy


def publisher_path(
    url: str, fresh: Sequence[tuple[str, str, datetime]], backend: Backend
) -> tuple[float, dict[int, list[int]]]:
    """ms per new article as a publish computes their boxes (issue 14): the same new
    articles stored with their text vectors and queued, then `update_pending_related`
    (batches of new articles, each in a write transaction paced to 0.2 s, commits
    included); and the boxes it leaves."""
    store = Store.open(url)
    try:
        store.engine.update_execution_options(**candidate_options(backend))
        with store.write() as conn:
            new_ids = insert_articles(conn, fresh)
            enqueue(conn, new=new_ids)
            # Their text vectors, as the parse workers store them at ingest (as above).
            vectors.ensure(conn, db.read_articles(conn, new_ids).values())
        t = time.perf_counter()
        update_pending_related(store, Settings())
        if backend.server is None:
            # What the run left in the WAL is its cost too (a later commit's checkpoint
            # copies it): charged here, not to whoever commits next.
            with store.engine.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        elapsed = time.perf_counter() - t
        with store.read() as conn:
            return 1000 * elapsed / len(fresh), db.all_boxes(conn)
    finally:
        store.close()


def backends(args: argparse.Namespace) -> list[Backend]:
    """SQLite, plus PostgreSQL's candidate generators when ``--store`` names a server."""
    if not args.store:
        return [SQLITE]
    server = args.store.rstrip("/")
    limits = [int(x) for x in args.fulltext_limits.split(",") if x]
    default = Backend("PostgreSQL, postings candidates (default)", server, fulltext.POSTINGS)
    if args.pg_default_only:
        return [SQLITE, default]
    return [
        SQLITE,
        default,
        Backend("PostgreSQL, full-text candidates", server, fulltext.FULLTEXT),
        *(Backend(f"PostgreSQL, full-text, best {n} by ts_rank only", server, "fulltext", n)
          for n in limits),
        Backend("PostgreSQL, term-index candidates", server, "terms"),
        Backend("PostgreSQL, term-index candidates, no tsvector column", server, "terms",
                bare=True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--store", metavar="URL", default="",
                        help="also measure on this PostgreSQL server "
                             "(e.g. postgresql://postgres@127.0.0.1:5432)")
    parser.add_argument("--fulltext-limits", default="",
                        help="also measure PostgreSQL keeping only the N best full-text "
                             "matches by ts_rank (comma-separated Ns; not exact)")
    parser.add_argument("--pg-default-only", action="store_true",
                        help="on PostgreSQL, only its default (full-text) candidates")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC",
                        help="also the quality row of another tree's src/ (e.g. the scorer "
                             "before a change, from `git archive`), in a child process")
    parser.add_argument("--no-speed", action="store_true", help="quality only")
    parser.add_argument("--no-quality", action="store_true", help="speed only")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N top functions (cumulative) of the timed updates")
    parser.add_argument("--quality-row", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the databases
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, Path(tmp))
    finally:
        _CLEANUP.close()


def run(args: argparse.Namespace, workdir: Path) -> None:
    if not args.no_quality:
        quality(args, workdir)
    if not args.no_speed:
        speed_table(args, workdir)


def quality(args: argparse.Namespace, workdir: Path) -> None:
    heads = load_uci()
    window = timedelta(days=3)
    if args.quality_row:  # for previous_scorer: one line, SQLite only
        p1, np3, n, secs, _ = feedhub_quality(heads, window, workdir)
        print(p1, np3, n, secs)
        return
    print(f"UCI News Aggregator sample, titles only, ±3 days ({len(heads)} headlines)")
    print(f"{'method':56} {'P@1':>6} {'nP@3':>6} {'n':>5} {'time':>8} {'same boxes':>10}")
    t = time.perf_counter()
    p1, np3, n = tfidf_baseline(heads, window)
    print(
        f"{'TF-IDF cosine baseline (this run)':56} {p1:6.3f} {np3:6.3f} {n:5d} "
        f"{time.perf_counter() - t:7.1f}s"
    )
    print(f"{'TF-IDF cosine (data README reference)':56} {0.586:6.3f} {0.652:6.3f}")
    reference: dict[int, list[int]] | None = None
    for backend in backends(args):
        p1, np3, n, secs, boxes = feedhub_quality(heads, window, workdir, backend)
        reference = boxes if reference is None else reference
        same = sum(boxes.get(i) == b for i, b in reference.items()) / max(len(reference), 1)
        label = f"feedhub words + vectors + closeness, {backend.label}"
        print(f"{label:56} {p1:6.3f} {np3:6.3f} {n:5d} {secs:7.1f}s {same:10.1%}")
    for spec in args.compare:
        label, src = spec.split("=", 1)
        p1, np3, n, secs = previous_scorer(src, block_wordllama=False)
        print(f"{label:56} {p1:6.3f} {np3:6.3f} {n:5d} {secs:7.1f}s")
    p1, np3, n, secs = previous_scorer()
    print(f"{'lexical only (wordllama import blocked)':56} {p1:6.3f} "
          f"{np3:6.3f} {n:5d} {secs:7.1f}s")
    print("(same boxes: share of boxes identical to the SQLite run's, by headline)")
    print()


def previous_scorer(
    src: str | None = None, block_wordllama: bool = True
) -> tuple[float, float, int, float]:
    """The SQLite row in a child process: by default one where ``import wordllama`` fails
    (a sitecustomize puts None in sys.modules), the lexical scorer this change falls back
    to; with ``src``, the code of that src/ folder instead of this tree's."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sitecustomize.py").write_text(
            "import sys; sys.modules['wordllama'] = None\n" if block_wordllama else "",
            encoding="utf-8",
        )
        src = src or str(Path(__file__).parents[1] / "src")
        env = {**os.environ, "PYTHONPATH": f"{tmp}:{src}"}
        out = subprocess.run(
            [sys.executable, "-W", "ignore", __file__, "--no-speed", "--quality-row"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
    p1, np3, n, secs = out.split()
    return float(p1), float(np3), int(n), float(secs)


def speed_table(args: argparse.Namespace, workdir: Path) -> None:
    print(
        f"Update time per new article ({args.new} new, one update_related call each; "
        "generated news, 100 articles/day; SQLite file in WAL, or PostgreSQL)"
    )
    print(
        f"{'store':12} {'stored':>8} {'mean ms':>8} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'boxes chg':>9} {'in window':>9} {'build s':>8} {'size MB':>8} {'same boxes':>10} "
        f"{'stmts':>6} {'publish ms':>10} {'same':>5}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        first: dict[int, list[int]] | None = None
        for backend in backends(args):
            r = speed(size, workdir, args.new, backend=backend)
            first = r["boxes"] if first is None else first
            same = sum(r["boxes"].get(i) == b for i, b in first.items()) / max(len(first), 1)
            name = backend.short if backend.server is None else (
                f"PG {backend.candidates}" + (f" {backend.limit}" if backend.limit else "")
                + (" bare" if backend.bare else "")
            )
            print(
                f"{name:12} {size:8d} {r['mean_ms']:8.2f} {r['p50_ms']:7.2f} {r['p95_ms']:7.2f} "
                f"{r['changed']:9.2f} {r['recent']:9d} {r['build_s']:8.1f} {r['file_mb']:8.1f} "
                f"{same:10.1%} {r['statements']:6.1f} {r['publisher_ms']:10.2f} "
                f"{'yes' if r['publisher_same'] else 'NO':>5}"
            )


if __name__ == "__main__":
    main()
