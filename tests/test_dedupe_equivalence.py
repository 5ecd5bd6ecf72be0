"""The optimized dedupe feature code gives exactly what the code before it gave.

URL keys, fingerprints, shingles and band/lead keys are stored in users' databases and
compared with newly computed ones: any change, however small, silently stops old and new
copies of a story from matching after an upgrade. tests/support/dedupe_reference.py is a
frozen copy of the code before the speed-up; every public function must agree with it on the
benchmark corpus, on hand-written edge cases and on generated HTML-ish text.
"""

from __future__ import annotations

import sys
import unicodedata
from datetime import UTC, datetime

import feedparser
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub.dedupe import features, fingerprint, minhash, text
from tests.conftest import REPO
from tests.support import dedupe_reference as ref

T0 = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)


def assert_same_features(title: str, html: str, url: str | None = None) -> None:
    """extract() and every public step agree with the reference on one article."""
    for canonical in (False, True):
        new = features.extract(1, 2, T0, title, html, url, canonical=canonical)
        old = ref.extract(1, 2, T0, title, html, url, canonical=canonical)
        assert new.url_key == old.url_key
        assert new.fingerprint == old.fingerprint
        assert new.shingles.dtype == old.shingles.dtype == np.uint32
        assert np.array_equal(new.shingles, old.shingles), (title, html)
        assert new.keys == old.keys, (title, html)
        assert all(type(k) is int for k in new.keys)
    body = text.body_hashes(title, html)
    assert body.dtype == np.uint32
    assert np.array_equal(body, ref.body_hashes(title, html))
    assert fingerprint.content_fingerprint(title, html) == ref.content_fingerprint(title, html)
    plain = text.plain_text(html)
    assert plain == ref.plain_text(html)
    stripped = text.strip_boilerplate(plain, title)
    # Only the tokens of strip_boilerplate's result are specified (body_hashes is its caller).
    assert text.tokens(stripped) == ref.tokens(ref.strip_boilerplate(plain, title))
    assert text.tokens(title) == ref.tokens(title)
    assert text.words(plain) == ref.words(plain)


# ---------------------------------------------------------------- the benchmark corpus


@pytest.fixture(scope="module")
def benchmark_articles() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import common  # benchmarks/common.py
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    out = []
    for body in common.generate_feeds(20, 50).bodies.values():
        for e in feedparser.parse(body).entries:
            out.append((e.title, e.get("summary", ""), e.link))
    return out


def test_benchmark_corpus_features_unchanged(
    benchmark_articles: list[tuple[str, str, str]],
) -> None:
    assert len(benchmark_articles) == 1000
    for title, html, url in benchmark_articles:
        assert_same_features(title, html, url)


# ---------------------------------------------------------------- hand-written edge cases

