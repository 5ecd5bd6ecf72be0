"""Text normalization shared by the content fingerprint and MinHash shingles.

Two copies of one story differ in markup, whitespace, case, punctuation, a byline or
dateline in front, a "first published by …" trailer at the end, and British vs American
spelling. Everything here maps those differences to one form. Spelling folding only has
to be *consistent* (both copies go through it), not linguistically right, so a rule that
also rewrites an unrelated word ("fence" → "fense") does no harm.
"""

from __future__ import annotations

import html
import re
import unicodedata
import zlib
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

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
