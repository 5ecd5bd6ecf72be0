"""Ingest benchmark: ``feedhub fetch`` vs feedparser alone vs the peer library ``reader``.

Run from the repository root:  .venv/bin/python benchmarks/ingest.py [--repeat 3]
[--formats rss|all|rss-teaser,atom-full,…] [--feeds 200] [--entries 50]

Serves 200 generated RSS 2.0 feeds × 50 items (~2.3 KB each; see common.py) from an
aiohttp server in a separate process on 127.0.0.1 — or, with ``--formats`` (issue 17), the
same stories as RSS 2.0 with teasers, RSS 2.0 with full ``content:encoded``, Atom 1.0 with
full HTML content, RDF, JSON Feed 1.1, and a mix of those five — then measures, in one run
and for each format:

* ``feedhub -q fetch`` into a fresh store, as a user runs it: a subprocess timed from spawn
  to exit (interpreter start and imports included), with its CPU time and peak RSS;
* the same ingest in-process (``asyncio.run(ingest(...))``), and a stage breakdown from a
  sequential in-process run (``workers=1``, parsing on the event loop, every stage timed);
* feedparser alone: ``feedparser.parse(body)`` over the same 200 bodies, sequentially,
  in-process (bodies fetched once beforehand) — issue 2's yardstick. feedparser cannot read
  JSON Feed: there the yardstick is ``json_alone`` (json.loads, then feedparser's own HTML
  sanitizer, URL resolution and date parser on each item: what feedparser would do);
* reader (lemon24/reader, default settings): ``make_reader(db)``, ``add_feed`` × 200,
  ``update_feeds()`` into a fresh database;
* the all-unchanged refetch: a second ``feedhub -q fetch`` on the same store; every source
  answers 304 to its conditional GET (checked on the server's counters).

Targets (issue 2, this 2-core machine): whole ingest ≤ 0.75× feedparser-alone, < 0.5× reader,
unchanged refetch < 5 ms per source (whole process included); issue 17: on every format.
With several formats a last table puts them side by side, with the stage breakdown of each.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
from feedparser import datetimes as fp_datetimes
from feedparser import sanitizer as fp_sanitizer
from feedparser import urls as fp_urls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    FORMATS,
    FeedServer,
    GeneratedFeeds,
    ProcRun,
    bench_env,
    generate_feeds,
    machine,
    run_process,
    summary,
    table,
    timed,
    write_config,
)

TARGET_FEEDPARSER = 0.75
TARGET_READER = 0.5
TARGET_REFETCH_MS = 5.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.n = 0
        self.urls: list[tuple[str, str]] = []

    def config(self, tag: str) -> Path:
        d = self.work / tag
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        return write_config(
            d / "feedhub.yaml", self.urls, store=d / "feedhub.db", output=d / "feeds",
            per_host=self.args.per_host, concurrency=self.args.concurrency,
        )


def count_articles(cfg: Path) -> int:
    with sqlite3.connect(cfg.parent / "feedhub.db") as db:
        return db.execute("select count(*) from articles").fetchone()[0]


# ---------------------------------------------------------------------------- runs


def parse_alone(paths: list[Path], kinds: list[str]) -> tuple[float, float, int]:
    """The yardstick, run in a fresh child process: feedparser.parse (defaults: sanitizer
    and URL resolution on) of each XML body; a JSON Feed body goes through `json_alone`
    (feedparser cannot read JSON Feed). (wall, CPU, entries), imports and file reads not
    counted.

    A child, because feedhub's feedparser fixes (`feedhub.parse.install_fixes`, made by the
    in-process runs and the breakdown) change feedparser for the rest of the process: a
    baseline measured after them would be feedparser with feedhub's fast paths."""
    spec = json.dumps([[str(p), k] for p, k in zip(paths, kinds, strict=True)])
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--alone-child"],
        input=spec, capture_output=True, text=True, check=True, env=bench_env(),
    ).stdout
    wall, cpu, entries = json.loads(out.strip().splitlines()[-1])
    return wall, cpu, entries


def alone_child() -> None:
    """`parse_alone`'s child: bodies named on stdin, timings on stdout."""
    spec = json.loads(sys.stdin.read())
    bodies = [(Path(p).read_bytes(), k) for p, k in spec]

    def run() -> int:
        return sum(json_alone(b) if k == "json" else len(feedparser.parse(b).entries)
                   for b, k in bodies)

    wall, cpu, entries = timed(run)
    print(json.dumps([wall, cpu, entries]))


