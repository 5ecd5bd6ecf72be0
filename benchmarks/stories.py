"""Story clustering quality on the UCI headlines' STORY labels: B-cubed precision/recall/F1.

Run: PYTHONPATH=src .venv/bin/python benchmarks/stories.py [--tune] [--pipeline-only]

The UCI News Aggregator sample (F. Gasparetti, 2016, UCI ML Repository, CC BY 4.0): 4,224
headlines in 2,697 stories. B-cubed (Bagga & Baldwin 1998): for each headline, precision is
the share of its predicted story that shares its label, recall the share of its labelled
story that was put with it; both averaged over headlines, F1 their harmonic mean.

1. In memory, with feedhub's clusterer (`feedhub.stories.cluster.choose`, the pure decision
   the store path makes): headlines in timestamp order, each compared with the ones placed
   within ±window (3 days) by feedhub's term-vector cosine (idf of the whole sample) and
   wordllama cosine. ``--tune`` searches the closeness bonus and the join threshold on half
   A of the stories (split by a hash of the story id, as benchmarks/related_tune.py) and
   prints the best points on A, on B (never seen while choosing) and on all.
2. Through the pipeline: the sample as four RSS sources (benchmarks/related_pipeline.py's
   files), ``dedupe.enabled: false``, `feedhub fetch` + `feedhub publish` in child
   processes; each published entry's story is read from its "Follow this story" link (no
   link: a story of its own), and every linked story feed must exist and list the entry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedhub.related import semantic
from feedhub.stories.cluster import DEFAULT_SETTINGS, Neighbour, Settings, choose
from related import Headline, load_uci
from related_pipeline import write_feeds
from related_tune import lexical_matrix

ROOT = Path(__file__).resolve().parents[1]
ATOM = "{http://www.w3.org/2005/Atom}"


def half(story: str) -> str:
    return "A" if hashlib.sha1(story.encode()).digest()[0] % 2 == 0 else "B"


def bcubed(pred: Sequence[str], gold: Sequence[str], subset: str | None = None
           ) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 over the items whose gold story is in ``subset``
    (None: all); clusters are the whole prediction (items of the other half included)."""
    by_pred: dict[str, set[int]] = defaultdict(set)
    by_gold: dict[str, set[int]] = defaultdict(set)
    for i, (p, g) in enumerate(zip(pred, gold, strict=True)):
        by_pred[p].add(i)
        by_gold[g].add(i)
    p_sum = r_sum = 0.0
    n = 0
    for p, g in zip(pred, gold, strict=True):
        if subset is not None and half(g) != subset:
            continue
        both = len(by_pred[p] & by_gold[g])
        p_sum += both / len(by_pred[p])
        r_sum += both / len(by_gold[g])
        n += 1
    precision, recall = p_sum / n, r_sum / n
    return precision, recall, 2 * precision * recall / (precision + recall)


class Sample:
    """The headlines with every pair's lexical and text-vector cosine, computed once."""

    def __init__(self, heads: list[Headline]) -> None:
        self.heads = heads
        self.lex = lexical_matrix(heads)
        vecs, self.words = [], []
        for h in heads:
            made = semantic.embed_article(h.title, "")
            vec, words = made if made is not None else (np.zeros(semantic.DIMENSION), 0)
            vecs.append(semantic.from_blob(semantic.to_blob(vec)))  # float16, as stored
            self.words.append(words)
        m = np.stack(vecs)
        self.sem = np.round(m.astype(np.float64) @ m.T.astype(np.float64), 6)
        self.secs = np.array([h.when.timestamp() for h in heads])

    def cluster(self, s: Settings) -> list[str]:
        """Online placing in timestamp order with `choose`, as the store path does."""
        story: list[str] = []
        span = s.window.total_seconds()
        for i, h in enumerate(self.heads):
            near = np.flatnonzero(np.abs(self.secs[:i] - self.secs[i]) <= span)
            neighbours = [
                Neighbour(int(j), story[j], self.heads[j].when, self.words[j],
                          round(float(self.lex[i, j]), 6), float(self.sem[i, j]))
                for j in near
            ]
            story.append(choose(h.when, self.words[i], neighbours, s) or f"s{i}")
        return story


