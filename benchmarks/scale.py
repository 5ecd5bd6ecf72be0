"""Scale-out benchmark: ingest throughput of 1, 2 and 4 workers on PostgreSQL next to one
SQLite process, in one run.

Run from the repository root:
    .venv/bin/python benchmarks/scale.py [--workers 1,2,4] [--repeat 1]
        [--pg postgresql://postgres@127.0.0.1:5432] [--mode partition|role|both]

Serves 200 generated RSS 2.0 feeds × 50 items (common.py: the same corpus as ingest.py)
from an aiohttp server in a separate process on 127.0.0.1, then measures first ingests into
fresh stores:

* **SQLite, one process**: ``feedhub -q fetch`` into a new SQLite file (the baseline);
* **PostgreSQL, N workers** for each N of ``--workers``: a new database (created, migrated
  with ``feedhub store migrate`` outside the timing, dropped afterwards), then N worker
  processes at once. ``--mode partition``: N ``feedhub -q fetch --source …`` processes over
  disjoint round-robin partitions of the sources (works without leases). ``--mode role``:
  N ``feedhub -q run --once --role fetch`` processes that share the due sources through
  source leases. Timed from the first spawn to the last exit.

Each run prints wall time, articles/s and sources/s, the CPU of the feedhub processes (parse
workers included) and of the PostgreSQL server (its backends, from the postmaster's
children's rusage when readable), the articles and dedupe clusters stored, and ratios
against the SQLite process. Every worker config is the ingest.py one (``fetch.per_host:
20``, ``fetch.concurrency: 20``, 10 topics, dedupe on); every feedhub process forks its own
parse pool (one parser per core), so N workers mean N × cores parsers on the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # common.py puts src/ (or FEEDHUB_BENCH_SRC) on sys.path
    FeedServer,
    bench_env,
    generate_feeds,
    machine,
    table,
    write_config,
)

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class Run:
    """One measured ingest: N processes into one fresh store."""

    label: str
    workers: int
    wall: float
    cpu: float  # feedhub processes and their parse workers
    db_cpu: float | None  # PostgreSQL backends (None: SQLite, or not readable)
    articles: int
    clusters: int
    errors: int  # non-empty stderr lines of the workers (errors and warnings)


# ---------------------------------------------------------------- worker commands


def feedhub(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "feedhub", "-c", str(cfg), "-q", *args]


def partition_commands(cfg: Path, names: Sequence[str], n: int) -> list[list[str]]:
    """N ``feedhub fetch --source …`` commands over disjoint round-robin partitions."""
    parts = [names[i::n] for i in range(n)]
    return [feedhub(cfg, "fetch", *(a for name in part for a in ("--source", name)))
            for part in parts if part]


def role_commands(cfg: Path, names: Sequence[str], n: int) -> list[list[str]]:
    """N ``feedhub run --once --role fetch`` workers; source leases share the due sources."""
    return [feedhub(cfg, "run", "--once", "--role", "fetch") for _ in range(n)]


MODES: dict[str, tuple[str, Callable[[Path, Sequence[str], int], list[list[str]]]]] = {
    "partition": ("`feedhub fetch --source …` over disjoint partitions", partition_commands),
    "role": ("`feedhub run --once --role fetch` (source leases)", role_commands),
}


def role_available() -> bool:
    """Does this feedhub have ``run --role`` (the leases work)?"""
    r = subprocess.run([sys.executable, "-m", "feedhub", "run", "--help"], env=bench_env(),
                       capture_output=True, text=True)
    return "--role" in r.stdout


# ---------------------------------------------------------------- processes and stores


def run_together(commands: Sequence[Sequence[str]]) -> tuple[float, float, list[str]]:
    """Start every command at once; (wall to the last exit, summed CPU, stderr lines)."""
    env = bench_env()
    started = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for c in commands]
    cpu = 0.0
    lines: list[str] = []
    for p in procs:  # stderr is small (errors only, -q): reading in turn cannot deadlock
        assert p.stderr is not None
        lines += [x for x in p.stderr.read().splitlines() if x.strip()]
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += ru.ru_utime + ru.ru_stime
        if p.returncode != 0:
            lines.append(f"(exit {p.returncode}: {' '.join(c for c in p.args[4:7])}…)")
    return time.perf_counter() - started, cpu, lines


@contextmanager
def pg_database(server: str, name: str) -> Iterator[str]:
    """A new database on ``server``, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine

    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def postmaster_cpu(server: str) -> Callable[[], float | None]:
    """A reader of the PostgreSQL server's CPU seconds so far, backends that exited
    included (the postmaster's cutime + cstime); it returns None when /proc is not ours."""
    from sqlalchemy import create_engine

    eng = create_engine(f"{server}/postgres")
    try:
        with eng.connect() as c:  # read the backend's parent while the backend lives
            backend = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            ppid = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except Exception:  # another machine, or no permission: leave the column empty
        return lambda: None
    finally:
        eng.dispose()
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            f = Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # fields after the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
        return sum(int(x) for x in f[11:15]) / tick

    return read


