"""The parse and topic-matching speed-ups change no output.

Each speed-up is checked against the current code without it, not against a frozen copy,
so a deliberate change of the parse stage or of topic matching needs no edit here:

- the parse stage's fast paths (``feedparser_fixes.install_fast_paths``, ``feed._get``,
  and the lxml fast path ``parse/fastxml.py`` of #17, which the reference run turns off):
  every file of feedparser's corpus, the real-world feeds and a generated benchmark corpus
  parses to equal ``ParsedFeed`` values (or the same error) with them and, in a subprocess
  (they patch feedparser process-wide), without them: ``tests.support.parse_reference_run``;
- each feedparser fast path against feedparser's own function, case by case;
- ``sanitize.no_surrogates``'s ASCII short cut against the plain regex substitution;
- ``CompiledRules.match`` (``words()``, the per-rule vocabulary) against a small matcher
  written from the documented semantics, on generated texts and on the corpus's articles.
"""

from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import feedparser.mixin
import feedparser.urls
import pytest
from feedparser.util import FeedParserDict
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.model import Article
from feedhub.parse import feedparser_fixes, parse_feed, sanitize
from feedhub.topics import (
    ArticleLike,
    CompiledRules,
    TopicRule,
    fold,
    html_to_text,
    strip_accents,
    words,
)
from tests.conftest import REPO
from tests.support.parse_reference_run import fast_paths_installed, outcomes
from tests.test_corpus import CORPUS, REAL_FEEDS, corpus_files

BENCH = REPO / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # benchmarks/common.py: the benchmark's feeds and topics


def _generated(folder: Path) -> list[Path]:
    from common import generate_feeds

    paths = []
    for name, body in generate_feeds(8, 50).bodies.items():
        paths.append(folder / f"{name}.xml")
        paths[-1].write_bytes(body)
    return paths


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Any], Any]:
    """(files, outcomes here, the subprocess's pickle without fast paths), computed once."""
    if not corpus_files() or not REAL_FEEDS.is_dir():
        pytest.skip(f"corpora not downloaded: run `make corpus` (looked in {CORPUS})")
    tmp = tmp_path_factory.mktemp("parse-runs")
    real = sorted(p for p in REAL_FEEDS.rglob("*") if p.is_file() and p.suffix != ".py")
    files = corpus_files() + real + _generated(tmp)
    out = tmp / "without-fast-paths.pickle"
    # The other run goes on beside this one (two cores).
    slow = subprocess.Popen(
        [sys.executable, "-m", "tests.support.parse_reference_run", str(out), *map(str, files)],
        cwd=REPO,
    )
    try:
        actual = outcomes(parse_feed, files)
        assert slow.wait(timeout=600) == 0
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    return files, actual, pickle.loads(out.read_bytes())


# The feedparser fast paths install only on the versions whose internals were read
# (FAST_PATH_VERSIONS); another 6.0.x installed by a fresh `make test` runs stock feedparser:
# same results, slower. Their own tests then skip, saying so, instead of failing CI.
AUDITED = feedparser.__version__ in feedparser_fixes.FAST_PATH_VERSIONS
audited = pytest.mark.skipif(
    not AUDITED,
    reason=f"feedparser {feedparser.__version__} is not in FAST_PATH_VERSIONS: its fast paths "
    "are off (read its mixin.py again, then extend the set)",
)