def json_alone(body: bytes) -> int:
    """What feedparser would do to a JSON Feed if it read one: ``json.loads``, then its own
    HTML sanitizer and relative-URL resolution on each item's HTML (``content_html``,
    ``summary`` as text) and its date parser on the dates. Returns the item count."""
    doc = json.loads(body)
    base = doc.get("home_page_url") or ""
    for it in doc["items"]:
        html = it.get("content_html") or ""
        html = fp_urls.resolve_relative_uris(html, base, "utf-8", "text/html")
        fp_sanitizer._sanitize_html(html, "utf-8", "text/html")
        fp_datetimes._parse_date(it.get("date_published") or "")
    return len(doc["items"])


def feedhub_process(cfg: Path, srv: FeedServer, expect: str) -> ProcRun:
    srv.stats(reset=True)
    run = run_process(
        [sys.executable, "-m", "feedhub", "-c", str(cfg), "-q", "fetch"], env=bench_env()
    )
    if run.returncode != 0:
        sys.exit(f"feedhub fetch failed ({run.returncode}):\n{run.stderr}")
    if run.stderr.strip():
        print(f"  (feedhub stderr: {run.stderr.strip()[:300]})")
    stats = srv.stats()
    if stats.get(expect, 0) != len(srv_urls(cfg)):
        print(f"  warning: expected {len(srv_urls(cfg))} × {expect}, server sent {stats}")
    return run


def srv_urls(cfg: Path) -> list[str]:
    return [s["url"] for s in json.loads(cfg.read_text())["sources"]]


def feedhub_inprocess(cfg: Path, workers: int | None = None) -> tuple[float, float, list[Any]]:
    from feedhub.config import load_config
    from feedhub.ingest.run import ingest
    from feedhub.store import Store

    def run() -> list[Any]:
        config = load_config(cfg)
        store = Store.open(config.store_url)
        try:
            return asyncio.run(ingest(config, store, None, workers=workers))
        finally:
            store.close()

    return timed(run)


def reader_update(urls: list[str], db: Path) -> tuple[float, float, int]:
    from reader import make_reader

    def run() -> int:
        r = make_reader(str(db))
        try:
            for u in urls:
                r.add_feed(u)
            r.update_feeds()
            return r.get_entry_counts().total
        finally:
            r.close()

    return timed(run)


# ---------------------------------------------------------------------------- breakdown


