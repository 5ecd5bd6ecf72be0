"""Shared helpers for the benchmarks: realistic generated feeds, a local feed server, timing.

* ``Corpus`` generates deterministic news text from real words: the content words of the
  UCI News Aggregator headlines in ../shared (Zipf-weighted by their frequency there, half of
  a story's words from its section's own vocabulary) plus real place and subject names so
  topic rules match some articles; stories that share a real UCI story's words (related news
  has work) and syndicated near-copies of one story in several feeds (dedupe has work).
* ``rss_feed`` renders one RSS 2.0 document (HTML descriptions, guids, dates, categories);
  ``generate_feeds(..., fmt=...)`` renders the same kind of items in other formats too (issue
  17): RSS 2.0 with teasers or with full ``content:encoded`` bodies, Atom 1.0 with full HTML
  content, RDF (RSS 1.0), JSON Feed 1.1, or a mix of them (``FORMATS``).
* ``FeedServer`` serves a folder of files over HTTP/1.1 on 127.0.0.1 from a separate
  PROCESS (aiohttp), so the server's CPU is not charged to the client being measured.
  It sends a strong ETag and Last-Modified and answers 304 to If-None-Match /
  If-Modified-Since; ``stats()`` returns how many 200s and 304s it sent.

Run as a script, this module is the server: ``python common.py serve DIR``.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# FEEDHUB_BENCH_SRC=/path/to/src measures another copy of the code (e.g. a patched scratch copy).
SRC = Path(os.environ.get("FEEDHUB_BENCH_SRC") or ROOT / "src").resolve()
if str(SRC) not in sys.path[:1]:
    sys.path.insert(0, str(SRC))

# A fixed "now" keeps the generated feeds byte-identical from run to run.
EPOCH = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NEWS_WORDS = _words(
    "Niger Niamey Mali Bamako Burkina Faso Ouagadougou Chad Sahel Nigeria Lagos Abuja Senegal "
    "Dakar Sudan Khartoum Kenya Nairobi Ethiopia Somalia Mogadishu Libya Tripoli Algeria "
    "refugees displaced UNHCR WFP UNICEF humanitarian famine drought flooding harvest election "
    "parliament president minister junta coup ceasefire militants convoy border mining gold "
    "uranium oil pipeline currency inflation budget strike protest court ruling vaccine "
    "outbreak cholera malaria climate rainfall locusts football tournament"
)

CATEGORIES = (
    "Africa", "World", "Politics", "Security", "Economy", "Health", "Climate", "Sport",
    "Humanitarian", "Business", "Culture", "Science",
)

_STOP = _words("the of and to in a on for with that by from at as was is were has have after "
               "said will its their over into about against more than new two three")

# Every word of the generated text is a real word (issue 17: "real vocabulary, not random
# syllables"): the content words of the 4,224 UCI News Aggregator headlines in ../shared
# (2014; business, technology, entertainment, health), ranked by how often they occur there.
# Made-up syllable words were all alike to the text-vector model (sub-word pieces of one
# alphabet), so ~4,000 of 9,000 articles in a window cleared the relevance floor of any
# other; with real words a story's coverage stands out from the rest, as in real news.
UCI_SAMPLE = ROOT.parent / "shared" / "data" / "uci-news-sample.csv"
_FUNCTION_WORDS = frozenset(_words(
    "a an the of and or but nor to in on at by for with from into onto over under about after "
    "before against between during without within up down out off as is are was were be been "
    "being am has have had do does did will would shall should can could may might must not no "
    "so than then that this these those there here it its it's he she they we you i his her "
    "their our your my me him them us who whom whose which what when where why how all any "
    "each every some more most much many such only own same other just also new says said "
    "vs via amid says get gets got make makes set sets back now yet still if while don't won't "
    "can't isn't doesn't didn't shouldn't wasn't aren't"
))


@dataclass(frozen=True)
class Vocabulary:
    """The UCI headlines' content words: by frequency overall and per category, and each
    story's words (the words a developing story keeps repeating)."""

    ranked: tuple[str, ...]  # most frequent first
    by_category: dict[str, tuple[str, ...]]  # category letter → its words, most frequent first
    stories: tuple[tuple[str, tuple[str, ...]], ...]  # (category, the story's content words)


