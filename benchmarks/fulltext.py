"""Full-text benchmark (issue 15): extraction quality, throughput and memory.

Run: make pages && PYTHONPATH=src:. .venv/bin/python benchmarks/fulltext.py [--repeat 3]

Pages and ground truth (`make pages`): newspaper4k's test data (.cache/article-pages): real
news pages (CNN, Time, Wired, Fox 13, Yonhap, BBC Burmese, Cleveland.com, and pages in
Spanish, Latvian, Arabic, Thai, Chinese, Japanese) each with the article text its
maintainers expect (txt/NAME.txt); and 11 news pages of trafilatura 1.0.0's tests/cache
(.cache/trafilatura-pages: Reuters, the Guardian, Vice, Salon, National Geographic, The
Verge, Phys.org, Threatpost, DW, heise, Zeit) whose expected texts were written by hand
(benchmarks/data/fulltext/NAME.txt; how: benchmarks/README.md). Every page that has an
expected text is used.

1. Quality: token-level F1 (bag of tokens: words, and single characters of Chinese and
   Japanese, which have no spaces) of
   - feedhub: the text of what feedhub stores and publishes (``enrich.extract.extract_page``
     → sanitized HTML → ``to_text``), and
   - trafilatura called directly on the same page (``trafilatura.extract``, its defaults,
     and with feedhub's options), against the expected text. Macro average over pages.
2. Throughput: pages/s of extraction alone (one process), and end to end: a feed of all
   pages served from 127.0.0.1, `ingest` with full_text: publish (fetch, robots.txt,
   extract in the parse workers, store) — ``--copies`` times each page under distinct URLs.
3. Peak memory: the largest resident set of this process and of its children (ru_maxrss).
4. Analysis with and without full text (``--analysis``): the labelled dedupe pairs
   (benchmarks/data/dedupe/pairs.jsonl, 298 pairs) made summary-only — each article keeps
   its title and, as its feed teaser, the first sentence of its body — stored twice:
   without full text, and with its body as the page's extracted text (an ``article_pages``
   row, read through the same ``coalesce`` the pipeline uses). Dedupe (every article
   through ``dedupe_articles``) and Related News (``update_related``, default settings,
   dedupe off so each pair is two documents) on each store:
   - dedupe: precision/recall of "same cluster" against the duplicate label;
   - related: of the pairs about one story (duplicate, same-event, follow-up), the share
     whose partner is in the other's box; of the pairs that are not (boilerplate
     headline, same topic and day), the share linked anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.httpserver import HttpServer, Reply  # noqa: E402

from feedhub.config import load_config  # noqa: E402
from feedhub.enrich.extract import extract_page  # noqa: E402
from feedhub.ingest.run import ingest  # noqa: E402
from feedhub.parse.sanitize import to_text  # noqa: E402
from feedhub.store import Store  # noqa: E402
from feedhub.store.pages import page_stats  # noqa: E402

PAGES = ROOT / ".cache" / "article-pages"
# trafilatura 1.0.0's test pages (`make pages`) and the expected texts written for them by hand.
MORE_PAGES = ROOT / ".cache" / "trafilatura-pages"
MORE_TRUTH = HERE / "data" / "fulltext"
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|[^\W_]+")


def tokens(text: str) -> Counter[str]:
    return Counter(t.lower() for t in _TOKEN.findall(text))


def f1(found: str, expected: str) -> float:
    got, want = tokens(found), tokens(expected)
    common = sum((got & want).values())
    if not common:
        return 0.0
    p, r = common / sum(got.values()), common / sum(want.values())
    return 2 * p * r / (p + r)


def pairs() -> list[tuple[str, bytes, str]]:
    """(name, page bytes, expected text) of every page that has an expected text: newspaper4k's
    pages with its own expectations, then trafilatura's pages with the hand-written ones."""
    out = []
    for pages, truths in ((PAGES / "html", PAGES / "txt"), (MORE_PAGES, MORE_TRUTH)):
        for page in sorted(pages.glob("*.html")):
            truth = truths / f"{page.stem}.txt"
            if truth.exists():
                out.append((page.stem, page.read_bytes(), truth.read_text(encoding="utf-8")))
    return out