def test_fast_paths_change_no_parse_result(runs: tuple[list[Path], list[Any], Any]) -> None:
    files, actual, without = runs
    assert without["fast_paths"] == []  # the runner also refuses to run with any installed
    assert fast_paths_installed() == (
        ["_urljoin", "copy.deepcopy", "_FeedParserMixin.__init__", "_FeedParserMixin.push_content"]
        if AUDITED
        else []
    )
    expected = without["outcomes"]
    assert len(actual) == len(expected) == 2 * len(files)
    differ = [
        (files[i // 2].name, i % 2)
        for i, (a, b) in enumerate(zip(actual, expected, strict=True))
        if a != b
    ]
    assert differ == []
    # Not vacuous: many articles, and many bodies that are no feed.
    articles = [a for o in actual if o[0] == "ok" for a in o[1].articles]
    assert len(articles) > 3000 and sum(o[0] == "error" for o in actual) > 100


# --- topic matching, as documented -------------------------------------------------------


def _split(folded: str) -> list[str]:
    return [w for w in re.split(r"\W+", folded) if w]


def reference_match(
    rules: Sequence[TopicRule], article: ArticleLike, source: str, forced: Iterable[str] = ()
) -> frozenset[str]:
    r"""Topics as topics.py documents them, the plain way (not its code).

    Keywords and excludes are words or phrases matched as whole words, ignoring case and
    accents, over the title, summary, content (HTML stripped) and categories: the text's
    words are its maximal ``\w`` runs, and a phrase matches where its words are consecutive
    words of the text. Categories compare folded and stripped; a regex searches the
    unaccented text ignoring case; the source's own topics (``forced``) always apply.
    """
    plain = "\n".join((
        article.title, html_to_text(article.summary), html_to_text(article.content),
        "\n".join(article.categories),
    ))
    unaccented = strip_accents(plain)
    tokens = _split(unaccented.casefold())
    at: defaultdict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(tokens):
        at[t].append(i)
    categories = {fold(c).strip() for c in article.categories}

    def said(phrases: Iterable[str]) -> bool:
        for ws in (_split(fold(p)) for p in phrases):
            if ws and any(tokens[i : i + len(ws)] == ws for i in at.get(ws[0], ())):
                return True
        return False

    found = set(forced)
    for r in rules:
        hit = (
            source in r.sources
            or not categories.isdisjoint(fold(c).strip() for c in r.categories)
            or said(r.keywords)
            or (r.regex is not None and re.search(strip_accents(r.regex), unaccented, re.I))
        )
        if hit and not said(r.exclude):
            found.add(r.name)
    return frozenset(found)


# Rules with every criterion: single words, phrases (also with accents and digits),
# excludes, categories, a regex; the benchmark's topics; and words common in the corpus.
RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("common", {"keywords": ("the", "feed", "example", "entry", "title", "test")}),
    ("phrases", {"keywords": ("Example Feed", "hello world", "of the", "a b c", "x_y")}),
    ("accents", {"keywords": ("Sénégal", "café", "naïve", "Ærø", "straße", "日本語")}),
    ("digits", {"keywords": ("2003", "2004 12", "1.0", "0")}),
    ("exclude", {"keywords": ("feed",), "exclude": ("atom", "entry content")}),
    ("cats", {"categories": ("Music", "  TECHNOLOGY ", "Tëst")}),
    ("regex", {"regex": r"\bfoo\w*|h[ée]llo"}),
    ("source", {"sources": ("src",)}),
    ("excluded-source", {"sources": ("src",), "exclude": ("the",)}),
)


def test_topics_equal_the_reference_on_the_corpus_articles(
    runs: tuple[list[Path], list[Any], Any],
) -> None:
    from common import BENCH_TOPICS

    rules = [TopicRule(name, **kw) for name, kw in RULES]
    rules += [TopicRule(n, keywords=tuple(kw), categories=tuple(c)) for n, kw, c in BENCH_TOPICS]
    compiled = CompiledRules(rules)
    articles = [a for o in runs[1] if o[0] == "ok" for a in o[1].articles]
    for source, forced in (("src", ("forced",)), ("other", ())):
        mismatched = [
            a.guid
            for a in articles
            if compiled.match(a, source, forced) != reference_match(rules, a, source, forced)
        ]
        assert mismatched == []
    # The rules do fire, on ASCII and non-ASCII texts alike: the comparison is not vacuous.
    fired = {t for a in articles for t in compiled.match(a, "other")}
    assert sum(not (a.title + a.summary + a.content).isascii() for a in articles) > 50
    assert {"common", "phrases", "accents", "digits", "exclude", "cats", "regex"} <= fired
    assert {"sahel", "politics", "economy"} <= fired


# A text alphabet with word and non-word characters, accents, ß, CJK, digits, "_",
# surrogates, controls and Unicode spaces: tokenizing must agree on all of them.
CHARS = list("ab cé_\u00df\u65e5\u0301\t\n.,'-1\x1c\u00a0\u2003\ud800Ææ")
TEXT = st.text(alphabet=st.sampled_from(CHARS), max_size=60)
PHRASE = st.text(alphabet=st.sampled_from(list("ab cé_\u00df\u65e5\u0301.1Æ")), max_size=7)
KEYWORDS = ("ab", "cé", "a b", "ss", "\u65e5", "c_", "1", "b c é")


@settings(max_examples=400, deadline=None)
@given(
    title=TEXT, summary=TEXT, content=TEXT, cats=st.lists(TEXT, max_size=3),
    keywords=st.lists(PHRASE, max_size=4), exclude=st.lists(PHRASE, max_size=2),
    categories=st.lists(PHRASE, max_size=2),
)
def test_topics_equal_the_reference_on_any_text(
    title: str, summary: str, content: str, cats: list[str],
    keywords: list[str], exclude: list[str], categories: list[str],
) -> None:
    a = Article(
        guid="g", title=title, summary=summary, content=f"<p>{content}</p>",
        categories=tuple(cats),
    )
    rules = [
        TopicRule("fixed", keywords=KEYWORDS, exclude=("ææ",)),
        TopicRule("drawn", keywords=tuple(keywords), exclude=tuple(exclude)),
        TopicRule("cats", categories=tuple(categories), exclude=tuple(keywords)),
    ]
    assert CompiledRules(rules).match(a, "s") == reference_match(rules, a, "s")


def test_the_reference_matcher_fires() -> None:
    rules = [
        TopicRule("one", keywords=("Sénégal",)), TopicRule("two", keywords=("b c é",)),
        TopicRule("no", keywords=("a b",), exclude=("NIGER",)), TopicRule("cat", categories=("X",)),
    ]
    a = Article(guid="g", title="SENEGAL and a b", content="<p>x b.C\u00a0e</p><i>Niger's</i>",
                categories=(" x ",))
    assert reference_match(rules, a, "s") == CompiledRules(rules).match(a, "s") == {
        "one", "two", "cat",
    }


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_words_are_the_nonempty_pieces_of_a_split_on_nonword_runs(text: str) -> None:
    assert words(fold(text)) == _split(fold(text))
    assert words(text) == _split(text)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(TEXT, st.text(max_size=40), st.text(st.characters(max_codepoint=127))))
