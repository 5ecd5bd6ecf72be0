"""Tokenizing articles for related-news scoring (pure).

Words are case- and accent-folded, stopwords dropped and lightly stemmed, so "Troops" and
"troop", "Sénégal" and "Senegal" meet. Stripping -ing/-ed as well, 5/6-letter prefixes and
word bigrams were tried on the UCI headlines: each moved P@1/nP@3 by under 0.005 (noise), so
the simplest (plural-only) stemmer stays; dropping the stopwords or the stemming cost ~0.01.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from feedhub.util.text import fold, html_to_text

# Bump when tokens change: stored term vectors are then stale and need `rebuild_related`.
TOKENIZER_VERSION = 1
# Term vectors and text vectors give the lead (title + the feed's teaser) a fixed share of an
# article whose content is its page's text (issue 15's full text): see `lead_text`,
# `feedhub.related.update._lead`, `vector.term_vector`, `semantic.embed_article`. The text
# vectors' model id names the rule, so a store indexed before is re-weighted.

_WORD = re.compile(r"[^\W_]+")

# Function words plus news boilerplate that links unrelated stories ("says", "update").
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t d ll m o re ve y don isn aren wasn weren hasn haven hadn doesn didn won wouldn shan
    shouldn couldn mustn may might must shall us via per amid among upon onto within without
    says said say saying tell tells told new news report reports reported update updated
    updates latest today yesterday tomorrow week weeks year years day days time one two three
    first last get gets got make makes made like just still even back well way could would
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
MAX_TERM_LENGTH = 64  # longer "words" are identifiers or junk, and must fit the term column


def stem(word: str) -> str:
    """Light suffix stripping: plurals and possessive-like endings only (an S-stemmer)."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> Iterator[str]:
    """Index terms of plain text, in order (stopwords and 1-character tokens dropped)."""
    for word in _WORD.findall(fold(text)):
        if 1 < len(word) <= MAX_TERM_LENGTH and word not in STOPWORDS:
            yield stem(word)


def lead_text(summary_text: str, content_text: str) -> str:
    """The feed's teaser as the article's lead, when the article has a longer text beside it
    ('' otherwise: the teaser is all the article has, or there is no teaser).

    Why (issue 15): a page of full text is mostly body, and a body drifts from the story
    into background, quotes and other news; two reports of one event share their headline's
    and lead's who and what far more than their bodies. Weighted by length, the body drowned
    the title and teaser that linked such pairs without full text: on the summary-only
    labelled pairs (benchmarks/fulltext.py) 41 of 228 same-story pairs fell under the
    relevance floor once their pages were added. Given a fixed share, the lead keeps the
    links the teaser made, and the body still separates look-alike headlines.
    """
    lead, body = summary_text.strip(), content_text.strip()
    return lead if lead and len(body) > len(lead) else ""


def document_terms(title: str, summary: str, content: str) -> tuple[Counter[str], Counter[str]]:
    """Term counts of the title and of the body (summary + content, HTML stripped).

    The summary is skipped when the content already starts with it, so a teaser repeated as
    the first paragraph does not count twice.
    """
    body_text = html_to_text(content)
    summary_text = html_to_text(summary)
    if summary_text.strip() and summary_text.strip()[:200] not in body_text:
        body_text = summary_text + "\n" + body_text
    return Counter(words(title)), Counter(words(body_text))


def lead_terms(summary: str, content: str) -> Counter[str] | None:
    """Term counts of the article's lead (`lead_text`: the teaser of an article that has a
    longer text), or None when it has no separate lead."""
    lead = lead_text(html_to_text(summary), html_to_text(content))
    return Counter(words(lead)) if lead else None
