"""Plain text from HTML, and the folded form words are matched in: one helper for topics
and related news (their stored results depend on it: ``topics.MATCHER_VERSION``,
``related.text.TOKENIZER_VERSION``).

Two other HTML → text functions stay apart on purpose, because their results differ and
are stored: ``dedupe.text.plain_text`` drops script/style blocks and ends a line at block
tags (dedupe fingerprints and shingles are pinned by tests/test_dedupe_equivalence.py), and
``parse.sanitize.to_text`` runs nh3 and collapses whitespace (stored titles and names).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def strip_accents(text: str) -> str:
    """NFKD-decompose and drop combining marks: "Sénégal" → "Senegal" (case kept)."""
    if text.isascii():  # nothing to decompose; the per-character loop was 60 % of matching
        return text
    # Only the non-ASCII runs go through the per-character loop (issue 17): one curly quote,
    # dash or &nbsp; put a whole article there, 6× the time on full-content feeds. The result
    # is the same: NFKD maps each character on its own and reorders only combining marks,
    # which are dropped (tests/test_topics.py compares with the whole-text form).
    return _NON_ASCII.sub(_strip_run, text)


def _strip_run(run: re.Match[str]) -> str:
    return _stripped(run.group())


@lru_cache(maxsize=4096)
def _stripped(run: str) -> str:
    """A non-ASCII run without accents. Memoized (issue 17): news text repeats a few runs
    (curly quotes, dashes, the same accented names) in every article."""
    decomposed = unicodedata.normalize("NFKD", run)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text, for matching and tokenizing."""
    return strip_accents(text).casefold()


def html_to_text(markup: str) -> str:
    """Plain text of sanitized HTML: tags become spaces so words in adjacent blocks stay apart."""
    if "<" not in markup and "&" not in markup:
        return markup
    return html.unescape(_TAG.sub(" ", markup))
