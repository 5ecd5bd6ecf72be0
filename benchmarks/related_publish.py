"""What Related News costs ingest and publish: two trees side by side on the same corpus.

Run from the repository root:
    .venv/bin/python benchmarks/related_publish.py \
        --tree main=/work/main/.venv/bin/python:/work/main/src --tree branch=.venv/bin/python:src

Generates ``--feeds`` RSS files of ``--entries`` items (common.py's corpus, local file
sources), then for each tree, on a fresh SQLite store, one step after another:

1. ingest: ``feedhub -q fetch`` of the first ``--initial`` feeds (10,000 articles by default);
2. first publish: ``feedhub -q publish`` (every article's Related News box, every file);
3. ingest of the remaining feeds (2,000 new articles), then publish: ms per new article;
4. no-change publish.

Each step is a subprocess timed from spawn to exit (imports included), with its CPU time.
The trees run alternately step by step, so a change of machine load hits both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import generate_feeds, machine, run_process, table, write_config


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--feeds", type=int, default=240)
    ap.add_argument("--entries", type=int, default=50)
    ap.add_argument("--initial", type=int, default=200, help="feeds in the first ingest")
    ap.add_argument("--tree", action="append", required=True,
                    help="LABEL=PYTHON:SRC (a Python with the tree's dependencies, its src/)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    trees = []
    for spec in args.tree:
        label, rest = spec.split("=", 1)
        python, src = rest.rsplit(":", 1)
        trees.append((label, python, str(Path(src).resolve())))

    work = Path(tempfile.mkdtemp(prefix="feedhub-related-publish-"))
    gen = generate_feeds(args.feeds, args.entries, seed=5005)
    files = work / "sources"
    files.mkdir()
    sources = []
    for name, body in gen.bodies.items():
        (files / f"{name}.xml").write_bytes(body)
        sources.append((name, str(files / f"{name}.xml")))
    print(f"{machine()}\n{gen.items} items in {args.feeds} feeds; first ingest "
          f"{args.initial * args.entries} articles; load {load()}", flush=True)

    configs: dict[str, tuple[Path, Path]] = {}
    for label, _, _ in trees:
        d = work / label
        d.mkdir()
        first = write_config(d / "first.yaml", sources[: args.initial], store=d / "feedhub.db",
                             output=d / "feeds")
        full = write_config(d / "full.yaml", sources, store=d / "feedhub.db", output=d / "feeds")
        configs[label] = (first, full)

    steps = [("ingest", 0, "fetch"), ("first publish", 0, "publish"),
             ("ingest more", 1, "fetch"), ("publish more", 1, "publish"),
             ("no-change publish", 1, "publish")]
    results: dict[str, dict[str, tuple[float, float, str]]] = {t[0]: {} for t in trees}
    for step, which, command in steps:
        for label, python, src in trees:
            env = dict(os.environ, PYTHONPATH=src)
            before = load()
            r = run_process([python, "-m", "feedhub", "-c", str(configs[label][which]), "-q",
                             command], env)
            if r.returncode != 0:
                sys.exit(f"{label} {step}: exit {r.returncode}\n{r.stderr[-3000:]}")
            results[label][step] = (r.wall, r.cpu, before)
            print(f"  {label:10} {step:18} {r.wall:8.1f} s wall {r.cpu:8.1f} s CPU "
                  f"(load before {before})", flush=True)

    more = (args.feeds - args.initial) * args.entries
    rows = []
    for label, _, _ in trees:
        r = results[label]
        rows.append([
            label,
            f"{r['ingest'][0]:.1f}", f"{r['first publish'][0]:.1f}",
            f"{r['ingest more'][0]:.1f}", f"{r['publish more'][0]:.1f}",
            f"{1000 * r['publish more'][0] / more:.1f}", f"{r['no-change publish'][0]:.1f}",
        ])
    print()
    print(table(rows, ["tree", "ingest s", "1st publish s", "ingest more s", "publish more s",
                       "ms/new article", "no change s"]))
    if len(trees) == 2:
        a, b = trees[0][0], trees[1][0]
        for step in ("ingest", "first publish", "publish more"):
            print(f"{b} / {a} {step}: {results[b][step][0] / results[a][step][0]:.2f}")
    print(f"load at the end {load()}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
