"""Which published files must exist, and which of them are missing or damaged.

A cheap check (a few ``stat`` calls) the service runs every few seconds and on every
/readyz: a deleted or emptied output folder must be noticed and written again, not wait
for the next change of a source (the probe saw every feed answer 404 for a minute while
/readyz said ready).
"""

from __future__ import annotations

import stat
from pathlib import Path

from feedhub.config import Config

INDEX_FILES = ("index.html", "index.opml")


def expected_files(config: Config) -> list[str]:
    """Paths (relative to the output folder) every publish writes: the indexes, one
    subscription document and one top-stories feed per topic."""
    return [
        *INDEX_FILES,
        *(f"{t.name}.atom" for t in config.file.topics),
        *(f"top/{t.name}.atom" for t in config.file.topics),
    ]


def missing_files(config: Config) -> list[str]:
    """The expected files that are missing, empty or not regular files."""
    return [p for p in expected_files(config) if not _intact(config.output_dir / p)]


def _intact(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0
