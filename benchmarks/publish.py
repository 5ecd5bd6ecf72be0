"""Publish benchmark: full, incremental and no-change publishing of 50 topics × 50 entries.

Run from the repository root:  .venv/bin/python benchmarks/publish.py [--repeat 3]

Builds a store through the real ingest path from 50 generated RSS files (local sources,
50 items each, ~2.3 KB; see common.py), one topic per source (``sources: [outlet-NNN]``)
so every topic feed has 50 entries, each with a Related News box. Then:

1. full publish: the first ``publish()`` — brings every article's related list up to date
   (2,500 pending articles) and writes every file;
2. incremental: one article's text is edited in its feed file, that source is ingested
   again, and ``publish()`` runs — only the topics whose content changed are rewritten
   (its own topic, and the topics of articles whose box it entered or left);
3. no change: ``publish()`` again — 0 files written;
4. the same no-change publish as a user runs it: ``feedhub -q publish`` as a subprocess.

Each step is timed (``--repeat`` fresh stores; median (min–max)), with files written.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    bench_env,
    generate_feeds,
    machine,
    run_process,
    summary,
    table,
    timed,
    write_config,
)


def build(work: Path, n_topics: int, n_entries: int) -> tuple[Path, dict[str, Path]]:
    gen = generate_feeds(n_topics, n_entries, seed=5005)
    files = work / "sources"
    files.mkdir(parents=True)
    paths = {}
    for name, body in gen.bodies.items():
        paths[name] = files / f"{name}.xml"
        paths[name].write_bytes(body)
    topics = [(f"topic-{name}", [], []) for name in gen.bodies]
    cfg = write_config(
        work / "feedhub.yaml", [(n, str(p)) for n, p in paths.items()],
        store=work / "feedhub.db", output=work / "feeds", topics=topics,
        entries_per_feed=n_entries,
    )
    # Topic rules by source: rewrite the generated keyword rules into `sources:` rules.
    import json

    data = json.loads(cfg.read_text())
    for t, name in zip(data["topics"], gen.bodies, strict=True):
        t.pop("keywords", None)
        t["sources"] = [name]
    cfg.write_text(json.dumps(data, indent=1))
    return cfg, paths


def edit_one_article(path: Path) -> str:
    """Change the text of the feed's third item (as an outlet updating a story does)."""
    body = path.read_text(encoding="utf-8")
    items = list(re.finditer(r"<item>.*?</item>", body, re.S))
    item = items[2]
    new = item.group(0).replace(
        "&lt;/p&gt;</description>",
        "&lt;/p&gt;&lt;p&gt;Update: officials confirmed the figures on Friday.&lt;/p&gt;"
        "</description>",
        1,
    )
    assert new != item.group(0)
    path.write_text(body[: item.start()] + new + body[item.end():], encoding="utf-8")
    return re.search(r"<title>(.*?)</title>", new).group(1)  # type: ignore[union-attr]


class Timer:
    """Wall time spent inside one module-level function (restored by ``undo``)."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name, self.fn = owner, name, getattr(owner, name)
        self.total = 0.0

        def wrapped(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return self.fn(*a, **kw)
            finally:
                self.total += time.perf_counter() - t

        setattr(owner, name, wrapped)

    def undo(self) -> None:
        setattr(self.owner, self.name, self.fn)


def one_round(work: Path, n_topics: int, n_entries: int) -> dict[str, Any]:
    import feedhub.pipeline as prun
    from feedhub.config import load_config
    from feedhub.ingest.run import ingest
    from feedhub.pipeline import publish
    from feedhub.store import Store

    cfg_path, paths = build(work, n_topics, n_entries)
    config = load_config(cfg_path)
    store = Store.open(config.store_url)
    out: dict[str, Any] = {}
    try:
        w, _, reps = timed(lambda: asyncio.run(ingest(config, store, None)))
        out["ingest"] = w
        out["articles"] = sum(r.new for r in reps)

        def step(key: str, fn: Callable[[], Any]) -> Any:
            rel = Timer(prun, "update_pending_related")
            try:
                wall, cpu, report = timed(fn)
            finally:
                rel.undo()
            out[key] = (wall, cpu, rel.total, report)
            return report

        step("full", lambda: publish(config, store))
        name = next(iter(paths))
        out["edited"] = edit_one_article(paths[name])
        w, _, reps = timed(lambda: asyncio.run(ingest(config, store, [name])))
        out["reingest"] = (w, reps[0].updated)
        step("incremental", lambda: publish(config, store))
        step("nochange", lambda: publish(config, store))
    finally:
        store.close()
    run = run_process(
        [sys.executable, "-m", "feedhub", "-c", str(cfg_path), "-q", "publish"], env=bench_env()
    )
    if run.returncode != 0:
        sys.exit(f"feedhub publish failed ({run.returncode}):\n{run.stderr}")
    out["process"] = run
    out["files"] = sum(1 for p in (work / "feeds").rglob("*") if p.is_file())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--topics", type=int, default=50)
    ap.add_argument("--entries", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="fresh stores, each measured once")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"corpus: {args.topics} topics × {args.entries} entries (one local RSS source per "
          f"topic, ~2.3 KB items), related.count=3, window 90d, dedupe on\n")
    rounds = []
    for r in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="feedhub-bench-publish-"))
        try:
            print(f"round {r + 1}/{args.repeat}…", end="", flush=True)
            rounds.append(one_round(work, args.topics, args.entries))
            print(f" full {rounds[-1]['full'][0]:.2f}s, incremental "
                  f"{rounds[-1]['incremental'][0]:.2f}s")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    first = rounds[0]
    rows = []
    for key, label in (
        ("full", "full publish (first: related for all + every file)"),
        ("incremental", "incremental (1 article edited and re-ingested)"),
        ("nochange", "no change"),
    ):
        walls = [x[key][0] for x in rounds]
        rep = first[key][3]
        rows.append([
            label, summary(walls), f"{statistics.median(x[key][1] for x in rounds):.2f}",
            f"{statistics.median(x[key][2] for x in rounds):.2f}",
            str(rep.written), str(rep.unchanged),
        ])
    proc = [x["process"] for x in rounds]
    rows.append([
        "no change, `feedhub -q publish` subprocess", summary([p.wall for p in proc]),
        f"{statistics.median(p.cpu for p in proc):.2f}", "", "", "",
    ])
    print(f"\n== publish: {args.topics} topics × {args.entries} entries "
          f"({first['articles']} articles, {first['files']} files on disk) ==")
    print(table(rows, ["step", "wall s", "CPU s", "related s", "written", "unchanged"]))
    inc = first["incremental"][3]
    print(f"\nincremental: edited {first['edited'][:60]!r} (re-ingest "
          f"{first['reingest'][0]:.2f}s, {first['reingest'][1]} updated); files written: "
          f"{', '.join(inc.changed_paths) or '-'}")
    print(f"setup: ingest of {first['articles']} articles from local files "
          f"{summary([x['ingest'] for x in rounds])} s; subprocess peak RSS "
          f"{statistics.median(p.max_rss_mb for p in proc):.0f} MB")
    ok_nochange = all(x["nochange"][3].written == 0 for x in rounds)
    ok_inc = all(0 < x["incremental"][3].written < x["full"][3].written for x in rounds)
    print(f"checks: no-change publish wrote 0 files: {'PASS' if ok_nochange else 'FAIL'}; "
          f"incremental wrote fewer files than full: {'PASS' if ok_inc else 'FAIL'}")


if __name__ == "__main__":
    main()
