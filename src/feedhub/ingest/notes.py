"""Quirks of a source's feed that are worth one log line per source, not one per fetch.

A feed that reissues its items under new guids, repeats a guid, or dates items in 1970
does so on every fetch: saying it each time would flood the log, saying nothing hides
why its articles look the way they do. Each is said once per source per process.
"""

from __future__ import annotations

import logging
import threading

from feedhub.ingest.decide import ArticleChanges
from feedhub.model import ParsedFeed

log = logging.getLogger("feedhub.ingest.run")

_said: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _first_time(source: str, quirk: str) -> bool:
    with _lock:
        if (source, quirk) in _said:
            return False
        _said.add((source, quirk))
        return True


def note_quirks(source: str, parsed: ParsedFeed | None, changes: ArticleChanges) -> None:
    """Log each quirk of this fetch of ``source`` the first time it is seen."""
    if changes.reissued and _first_time(source, "reissued"):
        log.warning(
            "%s: %d items came back under new guids with the link or content of a stored "
            "article; that article was updated instead of adding a copy (said once)",
            source, changes.reissued,
        )
    if parsed is None:
        return
    if parsed.duplicate_guids and _first_time(source, "duplicate guid"):
        log.warning(
            "%s: %d items repeat the guid of an earlier item in the same feed; the first "
            "was kept (said once)", source, parsed.duplicate_guids,
        )
    if parsed.ancient_dates and _first_time(source, "ancient date"):
        log.warning(
            "%s: %d items dated before 1990 (e.g. 1970-01-01); dated when first seen "
            "instead (said once)", source, parsed.ancient_dates,
        )
