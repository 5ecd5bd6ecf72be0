"""Related News through the whole pipeline on the UCI headlines: fetch + publish, then score.

Run: PYTHONPATH=src .venv/bin/python benchmarks/related_pipeline.py [--compare LABEL=SRC]

The UCI sample (F. Gasparetti, 2016, UCI ML Repository, CC BY 4.0) is split into four RSS
files by publisher (the same publisher always in the same file), fed to `feedhub fetch` and
`feedhub publish` with ``dedupe.enabled: false`` and ``related: {count: 3, window: 3d}``;
the published entries' ``rel="related"`` links are then scored as a set: P@1 is not
defined for a set, so nP@3 (same-story links / min(3, same-story headlines − 1)) over the
headlines with a same-story neighbour, and the link precision. The first row runs with the
wordllama import blocked (the lexical fallback); ``--compare`` adds another tree's scorer.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from related import UCI, load_uci, tfidf_baseline

ROOT = Path(__file__).resolve().parents[1]
BLOCK = "import sys; sys.modules['wordllama'] = None\n"  # a real ImportError on import


def write_feeds(folder: Path) -> dict[str, str]:
    """Four RSS files of the sample; returns entry link → story id."""
    with UCI.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    feeds: dict[int, list[dict[str, str]]] = {i: [] for i in range(4)}
    for r in rows:
        feeds[hashlib.sha1(r["PUBLISHER"].encode()).digest()[0] % 4].append(r)
    stories = {}
    for i, items in feeds.items():
        out = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
               f"<title>UCI {i}</title><link>http://uci{i}.example/</link>"
               "<description>UCI sample</description>"]
        for r in items:
            link = f"http://uci.example/{r['ID']}"
            stories[link] = r["STORY"]
            when = datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, UTC)
            out.append(f"<item><title>{escape(r['TITLE'])}</title><link>{link}</link>"
                       f"<guid>{link}</guid><pubDate>{format_datetime(when)}</pubDate></item>")
        out.append("</channel></rss>\n")
        (folder / f"uci{i}.xml").write_text("".join(out), encoding="utf-8")
    return stories


def published_links(output: Path) -> dict[str, set[str]]:
    """Entry link → its rel="related" links, over every published Atom file."""
    ns = {"a": "http://www.w3.org/2005/Atom"}
    found: dict[str, set[str]] = {}
    for path in output.rglob("*"):
        if path.suffix not in (".xml", ".atom") or not path.is_file():
            continue
        try:
            tree = etree.parse(str(path))
        except etree.XMLSyntaxError:
            continue
        for entry in tree.iterfind(".//a:entry", ns):
            own = entry.find("a:link[@rel='alternate']", ns)
            if own is None:
                continue
            rel = {x.get("href") for x in entry.iterfind("a:link[@rel='related']", ns)}
            found.setdefault(own.get("href"), set()).update(rel)
    return found


def run(lexical: bool, src: Path = ROOT / "src") -> tuple[float, float, float, int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stories = write_feeds(folder)
        cfg = {
            "site": {"title": "uci", "base_url": "http://127.0.0.1:8080/", "author": "b"},
            "store": str(folder / "store.db"),
            "output": {"dir": str(folder / "out"), "entries_per_feed": 10_000},
            "dedupe": {"enabled": False},
            "related": {"count": 3, "window": "3d"},
            "sources": [{"name": f"uci{i}", "url": str(folder / f"uci{i}.xml"),
                         "topics": ["all"]} for i in range(4)],
            "topics": [{"name": "all", "title": "All"}],
        }
        (folder / "feedhub.json").write_text(json.dumps(cfg), encoding="utf-8")
        env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
        if lexical:
            (folder / "block").mkdir()
            (folder / "block" / "sitecustomize.py").write_text(BLOCK, encoding="utf-8")
            env["PYTHONPATH"] = f"{folder / 'block'}:{env['PYTHONPATH']}"
        started = time.perf_counter()
        for cmd in ("fetch", "publish"):
            subprocess.run([sys.executable, "-m", "feedhub", "-q", "-c",
                            str(folder / "feedhub.json"), cmd], check=True, env=env)
        secs = time.perf_counter() - started
        links = published_links(folder / "out")
    size = Counter(stories.values())
    np3 = right = total = 0.0
    n = 0
    for link, story in stories.items():
        rel = links.get(link, set())
        hits = sum(stories.get(r) == story for r in rel)
        right += hits
        total += len(rel)
        if size[story] > 1:
            np3 += hits / min(3, size[story] - 1)
            n += 1
    lonely = [s for s in stories.values() if size[s] == 1]
    lonely_linked = sum(1 for lk, s in stories.items() if size[s] == 1 and links.get(lk))
    return np3 / n, right / max(total, 1), lonely_linked / len(lonely), n, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC",
                    help="also another tree's src/ (e.g. the scorer before a change)")
    args = ap.parse_args()
    print("UCI headlines through fetch + publish (4 RSS sources, dedupe off, count 3, window 3d)")
    print(f"{'scorer':44} {'nP@3':>6} {'link prec':>9} {'singletons linked':>17} {'n':>5} "
          f"{'time':>7}")
    rows = [("lexical only (wordllama blocked)", True, ROOT / "src")]
    rows += [(label, False, Path(src)) for label, src in
             (spec.split("=", 1) for spec in args.compare)]
    rows.append(("words + text vectors + closeness, floor", False, ROOT / "src"))
    # The yardstick of the same headlines and protocol, scored directly (no pipeline: it is
    # not a feedhub scorer), so the three rows print in one run.
    started = time.perf_counter()
    _, np3, n = tfidf_baseline(load_uci(), timedelta(days=3))
    print(f"{'TF-IDF cosine (scored directly, no pipeline)':44} {np3:6.3f} {'–':>9} {'–':>17} "
          f"{int(n):5d} {time.perf_counter() - started:6.1f}s")
    for label, lexical, src in rows:
        np3, prec, lonely, n, secs = run(lexical, src)
        print(f"{label:44} {np3:6.3f} {prec:9.3f} {lonely:17.3f} {n:5d} {secs:6.1f}s")


if __name__ == "__main__":
    main()
