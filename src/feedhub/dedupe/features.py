"""What dedupe knows about one article: URL key, content fingerprint, shingles, index keys.

Computed once per new or changed article (pure) and stored by ``feedhub.store.dedupe``, so
candidates are compared without re-reading or re-parsing their HTML.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from feedhub.dedupe.fingerprint import fingerprint_hashes
from feedhub.dedupe.minhash import (
    article_shingles,
    band_keys,
    lead_key,
    many_article_shingles,
    many_band_keys,
    signature,
)
from feedhub.dedupe.text import article_word_hashes
from feedhub.dedupe.urls import canonical_url
from feedhub.model import DedupeFeatures as Features

# "https://" then printable ASCII but "[" and "]": urlsplit strips or removes nothing (C0
# controls, space, tab, newline), has no IPv6 host to check and finds the scheme "https".
_PLAIN_HTTPS = re.compile(r"https://[!-Z\\^-~]*")
# Printable ASCII but the delimiters that end urlsplit's netloc: lstrip drops the host.
_HOST_CHARS = "".join(chr(c) for c in range(33, 127) if chr(c) not in "/?#")


def url_key(url: str | None, *, canonical: bool = False) -> str | None:
    """Hash of the canonical URL (fixed width, so long URLs index on every backend).

    A site's home page is no article identity: feeds that link every item to "/" would
    otherwise merge all their items. ``canonical=True``: ``url`` already went through
    ``canonical_url`` (ingest has it; doing it again was a quarter of the features' cost).
    """
    if not url:
        return None
    canon = url if canonical else canonical_url(url)
    if _PLAIN_HTTPS.fullmatch(canon):
        # urlsplit's own steps for a URL it would not clean up (printable ASCII, no
        # brackets) with the scheme "https": 0.9 instead of 2.8 µs per benchmark article.
        after_host = canon[8:].partition("#")[0].lstrip(_HOST_CHARS)
        path, _, query = after_host.partition("?")
    else:
        parts = urlsplit(canon)
        if parts.scheme != "https":
            return None
        path, query = parts.path, parts.query
    if path in ("", "/") and not query:
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
    words, n_title = article_word_hashes(title, html)
    body = words[n_title:]
    sh = article_shingles(words, n_title)
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


def extract_many(
    items: Sequence[tuple[datetime, str, str, str | None]], *, canonical: bool = False
) -> list[Features]:
    """``extract(0, 0, published, title, html, url)`` of each item, the same features: one
    feed's articles at once, so the MinHash steps are numpy calls per feed, not per
    article (issue 17). Ids are 0: the writer sets them (as for ``extract`` in a worker).
    """
    words = [article_word_hashes(title, html) for _, title, html, _ in items]
    shingles = many_article_shingles(words)
    keys = many_band_keys(shingles)
    out = []
    for (published, _, _, url), (w, n_title), sh, k in zip(
        items, words, shingles, keys, strict=True
    ):
        body = w[n_title:]
        lead = lead_key(body)
        if lead is not None:
            k.append(lead)
        out.append(Features(
            article_id=0,
            source_id=0,
            published=published,
            url_key=url_key(url, canonical=canonical),
            fingerprint=fingerprint_hashes(body),
            shingles=sh,
            keys=tuple(k),
        ))
    return out
