"""Content identity: one hash per article body, to catch exact syndication (issue 4, item 2)."""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

from feedhub.dedupe.text import body_hashes

# Below this a body is a teaser or a stub ("Click to read the briefing"): equal stubs are
# no evidence that two items are one story, so they get no fingerprint.
MIN_FINGERPRINT_WORDS = 40


def fingerprint_hashes(body: NDArray[np.uint32]) -> str | None:
    """Hash of a body's word hashes (text.body_hashes), or None when too short to be evidence."""
    if body.size < MIN_FINGERPRINT_WORDS:
        return None
    return hashlib.blake2b(body.astype("<u4", copy=False).tobytes(), digest_size=16).hexdigest()


def content_fingerprint(title: str, html: str) -> str | None:
    """Hash of the normalized body: insensitive to whitespace, markup, case, punctuation,
    spelling variants, a byline/dateline and a short "first published by …" trailer.

    The title only matters when the body repeats it first (it is then removed); a reworded
    headline over the same body keeps the same fingerprint on purpose.
    """
    return fingerprint_hashes(body_hashes(title, html))