def quality(data: list[tuple[str, bytes, str]]) -> None:
    import trafilatura

    rows = []
    for name, body, truth in data:
        ext = extract_page(body, "text/html", f"https://news.example/{name}")
        ours = to_text(ext.html) if ext.error is None else ""
        text = body.decode("utf-8", "replace")
        direct = trafilatura.extract(text) or ""
        same_opts = trafilatura.extract(
            text, include_comments=False, include_formatting=True, include_tables=True,
            date_extraction_params={"extensive_search": False, "original_date": True},
        ) or ""
        rows.append((name, f1(ours, truth), f1(direct, truth), f1(same_opts, truth),
                     ext.error))
    print(f"{'page':24} {'feedhub':>8} {'traf.':>8} {'traf.=':>8}  feedhub error")
    for name, a, b, c, err in rows:
        print(f"{name:24} {a:8.3f} {b:8.3f} {c:8.3f}  {err or ''}")
    mean = [statistics.fmean(r[i] for r in rows) for i in (1, 2, 3)]
    print(f"{'macro F1 (' + str(len(rows)) + ' pages)':24} {mean[0]:8.3f} {mean[1]:8.3f} "
          f"{mean[2]:8.3f}")
    print(f"feedhub − trafilatura (defaults): {mean[0] - mean[1]:+.4f}; "
          f"− trafilatura (feedhub's options): {mean[0] - mean[2]:+.4f}")


def speed(data: list[tuple[str, bytes, str]], repeat: int) -> None:
    extract_page(data[0][1], "text/html", "https://news.example/warm")  # imports, caches
    started = time.perf_counter()
    for _ in range(repeat):
        for name, body, _ in data:
            extract_page(body, "text/html", f"https://news.example/{name}")
    n = repeat * len(data)
    took = time.perf_counter() - started
    mb = sum(len(b) for _, b, _ in data) * repeat / 1e6
    print(f"extraction alone: {n} pages ({mb:.0f} MB of HTML) in {took:.1f} s = "
          f"{n / took:.1f} pages/s (one process)")


def end_to_end(data: list[tuple[str, bytes, str]], copies: int, workers: int) -> None:
    with HttpServer() as srv, tempfile.TemporaryDirectory() as tmp:
        items = []
        for c in range(copies):
            for name, body, _ in data:
                path = f"/{c}/{name}"
                srv.route(path, Reply(body=body, headers={"Content-Type": "text/html"}))
                items.append(
                    f"<item><title>{name} {c}</title><link>{html.escape(srv.url(path))}</link>"
                    f"<guid>{c}-{name}</guid><description>Teaser.</description></item>"
                )
        srv.route("/feed", Reply(body=(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>b</title><link>'
            f"https://news.example/</link><description>d</description>{''.join(items)}"
            "</channel></rss>").encode()))
        cfg_path = Path(tmp) / "feedhub.yaml"
        cfg_path.write_text(
            "store: data/feedhub.db\n"
            "fetch: {allow_private_redirects: true, max_bytes: 20MB, pages_per_host: 4}\n"
            f"sources:\n  - {{name: bench, url: '{srv.url('/feed')}', full_text: publish}}\n"
        )
        cfg = load_config(cfg_path)
        store = Store.open(cfg.store_url)
        started = time.perf_counter()
        asyncio.run(ingest(cfg, store, workers=workers))
        took = time.perf_counter() - started
        with store.read() as conn:
            s = page_stats(conn)["bench"]
        store.close()
    n = len(items)
    print(f"end to end (fetch from 127.0.0.1, robots.txt, extract in {workers} parse workers, "
          f"store; pages_per_host 4): {n} pages in {took:.1f} s = {n / took:.1f} pages/s; "
          f"stored {s.full_text}, failed {s.failed} ({s.last_error or '-'})")


PAIRS = HERE / "data" / "dedupe" / "pairs.jsonl"
SAME_STORY = {"same-event", "follow-up"}  # distinct articles of one story: related


def teaser(content: str) -> str:
    """The summary-only version's feed teaser: the body's first sentence."""
    text = to_text(content)
    m = re.search(r"(.+?[.!?])(\s|$)", text)
    return html.escape((m.group(1) if m else text)[:300])