LONG = " ".join(f"Word{i} is here." for i in range(60))
EDGE_CASES = [
    ("", ""),
    ("Title only", ""),
    ("", "<p>Body only, no title at all.</p>"),
    ("A", "<p>B</p>"),  # shorter than a shingle on both sides
    ("Two words", "<p>One two</p>"),
    ("Three word title", "<p>Three word body</p>"),
    ("Ferry returns", "<h1>Ferry returns</h1><p>By Jane Doe</p><p>The ferry is back. Yes.</p>"),
    ("Ferry returns", "<h1>Ferry returns</h1>\n<p>Ferry   returns!</p><p>By Ann Lee</p>"),
    ("Ferry returns", "<h1>FERRY — returns</h1>"),  # the whole body is the headline
    ("Ferry returns", "<p>By Jane Doe</p>"),  # the whole body is a byline
    ("T", "WASHINGTON (Reuters) - The vote passed. Then more happened."),
    ("T", "<p>LONDON, May 3 (AP) — Markets fell.</p><p>Second paragraph here.</p>"),
    ("T", "<p>(AFP) - </p><p>Rest.</p>"),  # the dateline is the whole first sentence
    ("T", "<p>Body text one. Body text two.</p><p>This story first appeared on Example.</p>"),
    ("T", "<p>Text.</p><p>Reporting by A; editing by B. © 2024 Example. All rights reserved.</p>"),
    ("T", "<p>One.</p><p>Two.</p><p>Read more. Continue reading. Source: wire.</p>"),
    ("T", "<p>Only. Trailers. Copyright 2024.</p>"),
    ("T", "<p>Copyright 2024.</p><p>Originally published by X.</p><p>Via: Y</p><p>***</p>"),
    ("T", "<p>Keep me.</p><p>Credit: Z</p><p>— — —</p><p>...</p><p>?!</p>"),
    ("T", "<p>Lead.</p>\n\n\n<p>Mid one.</p>\n \n<p>Mid two.</p>\n\n<p>End.</p>"),
    ("T", "Sentence one… Sentence two? Sentence three! Four.\tFive.\xa0Six.\u2003Seven."),
    ("T", "a.\n\nb!\n \n c?  \n\n…d"),
    ("T", "no punctuation at all\nline two\n\nline three"),
    ("T", "<p>Trailing space after period. </p><p> Leading space.</p>"),
    ("T", "<script>var x = 'First published';</script><style>p{}</style><!-- by X --><p>Hi.</p>"),
    ("T", "<template><p>hidden</p></template><noscript>no</noscript><p>Shown text.</p>"),
    ("T", "&amp; &lt;p&gt; &nbsp;&mdash;&#8217;&hellip; entities&copy; 2024"),
    ("Café déjà vu", "<p>Café déjà vu. Naïve façade, Œuvre, straße, İstanbul.</p><p>End.</p>"),
    ("东京新闻", "<p>東京で会議が開かれた。首相は「合意」と述べた。</p><p>次の段落。</p>"),
    ("Ｆｕｌｌｗｉｄｔｈ", "<p>Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ ①②③ ﬁnance ﬂow ﬀ ㍻ ½.</p><p>Two.</p>"),
    ("ΣΟΦΙΑ", "<p>ΟΔΟΣ ΣΟΦΙΑΣ. ΌΣΟΣ Σ.</p><p>ΤΕΛΟΣ:Σ (AP) -Σ word</p>"),
    ("T", "<p>The programme's colour and flavour: organised, analysed, travelling, centre.</p>"),
    ("T", "<p>Defence licence cheque grey tyres aluminium jewellery judgement ageing.</p>"),
    ("T", "<p>e\u0301 combining acute. A\u030a ring.</p><p>\u0301 leading mark.</p>"),
    ("T", "<p>firſt publiſhed by Kelvin K. ſource: x</p><p>Body.</p><p>FIRſT appeared.</p>"),
    ("T", "<p>“Quoted” ‘words’ – dashes — «guillemets» • bullets · dots ® ° ©</p><p>x</p>"),
    ("T", "under_score words_with_underscores __init__ snake_case."),
    ("T", "<p>" + LONG + "</p>"),
    ("T", "<p>" + LONG + "</p><p>By the way this is content.</p><p>" + LONG + "</p>"),
    ("T", "<p>" + " ".join(["word"] * 45) + " first published.</p>"),  # too long to be a trailer
    ("T", "\r\n".join(["Line one.", "Line two.", "First published here."])),
    ("T", "\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029 odd separators. Next.\u2028First published"),
]


@pytest.mark.parametrize(("title", "html"), EDGE_CASES)
def test_edge_cases_unchanged(title: str, html: str) -> None:
    assert_same_features(title, html, "https://example.org/a/b")


@pytest.mark.parametrize(
    "url", [None, "", "https://example.org/", "https://example.org", "http://example.org/a",
            "https://example.org/?id=3", "https://www.Example.ORG/a?utm_source=x", "not a url",
            "https://example.org/a/b/", "ftp://example.org/x"],
)
def test_url_keys_unchanged(url: str | None) -> None:
    for canonical in (False, True):
        assert features.url_key(url, canonical=canonical) == ref.url_key(url, canonical=canonical)


URL_PARTS = st.sampled_from(["https://", "http://", "HTTPS://", "https:", "//", "/", "?",
                              "#", "[", "]", "::1", "@", ":", "a", "b.c", "%2F", "\\", " ",
                              "\t", "\n", "\x00", "\x7f", "é", "ａ", "www.", "?a=1", "=", "&"])


@settings(max_examples=500, deadline=None)
@given(st.tuples(st.sampled_from(["https://", "https://a.example", ""]),
                 st.lists(URL_PARTS | st.text(max_size=4), max_size=12).map("".join)))
