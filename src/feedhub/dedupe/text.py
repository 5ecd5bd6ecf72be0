"""Text normalization shared by the content fingerprint and MinHash shingles.

Two copies of one story differ in markup, whitespace, case, punctuation, a byline or
dateline in front, a "first published by …" trailer at the end, and British vs American
spelling. Everything here maps those differences to one form. Spelling folding only has
to be *consistent* (both copies go through it), not linguistically right, so a rule that
also rewrites an unrelated word ("fence" → "fense") does no harm.
"""

from __future__ import annotations

import array
import html
import re
import unicodedata
import zlib
from functools import lru_cache
from operator import itemgetter

import numpy as np
from numpy.typing import NDArray

_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
# Block-level tags end a paragraph: trailers and bylines are whole paragraphs/sentences.
# The tag names p div br li ul ol h1-h6 blockquote section article header footer figure
# figcaption table tr td th pre hr, factored by prefix: with re.I every alternative is tried
# at each "<" (3.4 instead of 4.2 µs per benchmark article). A match always ends at the next
# ">", so only *whether* one matches at a "<" matters, not which alternative.
_BLOCK_TAG = re.compile(
    r"</?(?:p(?:re)?|div|b(?:r|lockquote)|li|ul|ol|h(?:[1-6]|eader|r)|section|article"
    r"|f(?:ooter|ig(?:ure|caption))|t(?:able|[rdh]))\b[^>]*>",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+|\n+")
_SENTENCE_END = re.compile(r"[.!?…]\s+")  # within a line: see _split_first
_SENTENCE_END_REVERSED = re.compile(r"\s+[.!?…]")  # _SENTENCE_END in a reversed line
_WORD = re.compile(r"[^\W_]+")
# Every ASCII character _WORD does not match → space (translate table for ``tokens``).
_ASCII_NON_WORD = {i: " " for i in range(128) if not chr(i).isalnum()}
# Non-word characters common in news text after NFKC (quotes, dashes, signs): replaced by
# spaces, which does not change _WORD's matches, they often leave the ASCII fast path open.
_PUNCTUATION = "‘’“”–—«»•·©®°"

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
# Starts one of which some _TRAILER alternatives need (ASCII, lower-cased): _may_be_trailer.
_TRAILER_STARTS = ("additional", "reporting", "writing", "editing", "compiled", "read ",
                   "source", "via", "credit")
_WORD_CHAR = re.compile(r"\w")
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
    if sentence.isascii() and not _may_be_trailer(sentence):
        return False
    return bool(_TRAILER.search(sentence)) and len(sentence.split()) <= _MAX_TRAILER_WORDS


def _may_be_trailer(sentence: str) -> bool:
    """False only if _TRAILER cannot match the ASCII ``sentence``: each alternative needs
    one of these substrings (re.I on ASCII is lower-casing). Searching _TRAILER itself
    took 7.4 µs per benchmark article, these checks ~0.5 µs."""
    low = sentence.lower()
    return (
        low.startswith(_TRAILER_STARTS)
        or "first" in low  # the alternatives' literals, unrolled: no generator
        or "originally" in low
        or "copyright" in low
        or "all rights reserved" in low
        or "continue reading" in low
        or not _WORD_CHAR.search(sentence)  # ^\W*$
    )


def _sentences(text: str) -> list[str]:
    """Non-empty stripped sentences of ``text`` (a sentence end or a newline splits)."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]


def _split_first(line: str) -> tuple[str, str]:
    """The first of ``_sentences(line)`` and the rest of ``line``, unsplit ("" when none).

    ``line``: not blank, no newline. A match of _SENTENCE_END starts one character before
    _SENTENCE_SPLIT's lookbehind match, and is found ~10× faster (a leading class is
    scanned for; the lookbehind is tried at every position).
    """
    m = _SENTENCE_END.search(line)
    if m is None:
        return line.strip(), ""
    return line[: m.start() + 1].strip(), line[m.end() :]


def _split_last(line: str) -> tuple[str, str]:
    """The start of ``line`` before its last sentence, unsplit ("" when none), and the last
    of ``_sentences(line)``; ``line`` as for ``_split_first``.

    Searched backwards (in the reversed line): the first whitespace run followed by a
    sentence end there is the last whitespace run preceded by one here.
    """
    line = line.rstrip()
    m = _SENTENCE_END_REVERSED.search(line[::-1])
    if m is None:
        return "", line.strip()
    return line[: len(line) - m.end() + 1], line[len(line) - m.start() :]


def strip_boilerplate(text: str, title: str = "") -> str:
    """Drop a leading byline/dateline, the headline repeated on top (some feeds put it in an
    <h1>, others do not) and up to three trailer sentences ("first published by …").

    Only the result's tokens are specified (body_hashes tokenizes it): a line of it is one
    sentence or several untouched ones (see ``_strip``).
    """
    return _strip(text, tokens(title) if title else None)


def _strip(text: str, head: list[str] | None) -> str:
    """``strip_boilerplate`` with the title's tokens (``head``) already computed.

    Only the sentences the rules look at are split off: splitting the whole text with
    _SENTENCE_SPLIT took 25 of the 41 µs per benchmark article. Every separator that split
    drops is whitespace and every piece is stripped, so a text's sentences are its lines'
    sentences in order, and the unsplit rest of the text has the tokens of its sentences.
    Lines are taken off both ends as needed (``lo``/``hi``: the untouched middle); where the
    head and the tail would meet, the whole text is split instead (same result).
    """
    lo, hi = 0, len(text)
    line, lo = _next_line(text, lo, hi)
    last_line, hi = _previous_line(text, lo, hi)
    if not last_line:  # at most one non-blank line
        return "\n".join(_strip_sentences(_sentences(text), head))
    first, first_rest = _split_first(line)
    while _is_boilerplate_head(first, head):
        if not first_rest:
            first_rest, lo = _next_line(text, lo, hi)
            if not first_rest:
                return "\n".join(_strip_sentences(_sentences(text), head))
        first, first_rest = _split_first(first_rest)
    first = _DATELINE.sub("", first, count=1)
    last: str | None
    last_rest, last = _split_last(last_line)
    for _ in range(_MAX_TRAILER_SENTENCES):
        if last is None:  # dropped: the one before it is tested next
            if not last_rest:
                last_rest, hi = _previous_line(text, lo, hi)
                if not last_rest:
                    return "\n".join(_strip_sentences(_sentences(text), head))
            last_rest, last = _split_last(last_rest)
        if not _is_trailer(last):
            break
        last = None
    parts = [first, first_rest, text[lo:hi], last_rest, last]
    return "\n".join([part for part in parts if part])


def _next_line(text: str, lo: int, hi: int) -> tuple[str, int]:
    """The first non-blank line in ``text[lo:hi]`` ("" when none) and where it ends."""
    while lo < hi:
        end = text.find("\n", lo, hi)
        if end < 0:
            end = hi
        line = text[lo:end]
        if line and not line.isspace():
            return line, end
        lo = end + 1
    return "", hi


def _previous_line(text: str, lo: int, hi: int) -> tuple[str, int]:
    """The last non-blank line in ``text[lo:hi]`` ("" when none) and where it starts."""
    while lo < hi:
        start = text.rfind("\n", lo, hi) + 1 or lo
        line = text[start:hi]
        if line and not line.isspace():
            return line, start
        hi = start - 1 if start > lo else lo
    return "", lo


def _is_boilerplate_head(sentence: str, head: list[str] | None) -> bool:
    """A byline, or the headline repeated (``head``: the title's tokens)."""
    return _is_byline(sentence) or bool(head and tokens(sentence) == head)


def _strip_sentences(sentences: list[str], head: list[str] | None) -> list[str]:
    """The boilerplate rules on a text's full sentence list (modified in place)."""
    while sentences and _is_boilerplate_head(sentences[0], head):
        sentences.pop(0)
    if sentences:
        sentences[0] = _DATELINE.sub("", sentences[0], count=1)
    for _ in range(_MAX_TRAILER_SENTENCES):
        if not (sentences and _is_trailer(sentences[-1])):
            break  # the same last sentence would be tested again
        sentences.pop()
    return sentences


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
    text = unicodedata.normalize("NFKC", text).lower()
    if not text.isascii():
        for mark in _PUNCTUATION:  # common non-word characters: maybe ASCII without them
            if mark in text:
                text = text.replace(mark, " ")
        if not text.isascii():
            return _WORD.findall(text)
    # For ASCII, _WORD's words are the runs of [a-z0-9]: translate + split gives the same
    # list in 14 µs instead of 30 µs per benchmark body (findall's per-char Unicode checks).
    return text.translate(_ASCII_NON_WORD).split()


def words(text: str) -> list[str]:
    """Lowercased, NFKC-normalized, spelling-folded words; punctuation is dropped."""
    return [fold_word(w) for w in tokens(text)]


# token → CRC-32 of its folded form. Python's str hash is salted per process, so a stable
# hash is needed for stored shingles; the memo makes hashing a dict lookup per word (the
# per-word Python work dominated the cost). Cleared when large: bounded memory.
_HASHES: dict[str, int] = {}
# The same for ASCII tokens as bytes (see _ascii_hashes); both count against _MAX_HASHES.
_ASCII_HASHES: dict[bytes, int] = {}
_MAX_HASHES = 1 << 19
# bytes.translate table for _ascii_hashes: ASCII letters and digits lower-cased, the rest
# (what _WORD does not match in ASCII, and non-ASCII, which never occurs there) → space.
_ASCII_WORD_BYTES = bytes(
    ord(chr(i).lower()) if i < 128 and chr(i).isalnum() else 32 for i in range(256)
)
_ARRAY_U32 = next(code for code in "IL" if array.array(code).itemsize == 4)


def _lookup(toks: list[str] | list[bytes], memo: dict) -> tuple[int, ...]:
    """``memo``'s hash of each token, computing (and memoizing) the missing ones."""
    if len(_HASHES) + len(_ASCII_HASHES) > _MAX_HASHES:
        _HASHES.clear()
        _ASCII_HASHES.clear()
    if len(toks) > 1:  # itemgetter of one key returns the value, not a 1-tuple
        try:
            # All looked up in one C call: 1.4 µs less per benchmark body than
            # list(map(memo.get, toks)), the fastest of the per-item ways measured.
            return itemgetter(*toks)(memo)
        except KeyError:
            pass
    hashes = list(map(memo.get, toks))
    for i, h in enumerate(hashes):
        if h is None:
            t = toks[i]
            word = t if isinstance(t, str) else t.decode("ascii")
            hashes[i] = memo[t] = zlib.crc32(fold_word(word).encode("utf-8"))
    return tuple(hashes)


def _ascii_hashes(text: str) -> tuple[int, ...]:
    """The hashes of ``tokens(text)`` for an ASCII ``text``, ~2.5 µs faster per benchmark
    body: bytes.translate also lower-cases, and bytes.split makes cheaper objects."""
    return _lookup(text.encode("ascii").translate(_ASCII_WORD_BYTES).split(), _ASCII_HASHES)


def _u32(hashes: tuple[int, ...]) -> NDArray[np.uint32]:
    """The hashes as a uint32 array."""
    # Via array.array: 2.5 instead of 3.3 µs per benchmark body for np.array(list, uint32).
    return np.frombuffer(array.array(_ARRAY_U32, hashes), dtype=np.uint32)


def word_hashes(toks: list[str]) -> NDArray[np.uint32]:
    """Stable 32-bit hashes of the folded words, in order."""
    return _u32(_lookup(toks, _HASHES))


def body_hashes(title: str, markup: str) -> NDArray[np.uint32]:
    """Word hashes of an article body without boilerplate or a repeated headline."""
    words, n_title = article_word_hashes(title, markup)
    return words[n_title:]


def article_word_hashes(title: str, markup: str) -> tuple[NDArray[np.uint32], int]:
    """Word hashes of the title followed by ``body_hashes(title, markup)``, and the title's
    word count: features.extract needs both, and tokenizes the title once this way."""
    head = tokens(title)
    body = _strip(plain_text(markup), head if title else None)
    if body.isascii():
        hashes = _lookup(head, _HASHES) + _ascii_hashes(body)
    else:
        hashes = _lookup(head + tokens(body), _HASHES)
    return _u32(hashes), len(head)