class StageTimers:
    """Wraps module-level functions with timers (wall and this thread's CPU; restored on exit)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.order: list[str] = []
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)
        if label not in self.order:
            self.order.append(label)

        def timed_fn(*a: Any, **kw: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                self.wall[label] += time.perf_counter() - t
                self.cpu[label] += time.thread_time() - c
                self.calls[label] += 1

        self._undo.append((owner, name, fn))
        setattr(owner, name, timed_fn)

    def restore(self) -> None:
        for owner, name, fn in reversed(self._undo):
            setattr(owner, name, fn)
        self._undo.clear()


@contextmanager
def sequential() -> Iterator[None]:
    """Run ``asyncio.to_thread`` work inline, so every CPU stage runs on one thread, one at a
    time (with ``workers=1`` parsing runs on the loop too): stage times then add up."""
    orig = asyncio.to_thread

    async def inline(fn: Callable[..., Any], /, *a: Any, **kw: Any) -> Any:
        return fn(*a, **kw)

    asyncio.to_thread = inline  # type: ignore[assignment]
    try:
        yield
    finally:
        asyncio.to_thread = orig


@contextmanager
def instrumented() -> Iterator[StageTimers]:
    import feedhub.dedupe.cluster as sdedupe
    import feedhub.dedupe.features as features
    import feedhub.ingest.run as run
    import feedhub.ingest.worker as worker
    import feedhub.parse as parse
    import feedhub.parse.feed as pfeed
    import feedhub.parse.normalize as norm
    import feedhub.topics as topics
    from feedhub.ingest.pool import load_parse_stage

    load_parse_stage()  # what the parse pool imports before forking
    import feedhub.related.semantic as semantic

    # The text-vector model loads on the first article (~1 s): not any one format's cost.
    semantic.article_vectors([("warm up", "", "<p>the model loads on first use</p>")])
    # Its word cache starts empty, as in a fresh `feedhub fetch` (else a format measured
    # after another with the same words would look cheaper).
    semantic._Words._current = None
    t = StageTimers()
    t.wrap(run, "sync_sources", "sync_sources")
    t.wrap(run, "refile_topics", "refile_if_rules_changed")
    t.wrap(worker, "parse_job", "parse (parse_job, in the worker)")
    t.wrap(pfeed.feedparser, "parse", "  feedparser.parse (sanitize_html=False)")
    t.wrap(pfeed.fastxml, "parse", "  fastxml.parse (lxml fast path, #17)")
    t.wrap(parse, "parse_json_feed", "  parse_json_feed (JSON Feed, all of it)")
    t.wrap(norm, "clean_html", "  nh3 clean_html")
    t.wrap(worker, "prepare_articles", "prepare (prepare_articles, in the worker)")
    t.wrap(features, "extract_many", "  dedupe features (extract_many: MinHash…, a feed at once)")
    t.wrap(semantic, "article_vectors", "  text vectors (article_vectors, a feed at once)")
    t.wrap(topics.CompiledRules, "match", "  topic matching (CompiledRules.match)")
    t.wrap(run.Ingester, "_apply", "store transaction (Ingester._apply)")
    t.wrap(run, "apply_source_update", "  apply_source_update")
    t.wrap(run, "existing_hashes", "  existing_hashes + tombstoned")
    t.wrap(run, "tombstoned", "  existing_hashes + tombstoned")
    t.wrap(run, "decide_articles", "  decide_articles")
    t.wrap(run, "apply_changes", "  apply_changes (article rows)")
    t.wrap(sdedupe, "dedupe_articles", "  dedupe_articles (SQL)")
    t.wrap(run, "file_articles", "  file_articles (topics)")
    try:
        with sequential():
            yield t
    finally:
        t.restore()


def import_time() -> float:
    env = bench_env()
    runs = []
    for _ in range(3):
        runs.append(run_process(
            [sys.executable, "-c", "import feedhub.cli, feedhub.ingest.run"], env=env).wall)
    return statistics.median(runs)


def bare_python() -> float:
    return statistics.median(run_process([sys.executable, "-c", "pass"]).wall for _ in range(3))


def profile_inprocess(cfg: Path, top: int) -> str:
    """cProfile of a sequential in-process ingest (one thread: parse and store inline)."""
    prof = cProfile.Profile()
    with sequential():
        prof.enable()
        feedhub_inprocess(cfg, workers=1)
        prof.disable()
    s = io.StringIO()
    st = pstats.Stats(prof, stream=s)
    st.sort_stats("cumulative").print_stats(top)
    st.sort_stats("tottime").print_stats(top)
    return s.getvalue()


# ---------------------------------------------------------------------------- main


def main() -> None:
    if sys.argv[1:] == ["--alone-child"]:
        return alone_child()
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--formats", default="rss",
                    help="comma-separated formats, or 'all': " + ", ".join(FORMATS) +
                         " (default rss: the original RSS 2.0 corpus)")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--entries", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of feedparser-alone, feedhub fetch and refetch")
    ap.add_argument("--inprocess-repeat", type=int, default=1,
                    help="rounds that also run the in-process ingest")
    ap.add_argument("--reader-repeat", type=int, default=1, help="rounds that also run reader")
    ap.add_argument("--per-host", type=int, default=20,
                    help="fetch.per_host (all feeds share 127.0.0.1; 200 real feeds would "
                         "be on ~200 hosts, so the default lifts feedhub's cap of 2)")
    ap.add_argument("--concurrency", type=int, default=20, help="fetch.concurrency")
    ap.add_argument("--no-reader", action="store_true")
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--profile", type=int, metavar="N", default=0,
                    help="also print the top N functions of a cProfile'd sequential ingest")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="feedhub-bench-ingest-"))
    try:
        run_all(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


@dataclass
class FormatResult:
    """One format's medians (seconds) and what they were measured on, for the summary."""

    fmt: str
    baseline: str  # what "alone" was: feedparser, or the JSON Feed stand-in (see json_alone)
    items: int
    kb_per_item: float
    alone: float
    feedhub: float
    alone_cpu: float
    feedhub_cpu: float  # the subprocess and its parse workers
    refetch_ms: float
    reader: float | None
    breakdown: dict[str, float] = field(default_factory=dict)  # stage → CPU ms per feed


