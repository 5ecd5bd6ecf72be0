"""Safe lookup of published files, with their ETag and gzip variant cached in memory.

The output folder is served read-only. A request path is mapped to a file only when every
segment is a plain name: ``..``, ``.``, hidden names (the publisher's ``.name.tmp`` files),
encoded slashes, backslashes and NUL are refused, and the resolved path (after symlinks)
must still lie inside the folder. Anything else is None, which the server answers with 404.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

INDEX = "index.html"
TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".xsl": "application/xslt+xml; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
DEFAULT_TYPE = "application/octet-stream"
COMPRESSIBLE = {".atom", ".opml", ".html", ".xml", ".xsl", ".json", ".css", ".js", ".txt", ".svg"}
MIN_GZIP_SIZE = 256  # below this gzip's header overhead eats the gain


# Served as XML to a browser (see content_type); the same bytes either way.
NEGOTIATED = {".atom": "application/xml; charset=utf-8"}


def content_type(path: Path, accept: str = "") -> str:
    """The Content-Type for ``path``, given the request's Accept header.

    A browser opening a feed (Accept names text/html and no Atom type) gets it as
    application/xml: Chromium shows application/atom+xml as plain text and never runs the
    feed's ``<?xml-stylesheet?>``. Feed readers name the Atom type (Miniflux, FreshRSS)
    or no HTML (newsboat: ``*/*``) and keep application/atom+xml.
    """
    suffix = path.suffix.lower()
    if suffix in NEGOTIATED and wants_page(accept):
        return NEGOTIATED[suffix]
    return TYPES.get(suffix, DEFAULT_TYPE)


def wants_page(accept: str) -> bool:
    """True for a browser's navigation Accept header (HTML first, no feed type named)."""
    media = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return "text/html" in media and not media & {"application/atom+xml", "application/rss+xml"}


def varies_on_accept(path: Path) -> bool:
    """True when the Content-Type depends on Accept (caches must key on it: ``Vary``)."""
    return path.suffix.lower() in NEGOTIATED


def compressible(path: Path) -> bool:
    return path.suffix.lower() in COMPRESSIBLE


def resolve_request(root: Path, raw_path: str) -> Path | None:
    """The file under ``root`` that the raw request path names, or None (serve a 404).

    Works on the raw, still percent-encoded path so no decoding step elsewhere can turn
    ``%2e%2e`` or ``..%2f`` into a traversal after our check.
    """
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/") or "\\" in path:
        return None
    names: list[str] = []
    segments = path[1:].split("/")
    folder = path.endswith("/")
    for i, segment in enumerate(segments):
        if segment == "" and i == len(segments) - 1:
            break  # a trailing slash: the folder's index
        try:
            name = unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
            return None
        names.append(name)
    try:
        base = root.resolve(strict=True)
        target = base.joinpath(*names).resolve(strict=True)
        if target.is_dir():
            target = (target / INDEX).resolve(strict=True)
        elif folder:  # "/alpha.atom/" names a folder, and alpha.atom is none
            return None
    except (OSError, RuntimeError):  # missing, a symlink loop, a name too long
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


@dataclass
class Entry:
    """One file version: its bytes, strong ETag and (computed on first need) gzip variant."""

    stamp: tuple[int, int, int]  # (mtime_ns, size, inode): a new version changes one of them
    mtime: float
    body: bytes
    etag: str
    gzipped: bytes | None = None

    @property
    def gzip_etag(self) -> str:
        # A different representation needs a different strong ETag (RFC 9110 §8.8.3).
        return self.etag[:-1] + '-gzip"'

    def compress(self) -> bytes:
        if self.gzipped is None:
            # mtime=0: the same bytes always give the same gzip output (stable ETag/body).
            self.gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self.gzipped


def stamp_of(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileCache:
    """An LRU of Entries keyed by path and validated by (mtime_ns, size, inode) on each hit.

    Published files are replaced atomically (rename), so a new version always has a new
    inode or mtime; the cache never serves bytes the file no longer holds.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Path, Entry] = OrderedDict()
        self._lock = threading.Lock()  # load() runs in worker threads

    def get(self, path: Path, st: os.stat_result) -> Entry | None:
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry.stamp != stamp_of(st):
                return None
            self._entries.move_to_end(path)
            return entry

    def load(self, path: Path) -> Entry:
        """Read ``path`` (blocking: call from a thread) and cache it when it fits."""
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())  # the stat of the very file read, not of a newer one
            body = f.read()
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        entry = Entry(stamp_of(st), st.st_mtime, body, f'"{digest}"')
        if len(body) * 2 <= self.max_bytes // 4:  # room for the body and its gzip variant
            with self._lock:
                self._entries[path] = entry
                self._entries.move_to_end(path)
                self._evict()
        return entry

    def _evict(self) -> None:
        total = sum(len(e.body) + len(e.gzipped or b"") for e in self._entries.values())
        while total > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            total -= len(old.body) + len(old.gzipped or b"")
