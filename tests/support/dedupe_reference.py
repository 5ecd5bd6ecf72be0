"""Frozen copy of feedhub.dedupe's feature code at commit f293529, before the speed-up.

Features are stored in users' databases and compared with newly computed ones, so the
optimized ``feedhub.dedupe`` must give bit-identical output; test_dedupe_equivalence.py
compares it with this copy. Do not edit it to follow the live code: that defeats the point.
Assembled from ``git show f293529:src/feedhub/dedupe/{text,minhash,fingerprint,features}.py``
(imports merged; nothing else changed).
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
import zlib
from datetime import datetime
from functools import cache, lru_cache
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from feedhub.dedupe.features import Features
from feedhub.dedupe.urls import canonical_url

# ---- text.py
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
# Block-level tags end a paragraph: trailers and bylines are whole paragraphs/sentences.
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|br|li|ul|ol|h[1-6]|blockquote|section|article|header|footer|figure"
    r"|figcaption|table|tr|td|th|pre|hr)\b[^>]*>",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+|\n+")
_WORD = re.compile(r"[^\W_]+")

# "WASHINGTON (Reuters) -", "LONDON, May 3 (AP) —", "(AFP) -": a dateline before the text.
_DATELINE = re.compile(r"^[^()\n]{0,60}?\([A-Za-z][\w .&/-]{1,30}\)\s*[-–—:]+\s*")
_BYLINE = re.compile(r"^(?:by|from|posted by|written by)\s+\S.{0,80}$", re.I)
_TRAILER = re.compile(
    r"(?:first|originally)\s+(?:published|appeared|posted)|appeared first on"
    r"|^(?:additional\s+)?(?:reporting|writing|editing|compiled)\s+by\b"
    r"|©|\bcopyright\b|all rights reserved|^read (?:more|the full)|continue reading"
    r"|^(?:source|via|credit)\s*:|^\W*$",
    re.I,
)
_MAX_BYLINE_WORDS = 10
_MAX_TRAILER_WORDS = 40  # a longer final sentence is content, whatever it says
_MAX_TRAILER_SENTENCES = 3

# Irregular British → American pairs that the suffix rules below do not cover.
_SPELLING = {
    "programme": "program", "programmes": "programs", "grey": "gray", "cheque": "check",
    "cheques": "checks", "tyre": "tire", "tyres": "tires", "aluminium": "aluminum",
    "defence": "defense", "offence": "offense", "licence": "license", "pretence": "pretense",
    "manoeuvre": "maneuver", "manoeuvres": "maneuvers", "jewellery": "jewelry",
    "plough": "plow", "catalogue": "catalog", "dialogue": "dialog", "analogue": "analog",
    "judgement": "judgment", "ageing": "aging", "enrol": "enroll", "enrolment": "enrollment",
    "fulfil": "fulfill", "fulfilment": "fulfillment", "skilful": "skillful",
    "sceptical": "skeptical",
    "paediatric": "pediatric", "anaemia": "anemia", "oestrogen": "estrogen", "kerb": "curb",
    "storey": "story", "storeys": "stories", "whilst": "while", "amongst": "among",
    "towards": "toward", "learnt": "learned", "spelt": "spelled", "draught": "draft",
}
_SUFFIXES = (  # (british ending, american ending, minimum word length)
    ("isation", "ization", 8), ("isations", "izations", 9),
    ("ise", "ize", 6), ("ised", "ized", 7), ("ises", "izes", 7), ("ising", "izing", 8),
    ("yse", "yze", 6), ("ysed", "yzed", 7), ("ysing", "yzing", 8),
    ("our", "or", 5), ("ours", "ors", 6), ("oured", "ored", 7), ("ouring", "oring", 8),
    ("ourite", "orite", 8), ("ourable", "orable", 9),
    ("tre", "ter", 5), ("tres", "ters", 6),
    ("lled", "led", 7), ("lling", "ling", 8), ("ller", "ler", 7), ("llers", "lers", 8),
)


def plain_text(markup: str) -> str:
    """Visible text of an HTML fragment, one paragraph per line (entities decoded)."""
    text = _DROP_BLOCKS.sub(" ", markup)
    text = _BLOCK_TAG.sub("\n", text)
    text = _TAG.sub(" ", text)
    return html.unescape(text)


def _is_byline(sentence: str) -> bool:
    return bool(_BYLINE.match(sentence)) and len(sentence.split()) <= _MAX_BYLINE_WORDS


def _is_trailer(sentence: str) -> bool:
    return bool(_TRAILER.search(sentence)) and len(sentence.split()) <= _MAX_TRAILER_WORDS


def strip_boilerplate(text: str, title: str = "") -> str:
    """Drop a leading byline/dateline, the headline repeated on top (some feeds put it in an
    <h1>, others do not) and up to three trailer sentences ("first published by …")."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]
    head = tokens(title) if title else None
    while sentences and (_is_byline(sentences[0]) or (head and tokens(sentences[0]) == head)):
        sentences.pop(0)
    if sentences:
        sentences[0] = _DATELINE.sub("", sentences[0], count=1)
    for _ in range(_MAX_TRAILER_SENTENCES):
        if not (sentences and _is_trailer(sentences[-1])):
            break  # the same last sentence would be tested again
        sentences.pop()
    return "\n".join(sentences)