def _content_words(title: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'&-]*[A-Za-z]", title)
            if w.lower() not in _FUNCTION_WORDS and (len(w) > 2 or w.isupper())]


@functools.cache
def news_vocabulary(path: Path = UCI_SAMPLE) -> Vocabulary:
    """Read the vocabulary once per process (the CSV ships with ../shared)."""
    if not path.is_file():
        raise SystemExit(f"benchmarks: the UCI sample is missing: {path} (../shared beside "
                         "the repository holds it)")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # How a word is spelt mid-sentence: half the headlines are in Title Case, which says
    # nothing, so only sentence-case headlines count (a name stays "Google", a word "deal").
    forms: dict[str, Counter[str]] = {}
    overall: Counter[str] = Counter()
    per_cat: dict[str, Counter[str]] = {}
    story_words: dict[str, tuple[str, dict[str, None]]] = {}
    for row in sorted(rows, key=lambda r: int(r["ID"])):
        cat = row["CATEGORY"]
        words = _content_words(row["TITLE"])
        long = [w for w in row["TITLE"].split()[1:] if len(w) > 3 and w.isalpha()]
        if long and sum(w[0].isupper() for w in long) * 2 < len(long):
            for w in words[1:]:
                forms.setdefault(w.lower(), Counter())[w] += 1
        low = [w.lower() for w in words]
        overall.update(low)
        per_cat.setdefault(cat, Counter()).update(low)
        story_words.setdefault(row["STORY"], (cat, {}))[1].update(dict.fromkeys(low))
    acronyms = {w.lower(): w for row in rows for w in _content_words(row["TITLE"])
                if w.isupper() and len(w) <= 5}

    def spelt(w: str) -> str:
        seen = forms.get(w)
        if seen:
            return max(sorted(seen), key=lambda f: seen[f])
        return acronyms.get(w, w)

    def ranked(c: Counter[str]) -> tuple[str, ...]:
        return tuple(spelt(w) for w, _ in sorted(c.items(), key=lambda x: (-x[1], x[0])))

    return Vocabulary(
        ranked=ranked(overall),
        by_category={cat: ranked(c) for cat, c in sorted(per_cat.items())},
        stories=tuple((cat, tuple(spelt(w) for w in ws))
                      for _, (cat, ws) in sorted(story_words.items())),
    )