def run_all(args: argparse.Namespace, work: Path) -> None:
    formats = FORMATS if args.formats == "all" else tuple(
        f.strip() for f in args.formats.split(","))
    for f in formats:
        if f not in FORMATS:
            sys.exit(f"unknown format {f!r}: one of {', '.join(FORMATS)} or 'all'")
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    gens = {}
    for fmt in formats:
        t0 = time.perf_counter()
        gen = gens[fmt] = generate_feeds(args.feeds, args.entries, fmt=fmt)
        www = work / "www" / fmt
        www.mkdir(parents=True)
        for name, body in gen.bodies.items():
            (www / gen.files[name]).write_bytes(body)
        print(
            f"corpus {fmt}: {len(gen.bodies)} feeds × {args.entries} items = {gen.items} items, "
            f"{gen.total_bytes / 1e6:.1f} MB ({gen.total_bytes / gen.items / 1000:.2f} KB/item), "
            f"{gen.copies} syndicated copies; generated in {time.perf_counter() - t0:.1f}s"
        )
    results = []
    with FeedServer(work / "www") as srv:
        print(f"server: {srv.base} (separate process, aiohttp; ETag/Last-Modified → 304)")
        print(f"feedhub config: fetch.concurrency={args.concurrency} "
              f"fetch.per_host={args.per_host}, 10 topics, dedupe on (defaults otherwise)")
        for fmt in formats:
            print(f"\n######## format {fmt} ########")
            results.append(run_format(args, work, srv, fmt, gens[fmt]))
    if len(results) > 1:
        print_summary(results)


