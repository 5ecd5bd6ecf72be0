"""Shared builders for the publish tests: hand-made StoredArticle/EntryView values and the
RFC 4287 validator from ../shared/atom (no tests of its own here)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedhub.model import StoredArticle
from feedhub.publish.views import CopyRef, EntryView, RelatedLink, SiteInfo, SourceRef, TopicInfo

SITE = SiteInfo(
    title="feedhub news",
    base_url="https://news.example/",
    author="Newsroom Bot",
    websub_hub="https://hub.example/",
)
TOPIC = TopicInfo(slug="sahel", title="Sahel", subtitle="Niger, Mali, Burkina Faso")
WIRE = SourceRef(
    name="wire",
    title="Wire",
    link="https://wire.example/",
    feed_url="https://wire.example/feed.xml",
    feed_id=None,
)

# The reference article's Related News box (shared/reference/README.md), in RELEVANCE order
# (not date order) so the tests can see the renderer re-sort it newest first.
REFERENCE_RELATED = (
    RelatedLink(
        11,
        "Niger and U.S. Finalize Agreement on American Troop Withdrawal by September",
        "https://news.example.org/niger-us-agreement",
        datetime(2024, 5, 20, 8, 0, tzinfo=UTC),
    ),
    RelatedLink(
        12,
        "U.S. Troop Withdrawal from Niger Kicks off",
        "https://news.example.org/us-troop-withdrawal",
        datetime(2024, 6, 11, 9, 30, tzinfo=UTC),
    ),
    RelatedLink(
        13,
        "UNHCR Official Warns of Escalating Humanitarian Crisis in Sahel Region",
        "https://news.example.org/unhcr-sahel",
        datetime(2024, 5, 30, 17, 45, tzinfo=UTC),
    ),
)


def dt(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def article(
    id: int,
    published: datetime,
    *,
    guid: str | None = None,
    title: str | None = None,
    url: str | None = "default",
    authors: tuple[str, ...] = (),
    source: str = "wire",
    content: str = "<p>Body text.</p>",
    summary: str = "<p>Short summary.</p>",
    updated: datetime | None = None,
) -> StoredArticle:
    return StoredArticle(
        id=id,
        source=source,
        guid=guid if guid is not None else f"https://wire.example/a/{id}",
        title=title if title is not None else f"Headline number {id}",
        url=f"https://wire.example/a/{id}" if url == "default" else url,
        canonical_url=None,
        summary=summary,
        content=content,
        authors=authors,
        categories=("Niger", "Security"),
        published=published,
        updated=updated or published,
        first_seen=published,
        content_hash=f"hash{id}",
    )


def view(
    a: StoredArticle,
    related: tuple[RelatedLink, ...] = (),
    copies: tuple[CopyRef, ...] = (),
    source: SourceRef = WIRE,
) -> EntryView:
    return EntryView(article=a, source=source, related=related, copies=copies)


def reference_entry() -> EntryView:
    """The seed article from shared/reference with its three related headlines."""
    a = article(
        1,
        dt(2024, 4, 12, 10, 0),
        guid="niger-russian-instructors-2024",  # not a URI: the id must be derived
        title="Russian Military Instructors Arrive in Niger with Air Defense System",
        url="https://news.example.org/russian-instructors-niger",
        updated=dt(2024, 4, 12, 12, 0),
    )
    copies = (
        CopyRef("Wire", "https://wire.example/a/99"),
        CopyRef("Daily Courier", "https://courier.example/niger"),
    )
    return view(a, REFERENCE_RELATED, copies)


def _atom_kit() -> Path | None:
    beside_repo = Path(__file__).resolve().parents[2] / "shared" / "atom"
    for base in (beside_repo, Path("/work/shared/atom")):
        if (base / "validate_atom.py").is_file():
            return base
    return None


def validate_atom(*files: Path) -> None:
    """Run ../shared/atom/validate_atom.py on the files; fail with its report, skip if absent."""
    kit = _atom_kit()
    if kit is None:
        pytest.skip("Atom conformance kit ../shared/atom/ not found (CI always has it)")
    result = subprocess.run(
        [
            sys.executable,
            str(kit / "validate_atom.py"),
            str(kit / "atom.rng"),
            str(kit / "atom-rules.sch"),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("relaxng=ok schematron=ok") == len(files), result.stdout