@lru_cache(maxsize=1 << 16)
def fold_word(word: str) -> str:
    """One spelling for British/American variants (consistent, not necessarily correct)."""
    mapped = _SPELLING.get(word)
    if mapped is not None:
        return mapped
    for british, american, min_len in _SUFFIXES:
        if len(word) >= min_len and word.endswith(british):
            return word[: len(word) - len(british)] + american
    return word


def tokens(text: str) -> list[str]:
    """Lowercased, NFKC-normalized words (not yet spelling-folded); punctuation dropped."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def words(text: str) -> list[str]:
    """Lowercased, NFKC-normalized, spelling-folded words; punctuation is dropped."""
    return [fold_word(w) for w in tokens(text)]


# token → CRC-32 of its folded form. Python's str hash is salted per process, so a stable
# hash is needed for stored shingles; the memo makes hashing a dict lookup per word (the
# per-word Python work dominated the cost). Cleared when large: bounded memory.
_HASHES: dict[str, int] = {}
_MAX_HASHES = 1 << 19


def word_hashes(toks: list[str]) -> NDArray[np.uint32]:
    """Stable 32-bit hashes of the folded words, in order."""
    if len(_HASHES) > _MAX_HASHES:
        _HASHES.clear()
    hashes = list(map(_HASHES.get, toks))
    if None in hashes:
        for i, h in enumerate(hashes):
            if h is None:
                t = toks[i]
                hashes[i] = _HASHES[t] = zlib.crc32(fold_word(t).encode("utf-8"))
    return np.array(hashes, dtype=np.uint32)


def body_hashes(title: str, markup: str) -> NDArray[np.uint32]:
    """Word hashes of an article body without boilerplate or a repeated headline."""
    return word_hashes(tokens(strip_boilerplate(plain_text(markup), title)))


# ---- minhash.py
SHINGLE = 3  # word 3-shingles: measured P 0.998 / R 0.99 with the thresholds in decide.py
BANDS = 20
ROWS = 3
NUM_PERM = BANDS * ROWS
# LSH threshold ≈ (1/BANDS)^(1/ROWS) = 0.37: a pair at Jaccard 0.5 is a candidate with
# p = 1-(1-0.5^3)^20 = 0.93, at 0.6 with 0.992; verification (decide.py) keeps precision.
SEED = 1
LEAD_WORDS = 12  # a teaser and its full article share the first words of the body

_U64 = np.uint64
_U32 = np.uint32
_MAX32 = _U32(0xFFFFFFFF)
# Odd 64-bit multipliers (from the golden ratio and splitmix64) to mix word hashes.
_K1, _K2, _K3 = _U64(0x9E3779B97F4A7C15), _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_BAND_MULT = np.array([0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x2545F4914F6CDD1D], dtype=_U64)

Shingles = NDArray[np.uint32]


@cache
def _permutations() -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    """datasketch's own affine32 permutation parameters for (NUM_PERM, SEED), made once.

    Generated as ``datasketch.MinHash._init_permutations`` does (scheme "affine32"), without
    importing datasketch: it pulls in scipy, ~0.4 s at every process start. A test compares
    them with datasketch's (a test-only dependency).
    """
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=_U32) * _U32(2) + _U32(1)  # odd multipliers
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=_U32)
    return a, b


def _fmix32(h: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """MurmurHash3's 32-bit finalizer: datasketch's pre-mix before the permutations."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def shingle_hashes(word_hashes: NDArray[np.uint32]) -> Shingles:
    """32-bit hashes of the word 3-shingles, in text order (not unique).

    A text shorter than one shingle gives one shingle of all its words.
    """
    if word_hashes.size == 0:
        return np.empty(0, dtype=np.uint32)
    h = word_hashes.astype(_U64)
    if h.size < SHINGLE:
        h = np.concatenate([h, np.zeros(SHINGLE - h.size, dtype=_U64)])
    with np.errstate(over="ignore"):  # wrap-around multiplication is the point
        mixed = h[:-2] * _K1 + h[1:-1] * _K2 + h[2:] * _K3
        mixed ^= mixed >> _U64(29)
        mixed *= _K2
    return (mixed >> _U64(32)).astype(np.uint32)