def test_generated_url_keys_unchanged(parts: tuple[str, str]) -> None:
    url = "".join(parts)
    for canonical in (False, True):
        try:
            expected = ref.url_key(url, canonical=canonical)
        except ValueError:  # urlsplit: an invalid IPv6 host or netloc
            with pytest.raises(ValueError):
                features.url_key(url, canonical=canonical)
        else:
            assert features.url_key(url, canonical=canonical) == expected


# ---------------------------------------------------------------- generated text

FRAGMENTS = [
    "<p>", "</p>", "<br>", "<br/>", "<h1>", "</h1>", '<div class="x">', "</div>", "<li>",
    "<strong>", "</strong>", '<a href="/x">', "</a>", "<script>x</script>", "<!-- c -->",
    "<figure><img src=x><figcaption>Photo: agency</figcaption></figure>", "<", ">",
    "&amp;", "&nbsp;", "&mdash;", "&#8217;", "&hellip;", "&copy;",
    " ", " ", " ", "\n", "\n\n", "\t", "\r", "\xa0", "\u2003", "\u2028", "\x1c", "\x85",
    ".", ". ", "! ", "? ", "… ", "...", ",", ":", " - ", " — ", "–", "’", "“", "”", "©", "_",
    "By Jane Doe", "by", "From the desk", "Posted by", "WASHINGTON (Reuters) - ",
    "LONDON, May 3 (AP) — ", "(AFP) -", "First published by", "originally appeared",
    "appeared first on", "Reporting by", "Additional reporting by", "Copyright", "copyright",
    "All rights reserved", "Read more", "read the full", "Continue reading", "Source:",
    "Via:", "Credit :", "first", "FIRST PUBLISHED", "ſ", "K",
    "the", "ferry", "returns", "service", "colour", "organisation", "programme", "centre",
    "travelling", "analysed", "defence", "Café", "naïve", "東京", "Ｆｕｌｌ", "ﬁ", "ΣΑΣ", "Σ",
    "İ", "e\u0301", "\u0301", "½", "①", "x2", "2024", "word", "Word",
]
TITLES = ["", "Ferry returns", "The ferry returns to service", "By Jane Doe", "Σ", "東京",
          "colour programme", "A"]


@st.composite
def articles(draw: st.DrawFn) -> tuple[str, str]:
    title = draw(st.sampled_from(TITLES) | st.text(max_size=30))
    parts = draw(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=120))
    if title and draw(st.booleans()):  # the headline repeated on top, as some feeds do
        parts.insert(0, draw(st.sampled_from(["<h1>", "", "<p>"])) + title + "</h1>")
    return title, "".join(parts)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(articles())
def test_generated_articles_unchanged(article: tuple[str, str]) -> None:
    assert_same_features(*article, "https://example.org/x")


def ref_sentences(plain: str) -> list[str]:
    """The sentences the reference's strip_boilerplate works on."""
    return [s.strip() for s in ref._SENTENCE_SPLIT.split(plain) if s and s.strip()]


SENTENCE_CHARS = st.sampled_from([*"ab .!?…\t\xa0\u2003\u2028\r\x1c,", "… ", ". "])


@settings(max_examples=500, deadline=None)
@given(st.lists(SENTENCE_CHARS, max_size=40).map("".join))
def test_split_first_and_last_as_the_text_split(line: str) -> None:
    """The fast one-sentence splitters agree with the reference's sentence split."""
    sentences = ref_sentences(line)
    if not sentences:
        return  # blank: _strip never passes one
    first, rest = text._split_first(line)
    assert [first, *ref_sentences(rest)] == sentences
    assert rest == rest.lstrip()  # its first sentence needs no strip before _split_first
    before, last = text._split_last(line)
    assert [*ref_sentences(before), last] == sentences


@settings(max_examples=500, deadline=None)
@given(st.lists(SENTENCE_CHARS | st.sampled_from(["\n", "\n\n", " \n "]), max_size=60).map("".join),
       st.sampled_from(TITLES))
def test_strip_boilerplate_tokens_unchanged(plain: str, title: str) -> None:
    got = text.tokens(text.strip_boilerplate(plain, title))
    assert got == ref.tokens(ref.strip_boilerplate(plain, title))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS[20:]) | st.text(max_size=6), max_size=12).map("".join))
