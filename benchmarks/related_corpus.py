"""Related News precision on a labelled corpus of full articles with unrelated singletons.

Run: PYTHONPATH=src .venv/bin/python benchmarks/related_corpus.py [--compare LABEL=SRC]

The corpus: tests/data/related (the reference article, the three stories of its Related News
box, fourteen distractors) plus benchmarks/data/related (follow-ups that make some
distractors threads of their own, and two more singletons); every article is labelled with
its story thread, the rest are singletons. All go through `update_related` on a SQLite store
with the default settings (3 links, ±90 days), in three orders. Printed: related precision
(links inside the article's thread / all links), articles with nothing related that got a
link, thread recall, and the reference article's box (the three expected stories?). The
second row is the lexical scorer (a child process where ``import wordllama`` fails).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sqlalchemy import create_engine  # noqa: E402
from tests.test_related_reference import HEADLINE, seed_body  # noqa: E402
from tests.test_related_support import DATA, add_article, read_story  # noqa: E402

from feedhub.related import related_for, update_related  # noqa: E402
from feedhub.store.schema import metadata  # noqa: E402

EXTRA = ROOT / "benchmarks" / "data" / "related"
# Distractors of the reference corpus that the follow-ups here join into threads.
JOINS = {"d12-kenya-floods": "kenya-floods", "d10-ecb-rates": "ecb-rates",
         "d09-sudan-refugees": "sudan-refugees", "d11-champions-league": "champions-league"}


def corpus() -> list[tuple[str, str, str, str]]:
    """(title, date, body, thread) of every article."""
    items = [(HEADLINE, "2024-04-12", seed_body(), "niger-us")]
    for path in sorted(DATA.glob("*.txt")):
        if path.name == "seed-article.txt":
            continue
        title, date, body, in_box = read_story(path)
        items.append((title, date, body, "niger-us" if in_box else JOINS.get(path.stem, path.stem)))
    for path in sorted(EXTRA.glob("*.txt")):
        header, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        fields = dict(line.split(": ", 1) for line in header.splitlines())
        items.append((fields["title"], fields["date"], body.strip(), fields["thread"]))
    return items


def measure(order: str) -> tuple[int, int, int, int, int, bool]:
    items = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/c.db")
        metadata.create_all(engine)
        with engine.begin() as conn:
            ids = [add_article(conn, t, f"<p>{b}</p>", d) for t, d, b, _ in items]
            thread = dict(zip(ids, (x[3] for x in items), strict=True))
            if order == "at once":
                update_related(conn, ids)
            elif order == "by date":
                when = {i: datetime.fromisoformat(x[1]).replace(tzinfo=UTC)
                        for i, x in zip(ids, items, strict=True)}
                for i in sorted(ids, key=lambda i: (when[i], i)):
                    update_related(conn, [i])
            else:
                for i in reversed(ids):
                    update_related(conn, [i])
            boxes = {i: [x.article_id for x in related_for(conn, i)] for i in ids}
    size = {t: sum(1 for x in thread.values() if x == t) for t in set(thread.values())}
    links = sum(len(b) for b in boxes.values())
    right = sum(thread[j] == thread[i] for i, b in boxes.items() for j in b)
    lonely = sum(1 for i, b in boxes.items() if size[thread[i]] == 1 and b)
    possible = sum(min(3, size[thread[i]] - 1) for i in ids)
    expected = {i for i in ids[1:] if thread[i] == "niger-us"}
    return links, right, lonely, possible, len(ids), set(boxes[ids[0]]) == expected


def main() -> None:
    if "--row" in sys.argv:
        for order in ("at once", "by date", "reverse"):
            print(order, *measure(order))
        return
    print("Labelled corpus (tests/data/related + benchmarks/data/related), 3 links, ±90 days")
    print(f"{'scorer':36} {'order':8} {'links':>5} {'precision':>9} {'singletons linked':>17} "
          f"{'recall':>6} {'reference box':>13}")
    # --compare LABEL=SRC: also the rows of another tree's src/ (e.g. the scorer before a change)
    compare = [a.split("=", 1) for a in sys.argv[1:] if "=" in a]
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sitecustomize.py").write_text(
            "import sys; sys.modules['wordllama'] = None\n", encoding="utf-8")
        rows = [("words + vectors + closeness, floor", "", str(ROOT / "src"))]
        rows += [(label, "", src) for label, src in compare]
        rows.append(("lexical only (wordllama blocked)", tmp, str(ROOT / "src")))
        for label, path, src in rows:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, [path, src, str(ROOT)]))}
            out = subprocess.run([sys.executable, "-W", "ignore", __file__, "--row"], env=env,
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                *order, links, right, lonely, possible, _n, ref = line.split()
                singles = f"{lonely}"
                print(f"{label:36} {' '.join(order):8} {links:>5} "
                      f"{int(right) / max(int(links), 1):9.3f} {singles:>17} "
                      f"{int(right) / int(possible):6.3f} "
                      f"{'3/3' if ref == 'True' else 'no':>13}")


if __name__ == "__main__":
    main()