def run_format(
    args: argparse.Namespace, work: Path, srv: FeedServer, fmt: str, gen: GeneratedFeeds
) -> FormatResult:
    b = Bench(args, work)
    b.urls = [(name, srv.url(f"{fmt}/{gen.files[name]}")) for name in gen.bodies]
    urls = [u for _, u in b.urls]
    bodies = [srv.get(f"{fmt}/{gen.files[name]}") for name in gen.bodies]
    assert bodies == list(gen.bodies.values())
    kinds = [gen.formats[name] for name in gen.bodies]
    paths = [work / "www" / fmt / gen.files[name] for name in gen.bodies]
    has_json = "json" in kinds
    baseline = ("feedparser alone" if not has_json else
                "json.loads + feedparser's sanitizer/URL resolution" if set(kinds) == {"json"}
                else "feedparser alone (XML) + json.loads + feedparser's sanitizer (JSON)")
    n = len(bodies)
    fp_wall, fp_cpu = [], []
    fh_proc: list[ProcRun] = []
    fh_refetch: list[ProcRun] = []
    fh_inproc, fh_inproc_cpu, fh_inproc_refetch = [], [], []
    rd_wall, rd_cpu = [], []
    articles = entries = rd_entries = 0
    for r in range(args.repeat):
        print(f"round {r + 1}/{args.repeat}: {baseline}…", end="", flush=True)
        w, c, entries = parse_alone(paths, kinds)
        fp_wall.append(w)
        fp_cpu.append(c)
        print(f" {w:.2f}s; feedhub fetch…", end="", flush=True)
        cfg = b.config(f"{fmt}-proc{r}")
        fh_proc.append(feedhub_process(cfg, srv, "200"))
        articles = count_articles(cfg)
        print(f" {fh_proc[-1].wall:.2f}s; refetch…", end="", flush=True)
        fh_refetch.append(feedhub_process(cfg, srv, "304"))
        print(f" {fh_refetch[-1].wall:.2f}s", end="", flush=True)
        if r < args.inprocess_repeat:
            print("; in-process…", end="", flush=True)
            cfg = b.config(f"{fmt}-inproc{r}")
            w, c, _ = feedhub_inprocess(cfg)
            fh_inproc.append(w)
            fh_inproc_cpu.append(c)
            w2, _, reps = feedhub_inprocess(cfg)
            fh_inproc_refetch.append(w2)
            assert all(x.outcome == "not-modified" for x in reps), {x.outcome for x in reps}
            print(f" {w:.2f}s / refetch {w2:.2f}s", end="", flush=True)
        if not args.no_reader and r < args.reader_repeat:
            print("; reader…", end="", flush=True)
            w, c, rd_entries = reader_update(urls, work / f"reader-{fmt}{r}.sqlite")
            rd_wall.append(w)
            rd_cpu.append(c)
            print(f" {w:.2f}s ({rd_entries} entries)", end="")
        print()

    breakdown = None
    if not args.no_breakdown:
        cfg = b.config(f"{fmt}-breakdown")
        with instrumented() as timers:
            w, c, _ = feedhub_inprocess(cfg, workers=1)
        breakdown = (w, c, timers)
    py0 = bare_python()
    imp = import_time()
    prof = (profile_inprocess(b.config(f"{fmt}-profile"), args.profile)
            if args.profile else "")

    med = statistics.median
    fh = med(x.wall for x in fh_proc)
    fp = med(fp_wall)
    rows = [
        [f"{baseline} (sequential, in-process)", summary(fp_wall),
         f"{med(fp_cpu):.2f}", "", f"{n / fp:.0f}", f"{entries}"],
        ["feedhub fetch (subprocess, fresh store)", summary([x.wall for x in fh_proc]),
         f"{med(x.cpu for x in fh_proc):.2f}", f"{med(x.max_rss_mb for x in fh_proc):.0f}",
         f"{n / fh:.0f}", f"{articles}"],
    ]
    if fh_inproc:
        rows.append(["feedhub ingest() in-process, fresh store", summary(fh_inproc),
                     f"{med(fh_inproc_cpu):.2f}*", "", f"{n / med(fh_inproc):.0f}", ""])
    if rd_wall:
        rows.append(["reader update_feeds (defaults, fresh db)", summary(rd_wall),
                     f"{med(rd_cpu):.2f}", "", f"{n / med(rd_wall):.0f}", f"{rd_entries}"])
    print(f"\n== first ingest: {n} sources, nothing stored yet (median of the rounds, "
          "(min–max)) ==")
    print(table(rows, ["run", "wall s", "CPU s", "peak RSS MB", "feeds/s", "entries"]))
    print("* CPU of the benchmark process only (parse workers are not counted); the "
          "subprocess CPU includes its parse workers.")
    print(f"feedhub used {med(x.cpu for x in fh_proc) / fh:.2f} of {os.cpu_count()} cores "
          f"(CPU/wall); its CPU is {med(x.cpu for x in fh_proc) / med(fp_cpu):.2f}× "
          "feedparser-alone's, so on 2 idle cores its wall time is at least "
          f"{med(x.cpu for x in fh_proc) / 2 / fp:.2f}× feedparser-alone. "
          f"Load average now {os.getloadavg()[0]:.2f} (other processes share these cores).")

    refetch = med(x.wall for x in fh_refetch)
    refetch_cpu = med(x.cpu for x in fh_refetch)
    rows = [
        ["feedhub fetch (subprocess, all 304)", summary([x.wall for x in fh_refetch]),
         f"{refetch_cpu:.2f}", f"{refetch / n * 1000:.2f}", f"{refetch_cpu / n * 1000:.2f}",
         f"{med(x.max_rss_mb for x in fh_refetch):.0f}"],
        ["python -c pass", f"{py0:.3f}", "", "", "", ""],
        ["python -c 'import feedhub.cli, feedhub.ingest.run'", f"{imp:.3f}", "", "", "", ""],
    ]
    if fh_inproc_refetch:
        rows.insert(1, ["feedhub ingest() in-process (all 304)", summary(fh_inproc_refetch), "",
                        f"{med(fh_inproc_refetch) / n * 1000:.2f}", "", ""])
    print("\n== unchanged refetch: same store, server answers 304 ==")
    print(table(rows, ["run", "wall s", "CPU s", "ms/source", "CPU ms/source",
                       "peak RSS MB"]))

    rows = [
        [f"feedhub / {baseline}", f"{fh / fp:.2f}", f"≤ {TARGET_FEEDPARSER}",
         verdict(fh / fp <= TARGET_FEEDPARSER)],
    ]
    if rd_wall:
        rd = med(rd_wall)
        rows.append(["feedhub / reader", f"{fh / rd:.2f}", f"< {TARGET_READER}",
                     verdict(fh / rd < TARGET_READER)])
    ms = refetch / n * 1000
    rows.append(["unchanged refetch, ms per source", f"{ms:.2f}", f"< {TARGET_REFETCH_MS}",
                 verdict(ms < TARGET_REFETCH_MS)])
    print("\n== targets (issue 2; feedhub = whole `feedhub fetch` subprocess) ==")
    print(table(rows, ["ratio", "value", "target", "verdict"]))

    if breakdown:
        w, c, t = breakdown
        rows = [[label, f"{t.wall[label]:.2f}", f"{t.cpu[label]:.2f}",
                 f"{t.wall[label] / w * 100:.0f}%", f"{t.cpu[label] / n * 1000:.1f}",
                 str(t.calls[label])] for label in t.order]
        top = ("sync_sources", "refile_if_rules_changed", "parse (parse_job, in the worker)",
               "prepare (prepare_articles, in the worker)",
               "store transaction (Ingester._apply)")
        rest_w, rest_c = w - sum(t.wall[k] for k in top), c - sum(t.cpu[k] for k in top)
        rows.append(["other (fetch, event loop, aiohttp, config, store open)",
                     f"{rest_w:.2f}", f"{rest_c:.2f}", f"{rest_w / w * 100:.0f}%",
                     f"{rest_c / n * 1000:.1f}", ""])
        rows.append(["(whole sequential ingest)", f"{w:.2f}", f"{c:.2f}", "100%",
                     f"{c / n * 1000:.1f}", ""])
        print("\n== breakdown: in-process ingest run sequentially on one thread (workers=1, "
              "store work inline) ==")
        print(table(rows, ["stage", "wall s", "CPU s", "share", "CPU ms/feed", "calls"]))
        print(f"start-up: interpreter {py0 * 1000:.0f} ms, feedhub imports "
              f"{(imp - py0) * 1000:.0f} ms; subprocess − in-process = "
              + (f"{(fh - med(fh_inproc)) * 1000:.0f} ms" if fh_inproc else "–"))
    if prof:
        print("\n== cProfile: sequential in-process ingest ==")
        print(prof)


    return FormatResult(
        fmt=fmt, baseline=baseline, items=gen.items,
        kb_per_item=gen.total_bytes / gen.items / 1000, alone=fp, feedhub=fh,
        alone_cpu=med(fp_cpu), feedhub_cpu=med(x.cpu for x in fh_proc),
        refetch_ms=ms, reader=med(rd_wall) if rd_wall else None,
        breakdown={label: breakdown[2].cpu[label] / n * 1000 for label in breakdown[2].order}
        if breakdown else {},
    )