def test_no_surrogates_equals_the_plain_substitution(text: str) -> None:
    assert sanitize.no_surrogates(text) == re.sub("[\ud800-\udfff]", "\ufffd", text)


@audited
def test_fast_paths_are_installed_for_the_pinned_feedparser() -> None:
    # Fails after a feedparser upgrade: read its mixin.py again, then extend
    # FAST_PATH_VERSIONS (the fast paths rely on how it uses contentparams, deepcopy, _urljoin).
    assert feedparser_fixes.install_fast_paths()
    assert getattr(feedparser.mixin._urljoin, "_feedhub_fast", False)


@audited
@pytest.mark.parametrize(
    ("base", "uri"),
    [
        ("", ""), ("", "/a/b"), ("", "a:b"), ("", "http://x/y"), ("", "http:////x/y"),
        ("", "HTTP:///x"), (None, "rel"), (b"", "rel"), ("http://h/d/", "rel"),
        ("http://h/d/", "../x"), ("", "//h/p"), ("", ":://"), ("", "é"),
    ],
)
def test_urljoin_fast_path_equals_feedparsers(base: Any, uri: str) -> None:
    assert feedparser.mixin._urljoin(base, uri) == feedparser.urls._urljoin(base, uri)


class _Odd(FeedParserDict):
    pass


def _with_attr() -> FeedParserDict:
    d = FeedParserDict(type="text/html")
    d.extra = ["x"]
    return d


@audited
@pytest.mark.parametrize(
    "params",
    [
        FeedParserDict(),
        FeedParserDict(type="text/html", language=None, base="http://h/"),
        feedparser_fixes._ContentParams(type="text/plain", language="en", base="", src="s"),
        FeedParserDict(type="text/html", base64=1, value=1.5, flag=True),
        FeedParserDict(description="aliased key", type="text/html"),  # stored as "summary"
        FeedParserDict(type="text/html", nested=["a", {"b": 1}]),
        FeedParserDict(type=b"bytes"),
        _Odd(type="text/html"),
        _with_attr(),
    ],
)
def test_fast_deepcopy_equals_deepcopy(params: FeedParserDict) -> None:
    got, want = feedparser_fixes._fast_deepcopy(params), copy.deepcopy(params)
    if isinstance(params, feedparser_fixes._ContentParams):
        want = copy.deepcopy(FeedParserDict(params))  # what HEAD's contentparams copied to
    assert got == want and list(got) == list(want)
    assert type(got) is type(want) and got.__dict__ == want.__dict__
    assert got is not params


@audited
def test_contentparams_get_equals_feedparserdicts_for_the_keys_feedparser_reads() -> None:
    fast = feedparser_fixes._ContentParams(type="text/html", base64=0)
    stock = FeedParserDict(type="text/html", base64=0)
    for key in ("type", "base64", "mode", "language"):
        for default in (None, 0, "xml"):
            assert fast.get(key, default) == stock.get(key, default)
