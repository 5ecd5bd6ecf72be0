"""The parse workers' side of ingest: bytes → ParsedFeed, plus the per-article values the
write transaction needs (canonical URL, content hash, dedupe features, topics).

Everything here is pure and runs in a worker process (module-level functions, so they
pickle); the runner in ``run.py`` only submits jobs and applies their results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from feedhub.ingest.decide import normalize_guid
from feedhub.model import Article, FetchResult, ParsedFeed, SourceKind, article_hash
from feedhub.topics import CompiledRules

if TYPE_CHECKING:
    from feedhub.dedupe.features import Features


def parse_job(
    kind: str,
    result: FetchResult,
    base_url: str,
    source_name: str,
    now: datetime,
    max_entries: int | None = None,
) -> ParsedFeed:
    """Bytes → ParsedFeed; runs in a worker process (module-level so it pickles).

    ``max_entries`` caps a feed's entries (newest kept); a folder is the operator's own
    files and is never capped.
    """
    from feedhub.parse import parse_feed, parse_folder

    if kind == SourceKind.FOLDER.value:
        return parse_folder(result.files or (), base_url=base_url, source_name=source_name, now=now)
    return parse_feed(
        result.body or b"",
        url=result.final_url or result.url,
        content_type=result.content_type,
        now=now,
        max_entries=max_entries,
    )


@dataclass(frozen=True, slots=True)
class PrepareSpec:
    """What the worker needs to prepare one source's articles for the store."""

    rules: CompiledRules
    forced: tuple[str, ...]  # the source's own topics
    dedupe: bool  # compute dedupe features
    known: Mapping[str, str] | None = None  # stored guid → content hash: skip unchanged


@dataclass(frozen=True, slots=True)
class Prepared:
    """Per-article values computed beside the parse, by (normalized) guid.

    Articles the store already holds unchanged are left out (``PrepareSpec.known``); the
    writer computes whatever is missing itself, so these only ever save work.
    """

    canonical: dict[str, str | None] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)  # article_hash
    features: dict[str, Features] = field(default_factory=dict)  # ids/published: dummies
    topics: dict[str, frozenset[str]] = field(default_factory=dict)
    vectors: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # related text vectors


def prepare_articles(
    parsed: ParsedFeed, source_name: str, now: datetime, spec: PrepareSpec
) -> Prepared:
    """The pure per-article work of the write transaction, done in the worker: canonical
    URL and content hash (as the store computes them), dedupe features, topics and text
    vectors. Features and vectors are computed for the feed's articles at once (issue 17:
    numpy calls per feed, new words to the model in one pass), each the same as alone."""
    from feedhub.dedupe.features import extract_many
    from feedhub.dedupe.urls import article_canonical_url
    from feedhub.related.semantic import article_vectors

    out = Prepared()
    seen: set[str] = set()
    todo: list[Article] = []
    for raw in parsed.articles:
        a = normalize_guid(raw)
        if a.guid in seen:
            continue  # the first copy of a guid wins (decide_articles)
        seen.add(a.guid)
        digest = article_hash(a)
        if spec.known is not None and spec.known.get(a.guid) == digest:
            continue  # stored and unchanged: nothing to write
        canon = article_canonical_url(a)
        out.canonical[a.guid] = canon
        out.hashes[a.guid] = digest
        out.topics[a.guid] = spec.rules.match(a, source_name, spec.forced)
        todo.append(a)
    if spec.dedupe:
        # As store.dedupe extracts from the row; the writer sets the ids and the stored
        # ``published`` (a missing date is the first-seen time).
        found = extract_many(
            [(a.published or a.updated or now, a.title, a.content or a.summary,
              out.canonical[a.guid]) for a in todo],
            canonical=True,
        )
        out.features.update(zip((a.guid for a in todo), found, strict=True))
    vectors = article_vectors([(a.title, a.summary, a.content) for a in todo])
    for a, vector in zip(todo, vectors, strict=True):
        if vector is not None:
            out.vectors[a.guid] = vector
    return out


def prepare_job(
    kind: str,
    result: FetchResult,
    base_url: str,
    source_name: str,
    now: datetime,
    spec: PrepareSpec,
    max_entries: int | None = None,
) -> tuple[ParsedFeed, Prepared]:
    """``parse_job`` plus ``prepare_articles``, in one worker round trip."""
    parsed = parse_job(kind, result, base_url, source_name, now, max_entries)
    return parsed, prepare_articles(parsed, source_name, now, spec)
