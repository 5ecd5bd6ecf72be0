"""Soak test of ``feedhub run``: 1,000 sources, intervals of seconds, ten minutes (issue 5).

    .venv/bin/python benchmarks/soak.py [--duration 600] [--sources 1000] [--warmup S]

What it does:

* generates ``--sources`` RSS feeds (benchmarks/common.py's corpus, ``--entries`` items each,
  the ``<ttl>`` removed so the configured interval rules) and serves them from a SEPARATE
  process on 127.0.0.1 (benchmarks/soak_server.py, aiohttp). Behaviours: most answer 304
  to a conditional GET (strong ETag); 3 % are slow (2–5 s); 2 % always answer 500, 1 %
  reset the connection, 1 % fail every third request; 2 % change every third fetch;
* writes a config with per-source intervals of 5–15 s, jitter 10 %, ``schedule.max_interval``
  60 s (so failing sources, backed off, are still fetched during the run), fetch
  ``concurrency``/``per_host`` 50 (every source shares the host 127.0.0.1, so the per-host
  cap IS the global cap: 50 leaves room for the ~30 slow sources while ~100 fetches/s of
  fast 304s flow), a 10 s fetch timeout and ``retention.max_age`` 3650d (the corpus is dated
  January 2026: the default 180 days would delete everything a minute in);
* starts ``python -m feedhub -c CFG -q run --log-format json`` as a real subprocess, samples
  it (RSS and fds of it and its parse workers every 5 s, a running publish child apart;
  ``sources.next_due`` from the store every second over a read-only SQLite connection) for
  ``--duration`` seconds, then sends SIGTERM and times the exit;
* prints the results with PASS/MISS against the issue's targets.

Everything lives in a temp dir (``--keep`` keeps it); the server and feedhub run in their
own process groups and are killed (with the parse workers) on any exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import BENCH_TOPICS, SRC, bench_env, generate_feeds, machine, table  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

MEMORY_TOLERANCE = 0.10  # end RSS within 10 % of the post-warm-up RSS
P99_TARGET = 5.0  # seconds
EXIT_TARGET = 10.0  # SIGTERM → exit 0 within 10 s (issue 5, item 3)
FD_SLACK = 10  # fds: "flat" = end ≤ start + this many

MIX = (  # (kind, share of the sources)
    ("slow", 0.03),
    ("fail500", 0.02),
    ("reset", 0.01),
    ("flaky", 0.01),
    ("changing", 0.02),
)

LATENESS_DEFINITION = """\
lateness = (arrival time of the request at the feed server, its wall clock, taken before any
           slow-source delay) − (sources.next_due that the store held for that source just
           before the arrival). next_due is what feedhub itself wrote after the previous fetch
           completed: completion + interval ± jitter, or later after error backoff / Retry-After.
           The store is read every second (read-only SQLite); each arrival is matched to the
           newest sample taken before it (a due time cannot change in the ~1 s gap: the
           shortest interval is 4.5 s). Each source's first fetch is left out (its due
           time is the start-up: that delay is start-up throughput, printed on its own).
           Negative = fetched early. 'overdue at end' counts sources whose due time passed
           more than 5 s before the end without a fetch (not in the percentiles)."""


# ------------------------------------------------------------------------ processes


@dataclass
class Sample:
    t: float  # seconds since feedhub started
    rss_main_kb: int
    rss_children_kb: int
    children: int
    fds_main: int
    fds_children: int
    cpu_s: float  # utime+stime of the tree (children alive now, plus reaped ones)
    cpu_service_s: float = 0.0  # the main process and its parse workers, no publish child
    rss_publish_kb: int = 0  # the publish child, when one runs (not in rss_children_kb)


def _proc_table() -> dict[int, int]:
    """pid → ppid for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        out[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def group_members(pgid: int) -> list[int]:
    """Processes still in process group ``pgid`` (the workers outlive a killed parent)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                out.append(int(d))
    return out


def descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = defaultdict(list)
    for p, pp in _proc_table().items():
        kids[pp].append(p)
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cpu_seconds(pid: int, *, with_reaped: bool) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(f[11]) + int(f[12])  # utime, stime
    if with_reaped:
        ticks += int(f[13]) + int(f[14])  # cutime, cstime (waited-for children)
    return ticks / CLK_TCK


def is_publish_child(pid: int) -> bool:
    """The service's transient ``feedhub publish --background`` child (see publisher.py)."""
    try:
        return b"publish\x00--background" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def sample_tree(pid: int, t: float) -> Sample:
    """One sample of feedhub's process tree. A publish child comes and goes with each
    publish (~140 MiB while it runs): it is kept apart, or the memory target would compare
    a sample with one against a sample without."""
    kids = descendants(pid)
    publishing = [k for k in kids if is_publish_child(k)]
    workers = [k for k in kids if k not in publishing]
    return Sample(
        t=t,
        rss_main_kb=rss_kb(pid),
        rss_children_kb=sum(rss_kb(k) for k in workers),
        rss_publish_kb=sum(rss_kb(k) for k in publishing),
        children=len(workers),
        fds_main=fd_count(pid),
        fds_children=sum(fd_count(k) for k in workers),
        cpu_s=cpu_seconds(pid, with_reaped=True)
        + sum(cpu_seconds(k, with_reaped=False) for k in kids),
        cpu_service_s=cpu_seconds(pid, with_reaped=False)
        + sum(cpu_seconds(k, with_reaped=False) for k in workers),
    )


class Group:
    """A child process started in its own process group; ``kill()`` takes the group down."""

    def __init__(self, args: list[str], **kw: Any) -> None:
        self.proc = subprocess.Popen(args, start_new_session=True, **kw)
        self.pid = self.proc.pid

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 30) -> Any:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def get_text(url: str, timeout: float = 5) -> str:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def scrape(port: int) -> dict[str, float]:
    """feedhub's /metrics as {series: value}; {} when it does not answer within 2 s."""
    out: dict[str, float] = {}
    try:
        text = get_text(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except (OSError, ValueError):
        return out
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[k] = float(v)
    return out


def sweep_gaps(scraped: list[tuple[float, dict[str, float]]], end: float) -> tuple[float, int]:
    """(longest stretch in seconds with no completed sweep, /metrics scrapes unanswered)."""
    last_change, last_count, gap = 0.0, 0.0, 0.0
    for t, m in scraped:
        count = m.get("feedhub_sweeps_total")
        if count is None:
            continue
        if count != last_count:
            last_change, last_count = t, count
        gap = max(gap, t - last_change)
    return max(gap, end - last_change), sum(1 for _, m in scraped if not m)


# ------------------------------------------------------------------------ the store


class DueSampler:
    """``sources.next_due`` for every source, read every second; keeps the changes."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.conn: sqlite3.Connection | None = None
        self.history: dict[str, tuple[list[float], list[float | None]]] = {}
        self.samples = 0
        self.failures = 0
        self.last_ms = 0.0

    def sample(self) -> None:
        if self.conn is None:
            if not self.db.exists():
                return
            self.conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=2,
                                        isolation_level=None)
        started = time.time()
        try:
            rows = self.conn.execute("SELECT name, next_due FROM sources").fetchall()
        except sqlite3.Error:
            self.failures += 1
            return
        # The snapshot is no newer than now: match it to arrivals after this moment only.
        t = time.time()
        self.last_ms = (t - started) * 1000
        self.samples += 1
        for name, due in rows:
            due_t = _epoch(due) if due else None
            times, dues = self.history.setdefault(name, ([], []))
            if not dues or dues[-1] != due_t:
                times.append(t)
                dues.append(due_t)

    def due_before(self, name: str, t: float) -> float | None:
        h = self.history.get(name)
        if h is None:
            return None
        i = bisect.bisect_right(h[0], t) - 1
        return h[1][i] if i >= 0 else None

    def last_due(self, name: str) -> float | None:
        h = self.history.get(name)
        return h[1][-1] if h else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _epoch(value: str) -> float:
    """The store's naive-UTC text (SQLAlchemy on SQLite) → Unix time."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------ setup


def make_corpus(root: Path, n: int, entries: int, seed: int) -> dict[str, dict]:
    """Feed files in ``root/feeds`` and each source's behaviour (deterministic for a seed)."""
    feeds = root / "feeds"
    feeds.mkdir()
    gen = generate_feeds(n, entries, seed=seed)
    for name, body in gen.bodies.items():
        # <ttl>30</ttl> (minutes) would push every next_due 30 minutes out.
        (feeds / f"{name}.xml").write_bytes(body.replace(b"<ttl>30</ttl>\n", b""))
    names = sorted(gen.bodies)
    rng = random.Random(seed)
    order = names[:]
    rng.shuffle(order)
    behaviour = {name: {"kind": "static"} for name in names}
    i = 0
    for kind, share in MIX:
        for name in order[i:i + max(1, round(share * n))]:
            b: dict[str, Any] = {"kind": kind}
            if kind == "slow":
                b["delay"] = round(rng.uniform(2.0, 5.0), 2)
            if kind in ("flaky", "changing"):
                b["every"] = 3
            behaviour[name] = b
        i += max(1, round(share * n))
    return behaviour


def write_config(
    path: Path, base: str, behaviour: dict[str, dict], port: int, seed: int,
    *, per_host: int, concurrency: int,
) -> dict[str, float]:
    rng = random.Random(seed + 1)
    intervals = {name: float(rng.randint(5, 15)) for name in sorted(behaviour)}
    cfg = {
        "site": {"title": "soak", "base_url": f"http://127.0.0.1:{port}/", "author": "soak"},
        "store": str(path.parent / "store.db"),
        "output": {"dir": str(path.parent / "out"), "entries_per_feed": 50},
        "fetch": {"concurrency": concurrency, "per_host": per_host, "timeout": "10s",
                  "connect_timeout": "5s"},
        "schedule": {"interval": "10s", "jitter": 0.1, "min_interval": "1s",
                     "max_interval": "60s"},
        "retention": {"max_age": "3650d"},
        "server": {"host": "127.0.0.1", "port": port},
        "sources": [{"name": n, "url": f"{base}/feeds/{n}.xml", "interval": f"{iv:g}s"}
                    for n, iv in intervals.items()],
        "topics": [
            {"name": t, "title": t.replace("-", " ").title(), "keywords": list(kw),
             **({"categories": list(cats)} if cats else {})}
            for t, kw, cats in BENCH_TOPICS
        ],
    }
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return intervals


# ------------------------------------------------------------------------ analysis


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class Lateness:
    values: list[float] = field(default_factory=list)
    first_fetches: int = 0
    first_delays: list[float] = field(default_factory=list)  # start-up → first fetch
    late_at: list[float] = field(default_factory=list)  # when (s into the window) > target
    repeats: int = 0  # arrivals matched to a due time an earlier arrival already used
    repeat_examples: list[tuple[str, float]] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def lateness(
    events: list[list[Any]], dues: DueSampler, behaviour: dict[str, dict],
    t_from: float, t_to: float,
) -> Lateness:
    out = Lateness()
    used: set[tuple[str, float]] = set()
    fetched: set[str] = set()
    for name, arrival, _outcome in events:
        due = dues.due_before(name, arrival)
        if name not in fetched:
            # A new source's first fetch. The sources sync stores next_due = start-up time
            # for it, so its "lateness" would be how long the first sweep of all 1,000 new
            # sources took to reach it: start-up throughput, reported on its own line.
            fetched.add(name)
            out.first_fetches += 1
            if due is not None and t_from <= arrival <= t_to:
                out.first_delays.append(arrival - due)
            continue
        if due is None:
            continue
        if (name, due) in used:
            out.repeats += 1
            out.repeat_examples.append((name, arrival - due))
        used.add((name, due))
        if t_from <= arrival <= t_to:
            late = arrival - due
            out.values.append(late)
            if late > P99_TARGET:
                out.late_at.append(arrival - t_from)
            out.by_kind[behaviour[name]["kind"]].append(late)
    return out


def overdue_at_end(
    events: list[list[Any]], dues: DueSampler, end: float, slack: float = 5.0
) -> list[float]:
    last_arrival: dict[str, float] = {}
    for name, arrival, _ in events:
        last_arrival[name] = max(arrival, last_arrival.get(name, 0.0))
    out = []
    for name in dues.history:
        due = dues.last_due(name)
        if due is not None and due < end - slack and last_arrival.get(name, 0.0) < due:
            out.append(end - due)
    return out


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) in value per minute."""
    if len(points) < 3:
        return math.nan
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def f1(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


# ------------------------------------------------------------------------ main


def run(
    args: argparse.Namespace, tmp: Path, procs: list[Group], files: contextlib.ExitStack
) -> int:
    print(f"machine: {machine()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"code under test: {SRC}")
    print(f"temp dir: {tmp}")
    t0 = time.perf_counter()
    behaviour = make_corpus(tmp, args.sources, args.entries, args.seed)
    kinds = Counter(b["kind"] for b in behaviour.values())
    print(f"corpus: {args.sources} feeds × {args.entries} items in "
          f"{time.perf_counter() - t0:.1f}s; behaviours: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))

    spec = tmp / "server.json"
    spec.write_text(json.dumps({"dir": str(tmp / "feeds"), "sources": behaviour}))
    server_log = files.enter_context((tmp / "server.log").open("wb"))
    server = Group([sys.executable, str(HERE / "soak_server.py"), "serve", str(spec)],
                   stdout=subprocess.PIPE, stderr=server_log, text=True)
    procs.append(server)
    assert server.proc.stdout is not None
    base = server.proc.stdout.readline().strip()
    if not base.startswith("http://127.0.0.1:"):
        print(f"feed server did not start: {base!r}; see {tmp / 'server.log'}")
        return 1

    port = free_port()
    cfg = tmp / "feedhub.json"
    intervals = write_config(cfg, base, behaviour, port, args.seed,
                             per_host=args.per_host, concurrency=args.concurrency)
    ideal_rate = sum(1 / iv for iv in intervals.values())
    print(f"config: intervals 5–15 s (mean {statistics.fmean(intervals.values()):.1f} s), "
          f"jitter 10 %, max_interval 60 s, fetch concurrency {args.concurrency}, "
          f"per_host {args.per_host}, timeout 10 s → ideal ≈ {ideal_rate:.0f} fetches/s "
          f"if every source were fetched exactly on time")

    log_path = tmp / "feedhub.log"
    cmd = [sys.executable, "-m", "feedhub", "-c", str(cfg), "-q", "run", "--log-format", "json"]
    feedhub_log = files.enter_context(log_path.open("wb"))
    feedhub = Group(cmd, cwd=tmp, env=bench_env(), stdout=feedhub_log, stderr=subprocess.STDOUT)
    procs.append(feedhub)
    started_wall = time.time()
    started = time.monotonic()
    print(f"feedhub pid {feedhub.pid}: {' '.join(cmd[1:])}")
    print(f"running for {args.duration:g}s (warm-up {args.warmup:g}s) …", flush=True)

    dues = DueSampler(tmp / "store.db")
    samples: list[Sample] = []
    scraped: list[tuple[float, dict[str, float]]] = []  # /metrics every 5 s
    next_tree = 0.0
    next_report = 30.0
    died = None
    while (elapsed := time.monotonic() - started) < args.duration:
        if feedhub.proc.poll() is not None:
            died = feedhub.proc.returncode
            break
        dues.sample()
        if elapsed >= next_tree:
            samples.append(sample_tree(feedhub.pid, elapsed))
            scraped.append((elapsed, scrape(port)))
            next_tree += 5.0
        if elapsed >= next_report:
            s = samples[-1]
            try:
                st = get_json(f"{base}/_stats", timeout=5)
                served = st["requests"]
            except OSError:
                served = -1
            print(f"  t={elapsed:5.0f}s  requests={served}  rss={s.rss_main_kb / 1024:.0f}+"
                  f"{s.rss_children_kb / 1024:.0f} MiB  fds={s.fds_main}  cpu={s.cpu_s:.0f}s  "
                  f"load={os.getloadavg()[0]:.2f}", flush=True)
            next_report += 30.0
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started - elapsed)))
    end_wall = time.time()
    end_elapsed = time.monotonic() - started
    if died is None:
        dues.sample()
        samples.append(sample_tree(feedhub.pid, end_elapsed))
        scraped.append((end_elapsed, scrape(port)))
    load_end = os.getloadavg()

    # Stop: SIGTERM, time the exit, and the rusage of the whole run (reaped workers included).
    exit_code, exit_s, ru_cpu = died, math.nan, math.nan
    leftovers: list[int] = []
    if died is None:
        t_term = time.monotonic()
        os.kill(feedhub.pid, signal.SIGTERM)
        while time.monotonic() - t_term < 30:
            pid, status, ru = os.wait4(feedhub.pid, os.WNOHANG)
            if pid:
                exit_s = time.monotonic() - t_term
                exit_code = os.waitstatus_to_exitcode(status)
                feedhub.proc.returncode = exit_code
                ru_cpu = ru.ru_utime + ru.ru_stime
                break
            time.sleep(0.05)
        time.sleep(0.5)
        leftovers = group_members(feedhub.pid)
        if exit_code is None:
            print("feedhub did not exit within 30 s of SIGTERM: killing it")
    events = get_json(f"{base}/_events")
    stats = get_json(f"{base}/_stats")
    (tmp / "events.json").write_text(json.dumps(events))  # (name, arrival, outcome) per request
    dues.close()

    log_text = log_path.read_text(errors="replace")
    if died is not None:
        print(f"\nfeedhub EXITED EARLY with {died} after {end_elapsed:.0f}s; last log lines:")
        print("\n".join(log_text.splitlines()[-20:]))
        return 1

    # ---------------------------------------------------------------- numbers
    warm = args.warmup
    after = [s for s in samples if s.t >= warm]
    first = after[0] if after else samples[-1]
    last = samples[-1]

    def rss(s: Sample) -> float:
        return (s.rss_main_kb + s.rss_children_kb) / 1024

    ratio = rss(last) / rss(first) if rss(first) else math.nan
    mem_ok = abs(ratio - 1) <= MEMORY_TOLERANCE
    peak = max(samples, key=rss)
    fd_ok = last.fds_main <= first.fds_main + FD_SLACK

    warm_wall = started_wall + warm
    late_all = lateness(events, dues, behaviour, started_wall, end_wall)
    late_warm = lateness(events, dues, behaviour, warm_wall, end_wall)
    overdue = overdue_at_end(events, dues, end_wall)
    lv, la = late_warm.values, late_all.values

    after_events = [e for e in events if e[1] >= warm_wall]
    window = end_wall - warm_wall
    outcomes = Counter(e[2] for e in events)
    outcomes_after = Counter(e[2] for e in after_events)
    locked = sum(1 for line in log_text.splitlines() if "database is locked" in line)
    metric = scraped[-1][1] if scraped else {}
    sweeps = int(metric.get("feedhub_sweeps_total", 0))
    levels: Counter[str] = Counter()
    other: Counter[str] = Counter()  # warnings/errors that are not a failing source's fetch
    for line in log_text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            levels["non-json"] += 1
            other[line[:90]] += 1
            continue
        level = str(rec.get("level", "?")).lower()
        levels[level] += 1
        if level in ("warning", "error", "critical") and rec.get("logger") != "feedhub.fetch":
            other[f"{level} {rec.get('logger')}: {str(rec.get('msg'))[:90]}"] += 1

    # ---------------------------------------------------------------- report
    print()
    print(f"feedhub ran {end_elapsed:.0f}s; samples: {len(samples)} process, "
          f"{dues.samples} store ({dues.failures} failed reads); load average at end: "
          f"{' '.join(f'{x:.2f}' for x in load_end)}")
    print()
    print("Targets")
    rows = [
        ["RSS feedhub + parse workers (MiB)",
         f"{rss(first):.1f} @ {first.t:.0f}s", f"{rss(last):.1f} @ {last.t:.0f}s",
         f"ratio {ratio:.3f}", f"within ±{MEMORY_TOLERANCE:.0%}", mark(mem_ok)],
        ["lateness p99 after warm-up (s)", "", "", f1(pct(lv, 0.99)),
         f"< {P99_TARGET:g}", mark(pct(lv, 0.99) < P99_TARGET)],
        ["lateness p99 whole run (s)", "", "", f1(pct(la, 0.99)),
         f"< {P99_TARGET:g}", mark(pct(la, 0.99) < P99_TARGET)],
        ["open fds (main process)", str(first.fds_main), str(last.fds_main),
         f"{last.fds_main - first.fds_main:+d}", f"≤ +{FD_SLACK}", mark(fd_ok)],
        ["SIGTERM → exit", "", "", f"code {exit_code} in {f1(exit_s)}s",
         f"0 in < {EXIT_TARGET:g}s", mark(exit_code == 0 and exit_s < EXIT_TARGET)],
    ]
    print(table(rows, ["measure", "start (after warm-up)", "end", "result", "target", ""]))

    print()
    print("Memory and descriptors (every 5 s sample; start = first sample after warm-up)")
    pts = [(s.t, rss(s)) for s in after]
    rows = [
        ["RSS main process (MiB)", f"{first.rss_main_kb / 1024:.1f}",
         f"{last.rss_main_kb / 1024:.1f}", f"{max(s.rss_main_kb for s in samples) / 1024:.1f}",
         f"{slope_per_min([(s.t, s.rss_main_kb / 1024) for s in after]):+.2f}"],
        [f"RSS parse workers (MiB, {last.children} procs)",
         f"{first.rss_children_kb / 1024:.1f}", f"{last.rss_children_kb / 1024:.1f}",
         f"{max(s.rss_children_kb for s in samples) / 1024:.1f}",
         f"{slope_per_min([(s.t, s.rss_children_kb / 1024) for s in after]):+.2f}"],
        ["RSS total (MiB)", f"{rss(first):.1f}", f"{rss(last):.1f}",
         f"{rss(peak):.1f} @ {peak.t:.0f}s", f"{slope_per_min(pts):+.2f}"],
        ["RSS publish child, when running (MiB)", f"{first.rss_publish_kb / 1024:.1f}",
         f"{last.rss_publish_kb / 1024:.1f}",
         f"{max(s.rss_publish_kb for s in samples) / 1024:.1f}", ""],
        ["open fds main", str(first.fds_main), str(last.fds_main),
         str(max(s.fds_main for s in samples)),
         f"{slope_per_min([(s.t, s.fds_main) for s in after]):+.2f}"],
        ["open fds workers", str(first.fds_children), str(last.fds_children),
         str(max(s.fds_children for s in samples)),
         f"{slope_per_min([(s.t, s.fds_children) for s in after]):+.2f}"],
    ]
    print(table(rows, ["", "start", "end", "max", "slope /min"]))
    step = max(1, len(samples) // 12)
    print("RSS total over time (MiB): " + "  ".join(
        f"{s.t:.0f}s:{rss(s):.0f}" for s in samples[::step]))

    print()
    print("Lateness of fetches against their due times (seconds)")
    print(LATENESS_DEFINITION)
    rows = []
    for label, lat in (("after warm-up", late_warm), ("whole run", late_all)):
        v = lat.values
        rows.append([label, str(len(v)), f1(pct(v, 0.5)), f1(pct(v, 0.9)), f1(pct(v, 0.99)),
                     f1(max(v) if v else math.nan), f1(min(v) if v else math.nan),
                     str(sum(1 for x in v if x > P99_TARGET))])
    for kind in sorted(late_warm.by_kind):
        v = late_warm.by_kind[kind]
        rows.append([f"  {kind} (after warm-up)", str(len(v)), f1(pct(v, 0.5)),
                     f1(pct(v, 0.9)), f1(pct(v, 0.99)), f1(max(v)), f1(min(v)),
                     str(sum(1 for x in v if x > P99_TARGET))])
    print(table(rows, ["fetches", "n", "p50", "p90", "p99", "max", "min", f"> {P99_TARGET:g}s"]))
    if late_all.late_at:
        buckets = Counter(int(x // 30) * 30 for x in late_all.late_at)
        print(f"fetches later than {P99_TARGET:g} s, by 30 s of the run: " + "  ".join(
            f"{b}s:{buckets[b]}" for b in sorted(buckets)))
    fd = late_all.first_delays
    if fd:
        print(f"first fetch of each new source (left out above), seconds after start-up: "
              f"p50 {pct(fd, 0.5):.2f}, p90 {pct(fd, 0.9):.2f}, p99 {pct(fd, 0.99):.2f}, "
              f"max {max(fd):.2f}")
    print(f"first fetches (left out): {late_all.first_fetches}; arrivals matched to "
          f"an already-used due time (double fetches): {late_all.repeats}; overdue at end "
          f"(> 5 s, no fetch): {len(overdue)}"
          + (f" (max {max(overdue):.1f}s)" if overdue else ""))

    print()
    print("Throughput and outcomes (as the feed server saw them)")
    rows = [
        ["requests", str(len(events)), str(len(after_events))],
        ["fetches per second", f"{len(events) / max(1e-9, end_wall - started_wall):.1f}",
         f"{len(after_events) / max(1e-9, window):.1f}"],
    ]
    for k in ("304", "200", "500", "reset"):
        rows.append([f"  {k}", str(outcomes.get(k, 0)), str(outcomes_after.get(k, 0))])
    print(table(rows, ["", "whole run", "after warm-up"]))
    print(f"ideal rate if every source were on time: {ideal_rate:.0f}/s (failing sources back "
          f"off to ≤ 60 s, so somewhat less is expected); server totals: {stats['outcomes']}")
    cpu_tree = last.cpu_s
    print(f"feedhub CPU: {cpu_tree:.1f}s until SIGTERM (process + workers, /proc), "
          f"{f1(ru_cpu)}s total by wait4 rusage incl. shutdown "
          f"= {cpu_tree / max(1e-9, end_elapsed):.2f} cores on average")
    # The publish children's share depends on how many publishes the load let complete;
    # fetching and storing (the service and its parse workers) compare across runs.
    print(f"  of which the service and its parse workers (no publish child): "
          f"{last.cpu_service_s:.1f}s = {last.cpu_service_s / max(1e-9, end_elapsed):.2f} cores")
    gap, unanswered = sweep_gaps(scraped, end_elapsed)
    publishes = metric.get('feedhub_publishes_total{outcome="ok"}', 0)
    print(f"sweeps completed: {sweeps} (≈ {end_elapsed / 5:.0f} if one every 5 s); longest "
          f"stretch without a completed sweep: {gap:.0f}s; /metrics scrapes unanswered "
          f"within 2 s: {unanswered} of {len(scraped)}")
    print(f"publishes completed: {publishes:.0f}, "
          f"{metric.get('feedhub_publish_duration_seconds_sum', 0):.1f}s in total; fetch "
          f"errors 'database is locked' in the log: {locked}")
    print(f"feedhub log lines by level: {dict(levels)} "
          f"({log_path if args.keep else 'temp dir removed; --keep to keep it'})")
    for msg, n in other.most_common(8):
        print(f"  {n:5d} × {msg}")
    if late_all.repeat_examples:
        print("double fetches (name, kind, arrival − due): " + "; ".join(
            f"{n} {behaviour[n]['kind']} {late:.2f}s" for n, late in late_all.repeat_examples[:5]))
    if leftovers:
        print(f"processes left behind by feedhub after exit: {leftovers}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--warmup", type=float, help="seconds (default max(60, 10%% of duration))")
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=10, help="items per feed (default 10)")
    ap.add_argument("--per-host", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = max(60.0, 0.1 * args.duration)
    if args.warmup >= args.duration:
        ap.error("--warmup must be shorter than --duration")

    tmp = Path(tempfile.mkdtemp(prefix="feedhub-soak-"))
    procs: list[Group] = []

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    files = contextlib.ExitStack()
    try:
        return run(args, tmp, procs, files)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping feedhub and the feed server", file=sys.stderr)
        return 130
    finally:
        for p in reversed(procs):
            p.kill()
        files.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
