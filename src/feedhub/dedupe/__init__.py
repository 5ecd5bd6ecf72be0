"""Cross-source deduplication: one story, one entry (issue 4).

Pure parts live here (URL identity, content fingerprint, MinHash/LSH keys, merge decisions);
the clustering runs in ``cluster`` (which the ingest path calls) and the index is stored by
``feedhub.store.dedupe``.

The names below load on first use: importing ``feedhub.dedupe.urls`` (the store needs it)
must not pull in numpy, which a run where every source answers 304 never uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feedhub.dedupe.decide import DEFAULT_WINDOW, Match, Thresholds, compare
    from feedhub.dedupe.features import Features, extract
    from feedhub.dedupe.fingerprint import content_fingerprint
    from feedhub.dedupe.urls import canonical_url

_EXPORTS = {
    "DEFAULT_WINDOW": "decide",
    "Match": "decide",
    "Thresholds": "decide",
    "compare": "decide",
    "Features": "features",
    "extract": "features",
    "content_fingerprint": "fingerprint",
    "canonical_url": "urls",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