def stored(url: str) -> tuple[int, int]:
    """(articles, dedupe clusters) in a store."""
    from sqlalchemy import func, select

    from feedhub.store.db import create_store_engine
    from feedhub.store.schema import articles

    eng = create_store_engine(url)
    try:
        with eng.connect() as c:
            n = c.scalar(select(func.count()).select_from(articles)) or 0
            k = c.scalar(select(func.count(func.distinct(articles.c.cluster_id)))) or 0
            return n, k
    finally:
        eng.dispose()


# ---------------------------------------------------------------- the runs


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, urls: list[tuple[str, str]]):
        self.args = args
        self.work = work
        self.urls = urls
        self.names = [n for n, _ in urls]
        self.n = 0

    def config(self, tag: str, store: str | Path) -> Path:
        d = self.work / tag
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        cfg = write_config(d / "feedhub.yaml", self.urls, store=Path("feedhub.db"),
                           output=d / "feeds", per_host=self.args.per_host,
                           concurrency=self.args.concurrency)
        data = json.loads(cfg.read_text())
        data["store"] = str(d / "feedhub.db") if store == "sqlite" else {"url": str(store)}
        cfg.write_text(json.dumps(data, indent=1))
        return cfg

    def sqlite(self, rnd: int) -> Run:
        cfg = self.config(f"sqlite{rnd}", "sqlite")
        wall, cpu, errors = run_together([feedhub(cfg, "fetch")])
        articles, clusters = stored(f"sqlite:///{cfg.parent / 'feedhub.db'}")
        return Run("SQLite, 1 process (`feedhub fetch`)", 1, wall, cpu, None, articles,
                   clusters, len(errors))

    def postgres(self, rnd: int, n: int, mode: str) -> Run:
        self.n += 1
        name = f"feedhub_scale_{os.getpid()}_{self.n}"
        with pg_database(self.args.pg, name) as url:
            cfg = self.config(f"pg-{mode}-{n}-{rnd}", url)
            r = subprocess.run(feedhub(cfg, "store", "migrate"), env=bench_env(),
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"feedhub store migrate failed: {r.stderr.strip()}")
            server_cpu = postmaster_cpu(self.args.pg)
            before = server_cpu()
            wall, cpu, errors = run_together(MODES[mode][1](cfg, self.names, n))
            after = server_cpu()
            for line in errors[:3]:
                print(f"    worker stderr: {line[:200]}")
            articles, clusters = stored(url)
        db_cpu = after - before if before is not None and after is not None else None
        what = "fetch --source partitions" if mode == "partition" else "run --role fetch"
        return Run(f"PostgreSQL, {n} worker{'s' * (n > 1)} ({what})", n, wall, cpu, db_cpu,
                   articles, clusters, len(errors))


