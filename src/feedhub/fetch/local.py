"""Reading local sources: one feed file, or a folder of article files.

Both return a ``FetchResult`` like the HTTP fetcher does and never raise for IO problems,
so ingest treats every kind of source alike. They block: call them through
``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from feedhub.fetch.headers import format_size
from feedhub.model import FetchResult, LocalFile

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".txt"})
MAX_FILE_BYTES = 10 * 1024 * 1024  # one feed file: the same cap as an HTTP body
MAX_ARTICLE_BYTES = 1024 * 1024  # one article file in a folder


def read_file(path: Path, url: str, max_bytes: int = MAX_FILE_BYTES) -> FetchResult:
    """The bytes of one local feed file; a missing, unreadable or oversized file is an error."""
    started = time.perf_counter()
    try:
        body = _read_capped(path, max_bytes)
    except OSError as exc:
        return _failed(url, f"cannot read {path}: {exc.strerror or exc}", started)
    if body is None:
        return _failed(url, f"{path} exceeds {format_size(max_bytes)} limit", started)
    return FetchResult(url=url, body=body, duration=time.perf_counter() - started)


def read_folder(path: Path, url: str, max_file_bytes: int = MAX_ARTICLE_BYTES) -> FetchResult:
    """A snapshot of the article files under ``path``: *.md, *.markdown, *.html, *.htm, *.txt.

    Recursive, sorted by relative POSIX path so the result does not depend on the file
    system's order. Hidden files and folders (dot-names) are skipped — editors and VCS keep
    their state there. Files over ``max_file_bytes`` and files that cannot be read are
    skipped with a log line, so one bad file does not stop the whole folder.
    """
    started = time.perf_counter()
    if not path.is_dir():
        reason = "is not a folder" if path.exists() else "does not exist"
        return _failed(url, f"folder {path} {reason}", started)
    files = []
    for rel in _article_paths(path):
        full = path / rel
        try:
            mtime = datetime.fromtimestamp(full.stat().st_mtime, UTC)
            body = _read_capped(full, max_file_bytes)
        except OSError as exc:
            log.warning("skipping %s: %s", full, exc.strerror or exc)
            continue
        if body is None:
            log.warning("skipping %s: over %s", full, format_size(max_file_bytes))
            continue
        files.append(LocalFile(path=rel, body=body, mtime=mtime))
    return FetchResult(url=url, files=tuple(files), duration=time.perf_counter() - started)


def _article_paths(root: Path) -> list[str]:
    """Relative POSIX paths of the non-hidden article files under ``root``, sorted."""
    found = []

    def onerror(exc: OSError) -> None:  # an unreadable subfolder is skipped, not fatal
        log.warning("skipping %s: %s", exc.filename, exc.strerror or exc)

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # prune hidden folders
        base = Path(dirpath)
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in ARTICLE_SUFFIXES:
                continue
            found.append((base / name).relative_to(root).as_posix())
    return sorted(found)


def _read_capped(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it holds more than ``max_bytes``.

    Only regular files: opening a FIFO would block the sweep forever. Reads at most one
    byte past the cap rather than trusting st_size, which can change or be 0 (/proc).
    """
    if path.exists() and not path.is_file():
        raise OSError("not a regular file")
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def _failed(url: str, error: str, started: float) -> FetchResult:
    return FetchResult(url=url, error=error, duration=time.perf_counter() - started)
