"""Cross-source deduplication: one story, one entry (issue 4).

Pure parts live here (URL identity, content fingerprint, MinHash/LSH keys, merge decisions);
the index and clusters live in ``feedhub.store.dedupe``, which the ingest path calls.
"""

from feedhub.dedupe.decide import DEFAULT_WINDOW, Match, Thresholds, compare
from feedhub.dedupe.features import Features, extract
from feedhub.dedupe.fingerprint import content_fingerprint
from feedhub.dedupe.urls import canonical_url

__all__ = [
    "DEFAULT_WINDOW",
    "Features",
    "Match",
    "Thresholds",
    "canonical_url",
    "compare",
    "content_fingerprint",
    "extract",
]