class Corpus:
    """Deterministic news-like text over real words with Zipf weights; one ``random.Random``
    per corpus. A story's content words come half from its section's (UCI category's)
    vocabulary, so the coverage of one section reads alike, as real sections do."""

    def __init__(self, seed: int = 20260115, vocab_size: int = 6000) -> None:
        self.rng = random.Random(seed)
        news = news_vocabulary()
        vocab = list(news.ranked[:vocab_size])
        # News words sit high in the ranking so that topic keywords match a share of stories.
        for i, w in enumerate(NEWS_WORDS):
            vocab.insert(40 + i * 23, w)
        self.vocab = vocab
        self.weights = [1.0 / (rank + 8) for rank in range(len(vocab))]
        self._cum = list(_accumulate(self.weights))
        self._sections = {
            cat: (words, list(_accumulate(1.0 / (rank + 8) for rank in range(len(words)))))
            for cat, words in news.by_category.items()
        }
        self._stories = news.stories
        self._section_of: dict[tuple[str, ...], str] = {}  # theme → its section

    def words(self, n: int, extra: Sequence[str] = (), section: str = "") -> list[str]:
        """``n`` words: stop words, Zipf content words (half of them from ``section``'s own
        vocabulary when given) and the story's own theme words."""
        out = []
        picks = self.rng.choices(self.vocab, cum_weights=self._cum, k=n)
        own, own_cum = self._sections.get(section, ((), []))
        for i in range(n):
            r = self.rng.random()
            if r < 0.35:
                out.append(self.rng.choice(_STOP))
            elif extra and r < 0.55:
                out.append(self.rng.choice(extra))
            elif own and r < 0.775:
                out.append(self.rng.choices(own, cum_weights=own_cum)[0])
            else:
                out.append(picks[i])
        return out

    def sentence(self, n: int, theme: Sequence[str], section: str = "") -> str:
        w = self.words(n, theme, section)
        s = " ".join(w)
        return s[:1].upper() + s[1:] + "."

    def story(self, theme: Sequence[str]) -> Story:
        """A story: a title and ~1,500 characters of paragraphs around a theme."""
        section = self._section_of.get(tuple(theme), "")
        title = " ".join(self.words(self.rng.randint(6, 11), theme, section))
        title = title[:1].upper() + title[1:]
        paragraphs = []
        size = 0
        target = self.rng.randint(1100, 1450)
        while size < target:
            p = " ".join(self.sentence(self.rng.randint(9, 22), theme, section)
                         for _ in range(self.rng.randint(2, 4)))
            paragraphs.append(p)
            size += len(p)
        cats = tuple(sorted(set(self.rng.sample(CATEGORIES, self.rng.randint(1, 3)))))
        return Story(title, tuple(paragraphs), cats)

    def theme(self) -> tuple[str, ...]:
        """A few words a developing story keeps repeating (makes related articles related):
        the content words of one real UCI story, topped up from the vocabulary."""
        section, words = self.rng.choice(self._stories)
        k = self.rng.randint(3, 6)
        theme = self.rng.sample(words, min(k, len(words)))
        while len(theme) < k:
            w = self.rng.choice(self.vocab[200:3000])
            if w not in theme:
                theme.append(w)
        if self.rng.random() < 0.5:
            theme += self.rng.sample(NEWS_WORDS, 2)
        self._section_of[tuple(theme)] = section
        return tuple(theme)