def median_run(runs: list[Run]) -> Run:
    """Medians of the rounds' times; the counts of the round with the median wall time."""
    mid = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
    db = [r.db_cpu for r in runs if r.db_cpu is not None]
    return replace(
        mid,
        wall=statistics.median(r.wall for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
        db_cpu=statistics.median(db) if db else None,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--entries", type=int, default=50)
    ap.add_argument("--workers", default="1,2,4", help="worker counts on PostgreSQL")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (median wall reported)")
    ap.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (databases are "
                    "created and dropped on it)")
    ap.add_argument("--mode", choices=["partition", "role", "both", "auto"], default="auto",
                    help="how N workers split the sources (auto: role when `feedhub run` "
                         "has --role, else partition)")
    ap.add_argument("--per-host", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    args.pg = args.pg.rstrip("/")
    if args.mode == "auto":
        args.mode = "role" if role_available() else "partition"
        if args.mode == "partition":
            print("note: `feedhub run --role fetch` is not available in this feedhub; the "
                  "workers are `feedhub fetch --source …` processes over disjoint partitions")
    elif args.mode in ("role", "both") and not role_available():
        sys.exit("--mode role: this feedhub has no `feedhub run --role`")
    modes = ["partition", "role"] if args.mode == "both" else [args.mode]

    work = Path(tempfile.mkdtemp(prefix="feedhub-bench-scale-"))
    try:
        run_all(args, work, modes)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, work: Path, modes: list[str]) -> None:
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    gen = generate_feeds(args.feeds, args.entries)
    www = work / "www" / "feeds"
    www.mkdir(parents=True)
    for name, body in gen.bodies.items():
        (www / f"{name}.xml").write_bytes(body)
    print(f"corpus: {len(gen.bodies)} feeds × {args.entries} items = {gen.items} items, "
          f"{gen.total_bytes / 1e6:.1f} MB, {gen.copies} syndicated copies")
    counts = [int(x) for x in args.workers.split(",") if x]
    for mode in modes:
        print(f"PostgreSQL workers: {MODES[mode][0]}")
    with FeedServer(work / "www") as srv:
        b = Bench(args, work, [(name, srv.url(f"feeds/{name}.xml")) for name in gen.bodies])
        print(f"server: {srv.base} (separate process); PostgreSQL: {args.pg}\n")
        results: dict[tuple[str, int], list[Run]] = {}
        for rnd in range(args.repeat):
            print(f"round {rnd + 1}/{args.repeat}: SQLite…", end="", flush=True)
            results.setdefault(("sqlite", 1), []).append(b.sqlite(rnd))
            print(f" {results['sqlite', 1][-1].wall:.2f}s", end="", flush=True)
            for mode in modes:
                for n in counts:
                    print(f"; PG {mode} ×{n}…", end="", flush=True)
                    results.setdefault((mode, n), []).append(b.postgres(rnd, n, mode))
                    print(f" {results[mode, n][-1].wall:.2f}s", end="", flush=True)
            print()
    report(results, len(gen.bodies))


def report(results: dict[tuple[str, int], list[Run]], sources: int) -> None:
    base = median_run(results["sqlite", 1])
    rows = []
    for runs in results.values():
        r = median_run(runs)
        walls = [x.wall for x in runs]
        spread = f" ({min(walls):.2f}–{max(walls):.2f})" if len(walls) > 1 else ""
        rows.append([
            r.label, f"{r.wall:.2f}{spread}", f"{r.articles / r.wall:.0f}",
            f"{sources / r.wall:.1f}", f"{base.wall / r.wall:.2f}×", f"{r.cpu:.1f}",
            "-" if r.db_cpu is None else f"{r.db_cpu:.1f}", str(r.articles), str(r.clusters),
            str(r.errors),
        ])
    print("\n== first ingest into a fresh store (median of the rounds) ==")
    print(table(rows, ["run", "wall s", "articles/s", "sources/s", "vs SQLite",
                       "feedhub CPU s", "PG CPU s", "articles", "clusters", "stderr lines"]))
    print("vs SQLite: throughput relative to the one SQLite process (higher is faster). "
          f"{os.cpu_count()} cores are shared by feedhub, its parse workers and PostgreSQL; "
          f"load average now {os.getloadavg()[0]:.2f}.")
    bad = [r for runs in results.values() for r in runs if r.articles != base.articles]
    if bad:
        print("warning: article counts differ from SQLite's: "
              + ", ".join(f"{r.label}: {r.articles}" for r in bad))


if __name__ == "__main__":
    main()