def sorted_unique(h: NDArray[np.uint32]) -> Shingles:
    """``np.unique(h)`` for a 1-D array, ~4× faster on a few hundred values (np.unique's
    general machinery cost more than the sort)."""
    if h.size == 0:
        return h.astype(np.uint32)
    s = np.sort(h)
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def shingles(words: list[str]) -> Shingles:
    """Sorted unique shingle hashes of normalized words (see text.word_hashes)."""
    return sorted_unique(shingle_hashes(word_hashes(words)))


def signature(sh: Shingles) -> NDArray[np.uint32]:
    """MinHash signature (NUM_PERM values) of a shingle set, as datasketch computes it."""
    a, b = _permutations()
    if sh.size == 0:
        return np.full(NUM_PERM, _MAX32, dtype=_U32)
    with np.errstate(over="ignore"):  # uint32 wrap-around is the modulo 2^32 of the scheme
        phv = _fmix32(sh.astype(_U32))[:, None] * a + b
    return phv.min(axis=0)


def band_keys(sig: NDArray[np.uint32]) -> list[int]:
    """One signed 64-bit key per LSH band: equal key ⇔ equal band (up to 2^-64 collisions)."""
    rows = sig.astype(_U64).reshape(BANDS, ROWS)
    with np.errstate(over="ignore"):
        mixed = (rows * _BAND_MULT).sum(axis=1, dtype=_U64)
        mixed += np.arange(1, BANDS + 1, dtype=_U64) * _K1  # band index: equal rows in
        mixed ^= mixed >> _U64(31)  # different bands are different keys
        mixed *= _K3
    return [int(v) for v in mixed.view(np.int64)]


def lead_key(body: NDArray[np.uint32]) -> int | None:
    """Key of the body's first words (word hashes), so a teaser finds its full article (LSH
    cannot: their Jaccard is low). None for bodies shorter than LEAD_WORDS."""
    if body.size < LEAD_WORDS:
        return None
    digest = hashlib.blake2b(b"lead" + body[:LEAD_WORDS].astype("<u4").tobytes(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


# ---- fingerprint.py
# Below this a body is a teaser or a stub ("Click to read the briefing"): equal stubs are
# no evidence that two items are one story, so they get no fingerprint.
MIN_FINGERPRINT_WORDS = 40


def fingerprint_hashes(body: NDArray[np.uint32]) -> str | None:
    """Hash of a body's word hashes (text.body_hashes), or None when too short to be evidence."""
    if body.size < MIN_FINGERPRINT_WORDS:
        return None
    return hashlib.blake2b(body.astype("<u4").tobytes(), digest_size=16).hexdigest()


def content_fingerprint(title: str, html: str) -> str | None:
    """Hash of the normalized body: insensitive to whitespace, markup, case, punctuation,
    spelling variants, a byline/dateline and a short "first published by …" trailer.

    The title only matters when the body repeats it first (it is then removed); a reworded
    headline over the same body keeps the same fingerprint on purpose.
    """
    return fingerprint_hashes(body_hashes(title, html))


# ---- features.py
def url_key(url: str | None, *, canonical: bool = False) -> str | None:
    """Hash of the canonical URL (fixed width, so long URLs index on every backend).

    A site's home page is no article identity: feeds that link every item to "/" would
    otherwise merge all their items. ``canonical=True``: ``url`` already went through
    ``canonical_url`` (ingest has it; doing it again was a quarter of the features' cost).
    """
    if not url:
        return None
    canon = url if canonical else canonical_url(url)
    parts = urlsplit(canon)
    if parts.scheme != "https" or (parts.path in ("", "/") and not parts.query):
        return None
    return hashlib.blake2b(canon.encode("utf-8"), digest_size=16).hexdigest()


def extract(
    article_id: int,
    source_id: int,
    published: datetime,
    title: str,
    html: str,
    url: str | None,
    *,
    canonical: bool = False,
) -> Features:
    """Features of one article; ``html`` is its content, or its summary when it has none.

    ``canonical=True`` when ``url`` is already the article's canonical URL.
    Title and body are shingled separately (no shingle spans the seam) so a teaser whose
    headline was reworded still has most of its shingles inside the full article.
    """
    body = body_hashes(title, html)
    sh = sorted_unique(np.concatenate([shingle_hashes(word_hashes(tokens(title))),
                                       shingle_hashes(body)]))
    keys = band_keys(signature(sh)) if sh.size else []
    lead = lead_key(body)
    if lead is not None:
        keys.append(lead)
    return Features(
        article_id=article_id,
        source_id=source_id,
        published=published,
        url_key=url_key(url, canonical=canonical),
        fingerprint=fingerprint_hashes(body),
        shingles=sh,
        keys=tuple(keys),
    )