def print_summary(results: list[FormatResult]) -> None:
    """One row per format: the ratios and verdicts against issue 17's targets."""
    rows = []
    for x in results:
        rd = f"{x.feedhub / x.reader:.2f} {verdict(x.feedhub / x.reader <= TARGET_READER)}" \
            if x.reader else "–"
        rows.append([
            x.fmt, f"{x.kb_per_item:.1f}", f"{x.alone:.2f}", f"{x.feedhub:.2f}",
            f"{x.reader:.2f}" if x.reader else "–",
            f"{x.feedhub / x.alone:.2f} {verdict(x.feedhub / x.alone <= TARGET_FEEDPARSER)}",
            rd, f"{x.refetch_ms:.2f} {verdict(x.refetch_ms <= TARGET_REFETCH_MS)}",
            f"{x.feedhub_cpu / x.alone_cpu:.2f}",
        ])
    print("\n== per format (medians of the rounds; feedhub = whole `feedhub fetch` subprocess) ==")
    print(table(rows, ["format", "KB/item", "alone s", "feedhub s", "reader s",
                       f"fh/alone ≤{TARGET_FEEDPARSER}", f"fh/reader ≤{TARGET_READER}",
                       f"refetch ms ≤{TARGET_REFETCH_MS:g}", "CPU fh/alone"]))
    print("CPU fh/alone: feedhub's CPU (its parse workers included) over the yardstick's; on "
          "2 idle cores feedhub's wall time is at least half of it × the yardstick's wall.")
    for x in results:
        if x.baseline != "feedparser alone":
            print(f"  {x.fmt}: 'alone' = {x.baseline} (feedparser does not read JSON Feed)")
    labels = [k for k in results[0].breakdown if any(k in x.breakdown for x in results)]
    if labels:
        print("\n== breakdown per format: CPU ms per feed, sequential in-process ingest ==")
        print(table([[k] + [f"{x.breakdown.get(k, 0):.1f}" for x in results] for k in labels],
                    ["stage", *(x.fmt for x in results)]))
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
