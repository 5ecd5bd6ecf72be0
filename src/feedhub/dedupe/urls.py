"""URL identity: one canonical form per article URL, so tracking links and http/https/www
variants of one story compare equal (issue 4, item 1)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from feedhub.model import Article

_DEFAULT_PORTS = {"http": "80", "https": "443"}


@cache
def _trackers() -> tuple[frozenset[str], tuple[str, ...]]:
    """Exact names and prefixes from trackers.txt (kept in the repo so it is reviewed)."""
    names: set[str] = set()
    prefixes: list[str] = []
    text = files("feedhub.dedupe").joinpath("trackers.txt").read_text(encoding="utf-8")
    for raw in text.splitlines():
        line = raw.strip().lower()
        if not line or line.startswith("#"):
            continue
        if line.endswith("*"):
            prefixes.append(line[:-1])
        else:
            names.add(line)
    return frozenset(names), tuple(prefixes)


def is_tracker(param: str) -> bool:
    """True when a query parameter name only tracks clicks (listed in trackers.txt)."""
    names, prefixes = _trackers()
    key = param.lower()
    return key in names or key.startswith(prefixes)


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; pure and never raises.

    w3lib's ``canonicalize_url`` (sorted query, normalized percent-encoding, no fragment),
    then: tracker parameters removed, lowercase host without ``www.``, no default port,
    http→https (one story is served on both), no trailing slash on the path. Anything that
    is not an http(s) URL with a host comes back stripped and otherwise unchanged.
    """
    stripped = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(stripped)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return stripped
        parts = urlsplit(canonicalize_url(stripped, keep_fragments=False))
        host = parts.hostname or ""
        host = host.removeprefix("www.")
        if ":" in host:  # IPv6 literal: brackets are part of the netloc
            host = f"[{host}]"
        port = parts.port  # raises ValueError on a bad port: caught below
        if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{port}"
        # Filter the raw pairs so w3lib's encoding of what is kept stays byte for byte.
        query = "&".join(
            pair for pair in parts.query.split("&")
            if pair and not is_tracker(unquote_plus(pair.partition("=")[0]))
        )
        path = parts.path.rstrip("/") or "/"
        return urlunsplit(("https", host, path, query, ""))
    except Exception:  # a canonical form must never break ingest: fall back to the input
        return stripped


def article_canonical_url(a: Article) -> str | None:
    """URL identity (issue 4): the feed's own canonical link wins over the entry link."""
    link = a.canonical_url or a.url
    return canonical_url(link) if link else None


def without_trackers(url: str) -> str:
    """``url`` with its tracking query parameters removed; everything else byte for byte.

    What we publish (issue 18): the reader gets the address the source gave, minus
    ``utm_*`` and the like. Not the full canonical form: forcing https or dropping ``www.``
    and a trailing slash can name an address the site does not serve.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.query:
        return url
    kept = [
        pair for pair in parts.query.split("&")
        if pair and not is_tracker(unquote_plus(pair.partition("=")[0]))
    ]
    query = "&".join(kept)
    return url if query == parts.query else urlunsplit(parts._replace(query=query))


def public_url(url: str | None, canonical: str | None = None) -> str | None:
    """The link to publish for an article: its own link without tracking parameters, or the
    stored canonical URL when the feed named another original (``feedburner:origLink``:
    the entry link is then a redirector that counts clicks).

    Either way the result's canonical form is the one dedupe computed, and it carries no
    tracker parameter: never a URL that differs from the story's only in tracking.
    """
    if not url:
        return without_trackers(canonical) if canonical else None
    # Both sides canonicalized again: a canonical stored before trackers.txt grew must not
    # count as "another original" (nor be published with the newly listed tracker).
    if canonical and canonical_url(url) != canonical_url(canonical):
        return without_trackers(canonical)
    return without_trackers(url)
