"""Generate the labelled dedupe pairs (pairs.jsonl) from the UCI headline sample.

Synthetic on purpose: there is no free corpus of full syndicated articles here, so bodies
are stitched from real headlines (see README.md). Deterministic: ``python make_pairs.py``
rewrites the same file.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSV = Path("/work/shared/data/uci-news-sample.csv")
if not CSV.exists():
    CSV = HERE.parents[3] / "shared" / "data" / "uci-news-sample.csv"

CONNECTIVES = [
    "Meanwhile", "Separately", "Earlier this week", "According to people familiar with it",
    "In a statement", "Analysts noted that", "On the same day", "As expected", "By contrast",
    "Officials said", "For now", "Critics argue that", "In other news", "Later", "Notably",
    "At the same time", "Observers say", "In recent weeks", "Elsewhere", "Reports suggest",
]
BOILER_TITLES = ["Morning Briefing", "Markets Wrap", "Daily Digest", "Weekend Reads",
                 "What you need to know today", "Tech Roundup"]
BOILER_INTRO = "Here are the stories you need to know about before you start your day."
BOILER_OUTRO = "Sign up to receive this newsletter in your inbox every weekday morning."
BRITISH = {"color": "colour", "colors": "colours", "favor": "favour", "favorite": "favourite",
           "center": "centre", "centers": "centres", "theater": "theatre", "defense": "defence",
           "program": "programme", "programs": "programmes", "labor": "labour",
           "honor": "honour", "neighbor": "neighbour", "behavior": "behaviour",
           "traveled": "travelled", "license": "licence", "gray": "grey", "analyze": "analyse"}
WIRE = ["Reuters", "AP", "AFP", "Bloomberg", "PA"]


def load() -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    with CSV.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if len(r["TITLE"].split()) >= 5]
    by_story: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_story[r["STORY"]].append(r)
    return rows, by_story


class Gen:
    def __init__(self, seed: int = 2024) -> None:
        self.rng = random.Random(seed)
        self.rows, self.by_story = load()
        self.by_cat: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in self.rows:
            self.by_cat[r["CATEGORY"]].append(r)
        self.multi = [s for s, rs in self.by_story.items() if len(rs) >= 3]
        self.n = 0

    def sentence(self, row: dict[str, str]) -> str:
        head = row["TITLE"].strip().rstrip(".")
        return f"{self.rng.choice(CONNECTIVES)}, {head[0].lower()}{head[1:]}."

    def sentences(self, cat: str, k: int) -> list[str]:
        return [self.sentence(r) for r in self.rng.sample(self.by_cat[cat], k)]

    def when(self, row: dict[str, str], hours: float = 0) -> str:
        t = datetime.fromtimestamp(int(row["TIMESTAMP"]) / 1000, UTC) + timedelta(hours=hours)
        return t.isoformat()

    def article(self, row: dict[str, str], sents: list[str], *, url: str | None = None,
                title: str | None = None, hours: float = 0, teaser: bool = False) -> dict:
        self.n += 1
        paras, i = [], 0
        while i < len(sents):
            step = self.rng.randint(2, 3)
            paras.append(" ".join(sents[i : i + step]))
            i += step
        body = "".join(f"<p>{p}</p>" for p in paras)
        return {
            "title": title if title is not None else row["TITLE"],
            "url": url or f"https://{row['HOSTNAME']}/a/{self.n}",
            "content": "" if teaser else body,
            "summary": body if teaser else "",
            "published": self.when(row, hours),
        }

    def base(self, row: dict[str, str], k: int | None = None) -> list[str]:
        story = [r for r in self.by_story[row["STORY"]] if r is not row][:2]
        k = k if k is not None else self.rng.randint(10, 30)
        return [self.sentence(r) for r in story] + self.sentences(row["CATEGORY"], k)

    def reword(self, sents: list[str], n: int) -> list[str]:
        out = sents[:]
        for i in self.rng.sample(range(len(out)), n):
            out[i] = self.sentences(self.rng.choice("btem"), 1)[0]
        return out


def british(text: str) -> str:
    text = re.sub(r"\b(\w+?)iz(e|ed|es|ing)\b", r"\1is\2", text)
    return re.sub(r"\b\w+\b", lambda m: BRITISH.get(m.group(0), m.group(0)), text)


def positives(g: Gen, n_each: int) -> list[dict]:
    out: list[dict] = []
    rng = g.rng
    kinds = ["markup", "wire", "recased", "headline", "sentence", "spelling", "teaser",
             "combo", "two-sentences", "dropped-tail", "tracking-url", "updated-same-url",
             "byline-trailer"]
    for kind in kinds:
        for _ in range(n_each):
            row = rng.choice(g.rows)
            s = g.base(row)
            a = g.article(row, s)
            host = f"https://syndicate{rng.randint(1, 9)}.example/news/{g.n}"
            if kind == "markup":
                b = g.article(row, [x.replace(", ", ",  ") for x in s], url=host, hours=2)
                b["content"] = "<div>" + b["content"].replace("<p>", "<p class='x'> ") + "</div>"
            elif kind == "wire":
                w = rng.choice(WIRE)
                s2 = [f"NEW YORK ({w}) - {s[0]}", *s[1:],
                      f"This story was first published by {w}."]
                b = g.article(row, s2, url=host, hours=1)
            elif kind == "recased":
                b = g.article(row, s, url=host, title=row["TITLE"].upper(), hours=3)
            elif kind == "headline":
                other = [r for r in g.by_story[row["STORY"]] if r is not row]
                title = other[0]["TITLE"] if other else row["TITLE"].split(":")[0] + " (update)"
                b = g.article(row, s, url=host, title=title, hours=2)
            elif kind == "sentence":
                b = g.article(row, g.reword(s, 1), url=host, hours=4)
            elif kind == "spelling":
                s2 = [british(x) for x in s]
                s2 = [x.replace("color", "colour") for x in s2]
                b = g.article(row, s2, url=host, title=british(row["TITLE"]), hours=5)
            elif kind == "teaser":
                words = " ".join(s).split()[: rng.randint(30, 60)]
                b = g.article(row, [" ".join(words) + rng.choice([" …", " [...]", ""])],
                              url=host, teaser=True, hours=-1)
            elif kind == "combo":
                s2 = [*g.reword(s, 1), "Originally published by the Courier."]
                b = g.article(row, s2, url=host, title=row["TITLE"].lower(), hours=6)
            elif kind == "two-sentences":
                s = g.base(row, rng.randint(22, 30))
                a = g.article(row, s)
                b = g.article(row, g.reword(s, 2), url=host, hours=2)
            elif kind == "dropped-tail":
                b = g.article(row, s[: max(len(s) - 2, 8)], url=host, hours=2)
            elif kind == "tracking-url":
                a = g.article(row, s, url=f"https://{row['HOSTNAME']}/story/{g.n}")
                b = g.article(row, s[:3], url=f"http://www.{row['HOSTNAME']}/story/{g.n - 1}/"
                              "?utm_source=feed&utm_medium=rss&fbclid=x1", hours=1, teaser=True)
            elif kind == "updated-same-url":
                a = g.article(row, s, url=f"https://{row['HOSTNAME']}/story/{g.n}")
                s2 = g.reword(s, len(s) // 2) + g.sentences(row["CATEGORY"], 4)
                b = g.article(row, s2, url=a["url"] + "?ocid=rss#comments", hours=8)
            else:  # byline-trailer
                s2 = [f"By {rng.choice(['Ana Ruiz', 'Tom Berg', 'Li Wei'])}", *s,
                      "Reporting by Staff; editing by Desk."]
                b = g.article(row, s2, url=host, hours=2)
            out.append({"label": "duplicate", "kind": kind, "a": a, "b": b})
    return out


def negatives(g: Gen) -> list[dict]:
    out: list[dict] = []
    rng = g.rng
    for story in rng.sample(g.multi, 60):  # independent write-ups of one event
        r1, r2, r3 = g.by_story[story][:3]
        s1 = [g.sentence(r2), *g.sentences(r1["CATEGORY"], rng.randint(8, 25))]
        s2 = [g.sentence(r1), g.sentence(r3), *g.sentences(r1["CATEGORY"], rng.randint(8, 25))]
        out.append({"label": "distinct", "kind": "same-event",
                    "a": g.article(r1, s1), "b": g.article(r2, s2, hours=2)})
    for _ in range(40):  # a shared boilerplate headline, intro and outro; different text
        r1 = rng.choice(g.rows)
        title = rng.choice(BOILER_TITLES)
        k = rng.randint(3, 12)
        mk = [BOILER_INTRO, *g.sentences(r1["CATEGORY"], k), BOILER_OUTRO]
        mk2 = [BOILER_INTRO, *g.sentences(r1["CATEGORY"], k), BOILER_OUTRO]
        out.append({"label": "distinct", "kind": "boilerplate-headline",
                    "a": g.article(r1, mk, title=title, url=f"https://{r1['HOSTNAME']}/b"),
                    "b": g.article(r1, mk2, title=title, url=f"https://{r1['HOSTNAME']}/b?d=2",
                                   hours=24)})
    for _ in range(30):  # same topic, same day, different stories
        cat = rng.choice("btem")
        r1, r2 = rng.sample(g.by_cat[cat], 2)
        out.append({"label": "distinct", "kind": "same-topic-day",
                    "a": g.article(r1, g.base(r1)), "b": g.article(r2, g.base(r2), hours=3)})
    for _ in range(25):  # a follow-up that reuses a quarter to a third of the background
        r1 = rng.choice(g.rows)
        s = g.base(r1, rng.randint(14, 24))
        keep = rng.sample(s, len(s) * rng.randint(25, 33) // 100)
        s2 = [*g.sentences(r1["CATEGORY"], len(s) - len(keep)), *keep]
        follow = g.article(r1, s2, title=r1["TITLE"] + " (follow-up)", hours=20)
        out.append({"label": "distinct", "kind": "follow-up", "a": g.article(r1, s), "b": follow})
    return out


def main() -> None:
    g = Gen()
    pairs = positives(g, 11) + negatives(g)
    with (HERE / "pairs.jsonl").open("w", encoding="utf-8") as fh:
        for i, p in enumerate(pairs):
            fh.write(json.dumps({"id": i, **p}, ensure_ascii=False) + "\n")
    print(f"{len(pairs)} pairs written")


if __name__ == "__main__":
    main()