def in_memory(tune: bool) -> None:
    if not semantic.available():
        sys.exit("wordllama is not installed")
    heads = load_uci()
    t0 = time.perf_counter()
    sample = Sample(heads)
    gold = [h.story for h in heads]
    print(f"UCI sample: {len(heads)} headlines, {len(set(gold))} stories "
          f"(matrices in {time.perf_counter() - t0:.0f} s)")
    print(f"{'clustering':48} {'A F1':>6} {'B F1':>6} {'all P':>6} {'all R':>6} {'all F1':>6}")

    def row(label: str, pred: list[str]) -> None:
        a, b, x = (bcubed(pred, gold, sub) for sub in ("A", "B", None))
        print(f"{label:48} {a[2]:6.3f} {b[2]:6.3f} {x[0]:6.3f} {x[1]:6.3f} {x[2]:6.3f}")

    row("every headline alone", [f"s{i}" for i in range(len(heads))])
    t0 = time.perf_counter()
    row(f"feedhub (closeness {DEFAULT_SETTINGS.closeness}, join {DEFAULT_SETTINGS.join})",
        sample.cluster(DEFAULT_SETTINGS))
    print(f"  ({time.perf_counter() - t0:.1f} s for {len(heads)} headlines)")
    if not tune:
        return
    grid = []
    for closeness in (0.3, 0.4, 0.5, 0.6, 1.0):
        for join in (0.45, 0.475, 0.5, 0.525, 0.55, 0.6):
            s = replace(DEFAULT_SETTINGS, closeness=closeness, join=join)
            pred = sample.cluster(s)
            grid.append((bcubed(pred, gold, "A")[2], closeness, join, pred))
    grid.sort(key=lambda g: -g[0])
    print("\nbest on half A (B-cubed F1), then the same settings on B and on all:")
    for _, closeness, join, pred in grid[:5]:
        row(f"  closeness {closeness}, join {join}", pred)


def pipeline() -> tuple[float, float, float, int, int, float]:
    """B-cubed through fetch + publish; (P, R, F1, entries, broken links, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        labels = write_feeds(folder)  # entry link → story label
        cfg = {
            "site": {"title": "uci", "base_url": "http://127.0.0.1:8080/", "author": "b"},
            "store": str(folder / "store.db"),
            "output": {"dir": str(folder / "out"), "entries_per_feed": 10_000},
            "dedupe": {"enabled": False},
            "stories": {"window": "3d"},
            "sources": [{"name": f"uci{i}", "url": str(folder / f"uci{i}.xml"),
                         "topics": ["all"]} for i in range(4)],
            "topics": [{"name": "all", "title": "All"}],
        }
        (folder / "feedhub.json").write_text(json.dumps(cfg), encoding="utf-8")
        env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        for cmd in ("fetch", "publish"):
            subprocess.run([sys.executable, "-m", "feedhub", "-q", "-c",
                            str(folder / "feedhub.json"), cmd], check=True, env=env)
        secs = time.perf_counter() - started
        out = folder / "out"
        followed, broken = read_follow_links(out)
    links = sorted(labels)
    pred = [followed.get(link, link) for link in links]
    gold = [labels[link] for link in links]
    p, r, f1 = bcubed(pred, gold)
    a, b = bcubed(pred, gold, "A")[2], bcubed(pred, gold, "B")[2]
    print(f"through the pipeline: P {p:.3f} R {r:.3f} F1 {f1:.3f} (A {a:.3f}, B {b:.3f}); "
          f"{len(links)} headlines, {len(set(followed.values()))} story feeds, "
          f"{broken} broken follow links; fetch + publish {secs:.0f} s")
    return p, r, f1, len(links), broken, secs


def read_follow_links(out: Path) -> tuple[dict[str, str], int]:
    """Entry link → its story feed URL (from every published Atom file), and how many
    follow links name a feed that is missing or does not list the entry."""
    followed: dict[str, str] = {}
    listing: dict[str, set[str]] = {}
    for path in (out / "stories").glob("*.atom"):
        root = etree.parse(str(path)).getroot()
        url = root.find(f"{ATOM}link[@rel='self']").get("href")
        listing[url] = {_alternate(e) for e in root.iter(f"{ATOM}entry")}
    broken = 0
    for path in out.rglob("*.atom"):
        if path.parent.name == "stories":
            continue
        for e in etree.parse(str(path)).getroot().iter(f"{ATOM}entry"):
            own = _alternate(e)
            for link in e.findall(f"{ATOM}link[@title='Follow this story']"):
                story = link.get("href")
                broken += own not in listing.get(story, set())
                if followed.setdefault(own, story) != story:
                    broken += 1  # two stories for one entry
    return followed, broken


def _alternate(entry: etree._Element) -> str:
    return next(x.get("href") for x in entry.findall(f"{ATOM}link") if x.get("rel") == "alternate")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune", action="store_true", help="Grid search on half A.")
    ap.add_argument("--pipeline-only", action="store_true")
    ap.add_argument("--memory-only", action="store_true")
    args = ap.parse_args()
    if not args.pipeline_only:
        in_memory(args.tune)
    if not args.memory_only:
        pipeline()


if __name__ == "__main__":
    main()
