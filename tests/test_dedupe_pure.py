"""Pure dedupe parts: canonical URLs, content fingerprints, MinHash, merge decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given
from hypothesis import strategies as st

from feedhub.dedupe import canonical_url, compare, content_fingerprint, extract
from feedhub.dedupe.decide import UnionFind, components, representative
from feedhub.dedupe.minhash import (
    NUM_PERM,
    SEED,
    _permutations,
    shingles,
    signature,
    sorted_unique,
)
from feedhub.dedupe.text import words
from tests.test_dedupe_texts import (
    FERRY,
    FERRY_OTHER,
    FERRY_OTHER_TITLE,
    FERRY_TITLE,
    ORCHARD,
    html,
)

T0 = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # tracking parameters, of every listed family, are removed; others are kept
        ("https://example.org/a?utm_source=rss&utm_medium=feed&id=3", "https://example.org/a?id=3"),
        ("https://example.org/a?fbclid=X&gclid=Y&mc_cid=1&mc_eid=2", "https://example.org/a"),
        ("https://example.org/a?ocid=x&xtor=RSS-1&at_medium=m&smid=tw", "https://example.org/a"),
        ("https://example.org/a?WT.mc_id=5&_hsenc=p&mkt_tok=t&spm=a.b", "https://example.org/a"),
        ("https://example.org/a?UTM_Campaign=spring&page=2", "https://example.org/a?page=2"),
        # http → https, www., case of the host, default ports
        ("http://www.Example.ORG/a", "https://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("http://example.org:80/a", "https://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        # fragment, trailing slash, parameter order
        ("https://example.org/a/#comments", "https://example.org/a"),
        ("https://example.org/a/b/", "https://example.org/a/b"),
        ("https://example.org/a?b=2&a=1", "https://example.org/a?a=1&b=2"),
        ("https://example.org", "https://example.org/"),
        # the path keeps its case: it is the server's to interpret
        ("https://example.org/News/Item", "https://example.org/News/Item"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_variants_compare_equal() -> None:
    variants = [
        "https://www.harbourwire.example/story/ferry-returns?utm_source=rss",
        "http://harbourwire.example/story/ferry-returns/",
        "HTTPS://HarbourWire.example:443/story/ferry-returns#top",
        "https://harbourwire.example/story/ferry-returns?fbclid=abc&utm_medium=social",
    ]
    assert len({canonical_url(v) for v in variants}) == 1


@pytest.mark.parametrize(
    "url", ["", "   ", "not a url", "mailto:desk@example.org", "http://", "http://[::1",
            "http://example.org:99999/x", "javascript:alert(1)", "ftp://example.org/x/"],
)
def test_canonical_url_never_raises(url: str) -> None:
    assert canonical_url(url) == url.strip()


def test_tracker_list_is_documented_and_complete() -> None:
    text = files("feedhub.dedupe").joinpath("trackers.txt").read_text(encoding="utf-8")
    assert text.startswith("#")
    entries = {ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}
    for name in ("utm_*", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ocid",
                 "xtor", "at_medium", "at_campaign", "smid", "igshid", "_hsenc", "_hsmi",
                 "mkt_tok", "ref_src", "cmpid", "ito", "wt_mc", "yclid", "spm"):
        assert name in entries


def test_fingerprint_ignores_markup_whitespace_case_and_punctuation() -> None:
    plain = content_fingerprint(FERRY_TITLE, html(FERRY))
    assert plain is not None
    messy = "<div class='x'>\n" + "  <br/>".join(
        f"<span>{p.upper().replace(',', ' ;').replace('.', ' !')}</span>" for p in FERRY
    ) + "<!-- ad slot --><script>track()</script></div>"
    assert content_fingerprint(FERRY_TITLE, messy) == plain


def test_fingerprint_ignores_trailer_byline_dateline_and_repeated_headline() -> None:
    plain = content_fingerprint(FERRY_TITLE, html(FERRY))
    wire = (
        f"<h1>{FERRY_TITLE}</h1><p>By Ada Quill, Staff Reporter</p>"
        f"<p>MERROW ISLAND (Harbour Wire) - {FERRY[0]}</p>" + html(FERRY[1:])
        + "<p>This story was first published by The Harbour Wire.</p>"
    )
    assert content_fingerprint(FERRY_TITLE, wire) == plain
    inline = html(FERRY) + "<p>Reporting by Ada Quill; editing by Tom Reed. © 2024 Wire</p>"
    assert content_fingerprint(FERRY_TITLE, inline) == plain


def test_fingerprint_folds_british_and_american_spelling() -> None:
    body = html(FERRY).replace("Harbour", "Harbor").replace("harbour", "harbor")
    assert content_fingerprint(FERRY_TITLE, body) == content_fingerprint(FERRY_TITLE, html(FERRY))
    assert words("organise colour centre travelled defence") == words(
        "organize color center traveled defense"
    )


def test_fingerprint_differs_for_other_text_and_is_none_for_teasers() -> None:
    assert content_fingerprint(FERRY_TITLE, html(FERRY)) != content_fingerprint(
        FERRY_TITLE, html(ORCHARD)
    )
    reworded = [*FERRY[:2], "The crossing takes about twenty minutes in good weather.", *FERRY[3:]]
    assert content_fingerprint(FERRY_TITLE, html(reworded)) != content_fingerprint(
        FERRY_TITLE, html(FERRY)
    )
    assert content_fingerprint(FERRY_TITLE, f"<p>{FERRY[0]}</p>") is None
    # a long last paragraph is content, even when it mentions publishing
    long_tail = html(FERRY) + "<p>" + " ".join(["It was first published by", *FERRY[:2]]) + "</p>"
    assert content_fingerprint(FERRY_TITLE, long_tail) != content_fingerprint(
        FERRY_TITLE, html(FERRY)
    )


def test_signature_equals_datasketch() -> None:
    sh = shingles(words(" ".join(FERRY)))
    ref = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=int)
    ref.update_batch(sh.tolist())
    assert np.array_equal(signature(sh), ref.hashvalues)


def test_permutations_equal_datasketch() -> None:
    """feedhub makes datasketch's affine32 permutations itself (no scipy import at start-up)."""
    a, b = _permutations()
    ref_a, ref_b = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, ref_a) and np.array_equal(b, ref_b)