def analysis() -> None:
    import json

    from sqlalchemy import insert, select

    from feedhub.dedupe.cluster import dedupe_articles
    from feedhub.related import Settings, related_for, update_related
    from feedhub.store.pages import article_pages
    from feedhub.store.schema import articles, sources

    data = [json.loads(line) for line in PAIRS.open(encoding="utf-8")]
    print(f"labelled pairs: {len(data)} ({sum(p['label'] == 'duplicate' for p in data)} "
          "duplicate); summary-only: title + first sentence")
    for full in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(f"sqlite:///{tmp}/a.db")
            with store.write() as conn:
                sids = [conn.execute(insert(sources).values(
                    name=f"s{i}", url=f"https://s{i}.example/f", kind="http", position=i)
                ).inserted_primary_key[0] for i in range(2)]
                ids = []
                for p in data:
                    pair = []
                    for side, sid in (("a", sids[0]), ("b", sids[1])):
                        a = p[side]
                        when = datetime.fromisoformat(a["published"])
                        aid = conn.execute(insert(articles).values(
                            source_id=sid, guid=f"{p['id']}{side}", title=a["title"],
                            url=a["url"], content="",
                            # A side that was summary-only already keeps its summary.
                            summary=teaser(a["content"]) if a["content"] else a["summary"],
                            published=when, updated=when, first_seen=when, changed=when,
                            content_hash=f"{p['id']}{side}",
                        )).inserted_primary_key[0]
                        if full and a["content"]:
                            conn.execute(insert(article_pages).values(
                                article_id=aid, source_id=sid, url=a["url"], state="done",
                                attempts=1, html=a["content"], chars=len(a["content"])))
                        pair.append(aid)
                    ids.append(tuple(pair))
                flat = [x for ab in ids for x in ab]
                for i in range(0, len(flat), 50):
                    update_related(conn, flat[i : i + 50], Settings())
                ranked = {x: [r.article_id for r in related_for(conn, x)] for x in flat}
                boxes = {x: set(r) for x, r in ranked.items()}
                for i in range(0, len(flat), 50):
                    dedupe_articles(conn, flat[i : i + 50])
                cl = dict(conn.execute(select(articles.c.id, articles.c.cluster_id)).all())
            store.close()
        gold = [p["label"] == "duplicate" for p in data]
        pred = [cl[a] == cl[b] for a, b in ids]
        tp = sum(x and g for x, g in zip(pred, gold, strict=True))
        prec, rec = tp / max(sum(pred), 1), tp / max(sum(gold), 1)
        linked = [b in boxes[a] or a in boxes[b] for a, b in ids]
        story = [p["label"] == "duplicate" or p["kind"] in SAME_STORY for p in data]
        hit = sum(x for x, s in zip(linked, story, strict=True) if s) / sum(story)
        other = len(story) - sum(story)
        false = sum(x for x, s in zip(linked, story, strict=True) if not s) / other
        misses = Counter(p["kind"] for p, x, g in zip(data, pred, gold, strict=True) if x != g)
        first = [ranked[a][:1] == [b] or ranked[b][:1] == [a] for a, b in ids]
        top = sum(x for x, s in zip(first, story, strict=True) if s) / sum(story)
        lost = Counter(p["kind"] for p, x, s in zip(data, linked, story, strict=True)
                       if s and not x)
        label = "with full text   " if full else "summary only     "
        print(f"  {label} dedupe precision {prec:.3f} recall {rec:.3f} | related: same-story "
              f"partner linked {hit:.3f} ({sum(story)} pairs), other pair linked {false:.3f} "
              f"({other} pairs)")
        print(f"    dedupe errors by kind: {dict(misses) or 'none'}; related: partner ranked "
              f"first {top:.3f}, same-story pairs not linked by kind: {dict(lost) or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--analysis", action="store_true", help="only section 4")
    args = ap.parse_args()
    if args.analysis:
        analysis()
        return
    data = pairs()
    if not data:
        sys.exit("no pages: run `make pages` first")
    quality(data)
    speed(data, args.repeat)
    end_to_end(data, args.copies, args.workers)
    analysis()
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {me:.0f} MB, largest parse worker {kids:.0f} MB")


if __name__ == "__main__":
    main()