def _accumulate(xs: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for x in xs:
        total += x
        out.append(total)
    return out


@dataclass(frozen=True)
class Story:
    title: str
    paragraphs: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass
class Item:
    guid: str
    title: str
    link: str
    html: str
    published: datetime
    categories: tuple[str, ...]
    author: str
    full: str = ""  # the whole article as HTML, for the full-content formats

    @property
    def teaser(self) -> str:
        """A plain-text teaser of ~200 characters, as summary-only feeds carry."""
        text = re.sub(r"<[^>]+>", "", self.html.split("</p>", 1)[0])
        if len(text) <= 200:
            return text
        return text[:200].rsplit(" ", 1)[0] + "…"


# Issue 17: the formats ingest.py measures (``--formats``). "rss" is the original corpus
# (RSS 2.0, ~1.3 KB HTML descriptions), kept byte-identical so figures stay comparable.
FORMATS = ("rss", "rss-teaser", "rss-full", "atom-full", "rdf", "json", "mix")
MIX = ("rss-teaser", "rss-full", "atom-full", "rdf", "json")  # feed i of "mix": MIX[i % 5]
SUFFIX = {"rss": "xml", "rss-teaser": "xml", "rss-full": "xml", "atom-full": "atom",
          "rdf": "rdf", "json": "json"}


@dataclass
class GeneratedFeeds:
    """name → document bytes (``files``: name → file name), plus how the corpus was built."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)  # name → its format
    items: int = 0
    copies: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.bodies.values())


def story_html(story: Story, link: str, rng: random.Random, *, edit: bool = False) -> str:
    """A description as feeds really carry it: paragraphs, a link, emphasis, sometimes an img."""
    paras = list(story.paragraphs)
    if edit:  # a syndicated copy: the same text, trimmed and with its own outlet line
        paras = paras[: max(2, len(paras) - 1)]
        paras.append("Reporting by our correspondent; edited by the desk.")
    parts = []
    for i, p in enumerate(paras):
        words = p.split(" ")
        if i == 0 and len(words) > 4:
            words[0] = f"<strong>{words[0]}</strong>"
            j = rng.randrange(2, len(words) - 1)
            words[j] = f'<a href="{escape(link)}?ref=para">{words[j]}</a>'
        elif len(words) > 6:
            if rng.random() < 0.5:
                j = rng.randrange(1, len(words) - 1)
                words[j] = (f'<a href="/topic/{words[j].lower()}" class="inline-link" '
                            f'target="_blank">{words[j]}</a>')
            if rng.random() < 0.3:
                j = rng.randrange(1, len(words) - 1)
                words[j] = f"<em>{words[j]}</em>"
        parts.append('<p class="body">' + " ".join(words) + "</p>")
    if rng.random() < 0.4:
        n = rng.randrange(10**6)
        parts.insert(1, f'<figure><img src="/img/{n}.jpg" alt="photo" width="640" height="360" '
                        f'style="max-width:100%"><figcaption>Photo: agency</figcaption></figure>')
    return "".join(parts)


def full_html(story: Story, extra: Story, link: str, rng: random.Random) -> str:
    """A whole article as full-content feeds carry it (~4–5 KB of HTML): the story, then a
    sub-heading, a pull quote, a list and more paragraphs (``extra``'s)."""
    head = story_html(story, link, rng)
    paras = extra.paragraphs
    quote = paras[0].split(". ")[0]
    items = "".join(f"<li>{p.split('. ')[0]}.</li>" for p in paras[1:4])
    rest = "".join(f"<p>{p}</p>" for p in paras[1:])
    return (f'{head}<h2>{escape(extra.title)}</h2><blockquote><p>“{quote}.”</p></blockquote>'
            f"{rest}<ul>{items}</ul><p><em>Additional reporting by the desk.</em></p>")


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def rss_feed(name: str, title: str, site: str, items: Sequence[Item]) -> bytes:
    """One RSS 2.0 document with its channel metadata."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n',
        f"<title>{escape(title)}</title>\n<link>{escape(site)}</link>\n",
        f"<description>News from {escape(title)}</description>\n<language>en</language>\n",
        f"<lastBuildDate>{format_datetime(items[0].published)}</lastBuildDate>\n<ttl>30</ttl>\n",
    ]
    for it in items:
        out.append(
            "<item>\n"
            f"<title>{escape(it.title)}</title>\n<link>{escape(it.link)}</link>\n"
            f'<guid isPermaLink="false">{escape(it.guid)}</guid>\n'
            f"<pubDate>{format_datetime(it.published)}</pubDate>\n"
            f"<dc:creator>{escape(it.author)}</dc:creator>\n"
            + "".join(f"<category>{escape(c)}</category>\n" for c in it.categories)
            + f"<description>{escape(it.html)}</description>\n</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def rss_variant(title: str, site: str, items: Sequence[Item], *, full: bool) -> bytes:
    """RSS 2.0 with a plain-text teaser as description, and with ``full`` the whole article
    in ``content:encoded`` (CDATA, as WordPress and most CMSs write it)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n',
        f"<title>{escape(title)}</title>\n<link>{escape(site)}</link>\n",
        f'<atom:link href="{escape(site)}feed/" rel="self" type="application/rss+xml"/>\n',
        f"<description>News from {escape(title)}</description>\n<language>en</language>\n",
        f"<lastBuildDate>{format_datetime(items[0].published)}</lastBuildDate>\n",
    ]
    for it in items:
        body = f"<content:encoded><![CDATA[{it.full}]]></content:encoded>\n" if full else ""
        out.append(
            "<item>\n"
            f"<title>{escape(it.title)}</title>\n<link>{escape(it.link)}</link>\n"
            f'<guid isPermaLink="false">{escape(it.guid)}</guid>\n'
            f"<pubDate>{format_datetime(it.published)}</pubDate>\n"
            f"<dc:creator><![CDATA[{it.author}]]></dc:creator>\n"
            + "".join(f"<category><![CDATA[{c}]]></category>\n" for c in it.categories)
            + f"<description>{escape(it.teaser)}</description>\n{body}</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def atom_feed(name: str, title: str, site: str, items: Sequence[Item]) -> bytes:
    """Atom 1.0 with a teaser ``summary`` and the whole article as ``content type="html"``."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xml:lang="en">\n',
        f"<id>tag:{name}.example.com,2026:feed</id>\n<title>{escape(title)}</title>\n",
        f'<link rel="alternate" type="text/html" href="{escape(site)}"/>\n',
        f'<link rel="self" type="application/atom+xml" href="{escape(site)}feed.atom"/>\n',
        f"<updated>{_iso(items[0].published)}</updated>\n",
        f"<author><name>{escape(title)} desk</name></author>\n",
    ]
    for it in items:
        out.append(
            "<entry>\n"
            f"<id>tag:{name}.example.com,2026:{escape(it.guid)}</id>\n"
            f'<title type="html">{escape(escape(it.title))}</title>\n'
            f'<link rel="alternate" type="text/html" href="{escape(it.link)}"/>\n'
            f"<published>{_iso(it.published)}</published>\n"
            f"<updated>{_iso(it.published)}</updated>\n"
            f"<author><name>{escape(it.author)}</name></author>\n"
            + "".join(f'<category term="{escape(c)}"/>\n' for c in it.categories)
            + f'<summary type="text">{escape(it.teaser)}</summary>\n'
            f'<content type="html">{escape(it.full)}</content>\n</entry>\n'
        )
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")


def rdf_feed(title: str, site: str, items: Sequence[Item]) -> bytes:
    """RSS 1.0 (RDF): ``rdf:Seq`` of items, Dublin Core dates, creators and subjects, the
    ~1.3 KB HTML description (escaped, as RSS 1.0 feeds carry HTML)."""
    seq = "".join(f'<rdf:li rdf:resource="{escape(it.link)}"/>\n' for it in items)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">\n',
        f'<channel rdf:about="{escape(site)}feed.rdf">\n<title>{escape(title)}</title>\n',
        f"<link>{escape(site)}</link>\n<description>News from {escape(title)}</description>\n",
        f"<dc:date>{_iso(items[0].published)}</dc:date>\n",
        f"<items><rdf:Seq>\n{seq}</rdf:Seq></items>\n</channel>\n",
    ]
    for it in items:
        out.append(
            f'<item rdf:about="{escape(it.link)}">\n'
            f"<title>{escape(it.title)}</title>\n<link>{escape(it.link)}</link>\n"
            f"<dc:date>{_iso(it.published)}</dc:date>\n"
            f"<dc:creator>{escape(it.author)}</dc:creator>\n"
            + "".join(f"<dc:subject>{escape(c)}</dc:subject>\n" for c in it.categories)
            + f"<description>{escape(it.html)}</description>\n</item>\n"
        )
    out.append("</rdf:RDF>\n")
    return "".join(out).encode("utf-8")


def json_feed(title: str, site: str, items: Sequence[Item]) -> bytes:
    """JSON Feed 1.1: ``summary`` (teaser), ``content_html`` (the whole article), authors, tags."""
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title, "home_page_url": site, "feed_url": f"{site}feed.json",
        "language": "en",
        "items": [
            {"id": it.guid, "url": it.link, "title": it.title, "summary": it.teaser,
             "content_html": it.full, "date_published": _iso(it.published),
             "authors": [{"name": it.author}], "tags": list(it.categories)}
            for it in items
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def render_feed(fmt: str, name: str, title: str, site: str, items: Sequence[Item]) -> bytes:
    """One document of ``items`` in format ``fmt`` (one of FORMATS but "mix")."""
    if fmt == "rss":
        return rss_feed(name, title, site, items)
    if fmt in ("rss-teaser", "rss-full"):
        return rss_variant(title, site, items, full=fmt == "rss-full")
    if fmt == "atom-full":
        return atom_feed(name, title, site, items)
    if fmt == "rdf":
        return rdf_feed(title, site, items)
    if fmt == "json":
        return json_feed(title, site, items)
    raise ValueError(f"unknown feed format {fmt!r}")


def generate_feeds(
    n_feeds: int = 200,
    n_entries: int = 50,
    *,
    seed: int = 20260115,
    copy_share: float = 0.12,
    fmt: str = "rss",
) -> GeneratedFeeds:
    """``n_feeds`` feeds of ``n_entries`` items, deterministic for a seed, in format ``fmt``.

    About ``copy_share`` of the items are syndicated copies of a story another feed already
    carries (same text, other outlet, slightly edited); stories come in developing threads
    that share theme words, spread over the last ten days. The full-content formats draw
    their extra paragraphs from a second corpus, so every format carries the same stories
    (and "rss" stays byte-identical to the corpus before issue 17).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown feed format {fmt!r}; one of {', '.join(FORMATS)}")
    corpus = Corpus(seed)
    rng = corpus.rng
    more = Corpus(seed + 1) if fmt != "rss" else None  # the full bodies' extra paragraphs
    themes = [corpus.theme() for _ in range(max(20, n_feeds * n_entries // 12))]
    gen = GeneratedFeeds()
    published: list[Story] = []  # stories of the feeds before this one, for syndication
    for f in range(n_feeds):
        name = f"outlet-{f:03d}"
        site = f"https://{name}.example.com/"
        items = []
        own: list[Story] = []
        feed_fmt = MIX[f % len(MIX)] if fmt == "mix" else fmt
        for e in range(n_entries):
            when = EPOCH - timedelta(minutes=e * rng.randint(60, 300) + rng.randint(0, 59))
            if published and rng.random() < copy_share:
                story = rng.choice(published)  # another outlet's story
                copy = True
            else:
                story = corpus.story(rng.choice(themes))
                own.append(story)
                copy = False
            slug = "-".join(story.title.lower().split()[:6])
            link = f"{site}news/{when:%Y/%m/%d}/{slug}-{e}"
            items.append(Item(
                guid=f"{name}:{f * 1000 + e}",
                title=("UPDATE: " if copy and rng.random() < 0.3 else "") + story.title,
                link=link,
                html=story_html(story, link, rng, edit=copy),
                published=when,
                categories=story.categories,
                author=f"{corpus.words(1)[0].capitalize()} {corpus.words(1)[0].capitalize()}",
            ))
            if more is not None:
                extra = more.story(story.paragraphs[0].split()[:4])
                items[-1].full = full_html(story, extra, link, more.rng)
            gen.copies += copy
        published.extend(own)
        items.sort(key=lambda it: it.published, reverse=True)
        title = f"{name.replace('-', ' ').title()} News"
        gen.bodies[name] = render_feed(feed_fmt, name, title, site, items)
        gen.files[name] = f"{name}.{SUFFIX[feed_fmt]}"
        gen.formats[name] = feed_fmt
        gen.items += len(items)
    return gen


BENCH_TOPICS = (
    ("sahel", ["Sahel", "Niger", "Niamey", "Mali", "Bamako", "Burkina Faso", "Chad"], []),
    ("east-africa", ["Kenya", "Nairobi", "Ethiopia", "Somalia", "Mogadishu", "Sudan"], []),
    ("west-africa", ["Nigeria", "Lagos", "Abuja", "Senegal", "Dakar"], []),
    ("humanitarian", ["refugees", "displaced", "UNHCR", "WFP", "UNICEF", "famine"], []),
    ("politics", ["election", "parliament", "president", "minister", "junta", "coup"], []),
    ("economy", ["inflation", "budget", "currency", "oil", "gold", "mining"], ["Economy"]),
    ("health", ["vaccine", "outbreak", "cholera", "malaria"], ["Health"]),
    ("climate", ["climate", "drought", "flooding", "rainfall", "locusts"], ["Climate"]),
    ("sport", ["football", "tournament"], ["Sport"]),
    ("security", ["militants", "ceasefire", "convoy", "border"], ["Security"]),
)


def write_config(
    path: Path,
    sources: Sequence[tuple[str, str]],
    *,
    store: Path,
    output: Path,
    topics: Sequence[tuple[str, Sequence[str], Sequence[str]]] = BENCH_TOPICS,
    per_host: int = 20,
    concurrency: int = 20,
    entries_per_feed: int = 50,
) -> Path:
    """A feedhub config (JSON is valid YAML) for ``(name, url)`` sources and topic rules."""
    cfg: dict[str, Any] = {
        "site": {"title": "bench", "base_url": "http://127.0.0.1:8080/", "author": "bench"},
        "store": str(store),
        "output": {"dir": str(output), "entries_per_feed": entries_per_feed},
        "fetch": {"concurrency": concurrency, "per_host": per_host, "timeout": "60s"},
        "sources": [{"name": n, "url": u} for n, u in sources],
        "topics": [
            {"name": t, "title": t.replace("-", " ").title(),
             "keywords": list(kw), **({"categories": list(cats)} if cats else {})}
            for t, kw, cats in topics
        ],
    }
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- the server


class FeedServer:
    """Serves ``directory`` on 127.0.0.1 from a child process; use as a context manager."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> FeedServer:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", str(self.directory)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.base = line.strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def stats(self, reset: bool = False) -> dict[str, int]:
        """Responses sent by status code (``{"200": n, "304": m}``), optionally reset."""
        with urllib.request.urlopen(self.url("_stats" + ("?reset=1" if reset else ""))) as r:
            return json.loads(r.read())

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url(path)) as r:
            return r.read()


MEDIA_TYPES = {"atom": "application/atom+xml", "rdf": "application/rdf+xml",
               "json": "application/feed+json", "xml": "application/rss+xml"}


def _serve(directory: str) -> None:  # runs in the server process
    import asyncio
    from collections import Counter

    from aiohttp import web

    files: dict[str, tuple[bytes, str, str]] = {}
    mtime = format_datetime(EPOCH, usegmt=True)
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
            files["/" + p.relative_to(directory).as_posix()] = (data, etag, mtime)
    counts: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/_stats":
            out = web.json_response({str(k): v for k, v in counts.items()})
            if request.query.get("reset"):
                counts.clear()
            return out
        hit = files.get(request.path)
        if hit is None:
            counts["404"] += 1
            return web.Response(status=404)
        data, etag, modified = hit
        headers = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "max-age=60"}
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if (inm and etag in [t.strip() for t in inm.split(",")]) or (not inm and ims == modified):
            counts["304"] += 1
            return web.Response(status=304, headers=headers)
        counts["200"] += 1
        return web.Response(body=data, headers=headers, charset="utf-8",
                            content_type=MEDIA_TYPES.get(request.path.rsplit(".", 1)[-1],
                                                         "application/rss+xml"))

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# ---------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class ProcRun:
    """One child process run: wall time, CPU time (incl. its waited-for children), peak RSS."""

    wall: float
    cpu: float
    max_rss_mb: float
    returncode: int
    stderr: str


def run_process(args: Sequence[str], env: dict[str, str] | None = None) -> ProcRun:
    """Run a command; wall time from spawn to exit, rusage from ``wait4`` of that child.

    ``ru_maxrss`` of a waited child is the largest RSS of it and of its own waited-for
    children (e.g. a parse pool), not their sum.
    """
    started = time.perf_counter()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    assert p.stderr is not None
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - started
    p.returncode = os.waitstatus_to_exitcode(status)
    return ProcRun(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, p.returncode, err)


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    return env


def cpu_now() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result)."""
    c0, t0 = cpu_now(), time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, cpu_now() - c0, result


def summary(xs: Sequence[float]) -> str:
    """``median (min–max)`` of a few runs, in seconds."""
    if len(xs) == 1:
        return f"{xs[0]:.2f}"
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join([fmt(header), line, *(fmt(r) for r in rows)])


def machine() -> str:
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores {model} · Python {platform.python_version()} · "
            f"{platform.system()} {platform.release()}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        _serve(sys.argv[2])
    else:
        sys.exit("usage: common.py serve DIR")