def test_shingles_are_stable_and_order_sensitive() -> None:
    a = shingles(["ferry", "returns", "to", "service"])
    assert np.array_equal(a, shingles(["ferry", "returns", "to", "service"]))
    assert not np.array_equal(a, shingles(["service", "to", "returns", "ferry"]))
    assert a.size == 2


def _f(article_id: int, source_id: int, title: str, body: list[str], *, url: str | None = None,
       days: float = 0):
    return extract(article_id, source_id, T0 + timedelta(days=days), title, html(body), url)


def test_compare_rules() -> None:
    full = _f(1, 1, FERRY_TITLE, FERRY)
    assert compare(full, _f(2, 2, FERRY_TITLE.upper(), FERRY)) is not None
    independent = _f(3, 2, FERRY_OTHER_TITLE, FERRY_OTHER)
    assert compare(full, independent) is None
    # same URL: evidence across sources, not within one source
    a = _f(4, 1, "Ferry", ["Short note one."], url="https://x.example/ferry?utm_source=a")
    b = _f(5, 2, "Ferry", ["Other note."], url="http://www.x.example/ferry/")
    c = _f(6, 1, "Ferry", ["Other note."], url="http://www.x.example/ferry/")
    assert compare(a, b) is not None and compare(a, b).reason == "url"  # type: ignore[union-attr]
    assert compare(a, c) is None
    # a home-page link is no identity
    home1 = _f(7, 1, "Note", ["First."], url="https://x.example/")
    home2 = _f(8, 2, "Note", ["Second."], url="https://www.x.example")
    assert compare(home1, home2) is None
    # the window
    later = _f(9, 2, FERRY_TITLE, FERRY, days=8)
    assert compare(full, later) is None
    assert compare(full, later, window=timedelta(days=9)) is not None


def test_union_find_and_representative() -> None:
    uf = UnionFind()
    assert uf.union(1, 2) and uf.union(3, 4) and uf.union(2, 3)
    assert not uf.union(1, 4)
    assert components([1, 2, 3, 4, 5], [(1, 2), (4, 3)]) == [[1, 2], [3, 4], [5]]
    assert representative([(T0, 2, 1), (T0, 1, 9), (T0 + timedelta(1), 0, 3)]) == 9
    assert representative([(T0, 0, 7), (T0, 0, 5)]) == 5


@given(st.lists(st.integers(0, 2**32 - 1), max_size=300))
def test_sorted_unique_equals_numpy_unique(values: list[int]) -> None:
    h = np.array(values, dtype=np.uint32)
    got = sorted_unique(h)
    assert got.dtype == np.uint32
    assert np.array_equal(got, np.unique(h))


def test_features_survive_the_trip_from_a_parse_worker() -> None:
    """Features cross a process boundary (pickle) with their own compact form."""
    import pickle

    f = extract(
        7, 3, datetime(2024, 5, 1, tzinfo=UTC), "Sahel talks resume",
        "<p>" + " ".join(f"word{i}" for i in range(80)) + "</p>", "https://news.example/a/1",
    )
    g = pickle.loads(pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL))
    assert (g.article_id, g.source_id, g.published, g.url_key, g.fingerprint, g.keys) == (
        f.article_id, f.source_id, f.published, f.url_key, f.fingerprint, f.keys
    )
    assert g.shingles.dtype == np.uint32 and np.array_equal(g.shingles, f.shingles)
    assert compare(f, g) is not None and compare(f, g).similarity == 1.0


def test_public_url_drops_trackers_and_keeps_the_address() -> None:
    """What publish links to (issue 18): the source's address minus tracking parameters,
    never rewritten to https or without www (a site may not serve those)."""
    from feedhub.dedupe.urls import public_url, without_trackers

    tracked = "http://www.example.org/a/?id=3&utm_source=rss&utm_medium=feed#top"
    assert without_trackers(tracked) == "http://www.example.org/a/?id=3#top"
    assert without_trackers("https://example.org/a?b=1&c=2") == "https://example.org/a?b=1&c=2"
    mail = "mailto:x@example.org?utm_source=x"
    assert without_trackers(mail) == mail  # only http(s) URLs are touched
    assert public_url(tracked, canonical_url(tracked)) == "http://www.example.org/a/?id=3#top"
    # A feed's own original (feedburner:origLink) wins over its redirecting entry link.
    routed = "https://feeds.example/~r/site/~3/abc?utm_source=feedburner"
    assert public_url(routed, "https://site.example/story") == "https://site.example/story"
    # A canonical stored before a tracker name was listed is the same page, not an original.
    stale = "https://example.org/a?id=3&utm_source=rss"
    assert public_url("https://example.org/a?id=3&utm_source=rss", stale) == (
        "https://example.org/a?id=3"
    )
    assert public_url(None, None) is None