def test_trailer_and_tokens_unchanged(sentence: str) -> None:
    assert text._is_trailer(sentence) == ref._is_trailer(sentence)
    assert text.tokens(sentence) == ref.tokens(sentence)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokens_unchanged_on_any_text(s: str) -> None:
    assert text.tokens(s) == ref.tokens(s)


def test_punctuation_shortcut_only_drops_non_word_characters() -> None:
    """tokens() turns these into spaces after NFKC: safe only if _WORD never matches them."""
    for ch in text._PUNCTUATION:
        assert not ch.isalnum() and ch != "_"
        assert unicodedata.normalize("NFKC", ch).lower() == ch  # still there after NFKC


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), max_size=300), st.integers(0, 12))
def test_minhash_steps_unchanged(hashes: list[int], n_title: int) -> None:
    words = np.array(hashes, dtype=np.uint32)
    n_title = min(n_title, words.size)
    assert np.array_equal(minhash.shingle_hashes(words), ref.shingle_hashes(words))
    sh = minhash.article_shingles(words, n_title)
    expected = ref.sorted_unique(np.concatenate([ref.shingle_hashes(words[:n_title]),
                                                 ref.shingle_hashes(words[n_title:])]))
    assert sh.dtype == np.uint32 and np.array_equal(sh, expected)
    assert np.array_equal(minhash.sorted_unique(words), ref.sorted_unique(words))
    sig = minhash.signature(sh)
    assert sig.dtype == np.uint32 and np.array_equal(sig, ref.signature(sh))
    assert minhash.band_keys(sig) == ref.band_keys(sig)
    assert minhash.lead_key(words) == ref.lead_key(words)
    assert fingerprint.fingerprint_hashes(words) == ref.fingerprint_hashes(words)


def test_word_level_functions_unchanged() -> None:
    toks = ["colour", "programme", "organisations", "travelling", "x", "", "東京", "σ"]
    assert np.array_equal(text.word_hashes(toks), ref.word_hashes(toks))
    assert text.word_hashes([]).dtype == np.uint32 and text.word_hashes([]).size == 0
    assert np.array_equal(minhash.shingles(toks), ref.shingles(toks))
    assert [text.fold_word(t) for t in toks] == [ref.fold_word(t) for t in toks]


# ---------------------------------------------------------------- a feed at once (issue 17)


def assert_batch_same(items: list[tuple[str, str, str | None]]) -> None:
    """``extract_many`` of the items (one feed's articles at once) is the reference's
    ``extract`` of each, ids aside (0 in a worker, set by the writer)."""
    for canonical in (False, True):
        got = features.extract_many([(T0, t, h, u) for t, h, u in items], canonical=canonical)
        assert len(got) == len(items)
        for (title, html, url), new in zip(items, got, strict=True):
            old = ref.extract(0, 0, T0, title, html, url, canonical=canonical)
            assert (new.article_id, new.source_id, new.published) == (0, 0, T0)
            assert (new.url_key, new.fingerprint) == (old.url_key, old.fingerprint)
            assert new.shingles.dtype == np.uint32 and new.shingles.flags.c_contiguous
            assert np.array_equal(new.shingles, old.shingles), (title, html)
            assert new.keys == old.keys, (title, html)
            assert all(type(k) is int for k in new.keys)


def test_a_feed_at_once_gives_each_article_its_features(
    benchmark_articles: list[tuple[str, str, str]],
) -> None:
    for i in range(0, len(benchmark_articles), 50):  # as the generated feeds come
        assert_batch_same(benchmark_articles[i : i + 50])
    assert_batch_same([(t, h, "https://example.org/a/b") for t, h in EDGE_CASES])
    assert_batch_same([])
    assert_batch_same([("", "", None)])


def test_a_batch_larger_than_one_signature_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """Feeds with more shingles than one product takes are split into several."""
    monkeypatch.setattr(minhash, "_SIGNATURE_BATCH", 100)
    assert_batch_same([("T", "<p>" + LONG + "</p>", None), *((t, h, None) for t, h in EDGE_CASES)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(articles(), max_size=8))
def test_generated_feeds_at_once_unchanged(batch: list[tuple[str, str]]) -> None:
    assert_batch_same([(t, h, "https://example.org/x") for t, h in batch])
