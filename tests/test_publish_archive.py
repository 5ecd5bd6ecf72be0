"""RFC 5005 archived feeds: what goes where, links both ways, closed archives never change."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feedhub.publish.archive import archives_to_write, plan_archives, render_plan
from feedhub.publish.atom import entry_id
from feedhub.publish.views import EntryView
from tests.test_publish_helpers import SITE, TOPIC, article, dt, validate_atom, view

ATOM = "{http://www.w3.org/2005/Atom}"
FH_ARCHIVE = "{http://purl.org/syndication/history/1.0}archive"
BASE = "https://news.example/sahel"


def monthly(first_id: int, months: list[tuple[int, int]], per_month: int = 3) -> list[EntryView]:
    """``per_month`` entries on the 3rd, 13th, 23rd of each (year, month)."""
    out, n = [], first_id
    for year, month in months:
        for k in range(per_month):
            out.append(view(article(n, dt(year, month, 3 + 10 * k, 12))))
            n += 1
    return out


JAN_TO_JUN = monthly(1, [(2024, m) for m in range(1, 7)])  # 18 entries, 3 per month


def links(doc: bytes) -> dict[str, str]:
    root = etree.fromstring(doc)
    return {ln.get("rel"): ln.get("href") for ln in root.findall(f"{ATOM}link")}


def test_plan_splits_window_closed_months_and_straddling_month() -> None:
    plan = plan_archives(SITE, "sahel", JAN_TO_JUN, entries_per_feed=5)
    # Newest 5: Jun ×3, May 23 and May 13. May 3 left the window: May's archive holds it
    # and stays open (rewritable) until May has left the window entirely.
    assert [e.article.id for e in plan.subscription.entries] == [18, 17, 16, 15, 14]
    assert plan.pending == ()
    assert [d.path for d in plan.archives] == [f"sahel/2024-0{m}.atom" for m in (1, 2, 3, 4, 5)]
    assert [d.closed for d in plan.archives] == [True, True, True, True, False]
    assert [e.article.id for e in plan.archives[-2].entries] == [12, 11, 10]
    assert [e.article.id for e in plan.archives[-1].entries] == [13]
    # Every entry is in exactly one place.
    placed = [*plan.subscription.entries, *plan.pending]
    placed += [e for d in plan.archives for e in d.entries]
    assert sorted(e.article.id for e in placed) == list(range(1, 19))


def test_links_go_both_ways() -> None:
    plan = plan_archives(SITE, "sahel", JAN_TO_JUN, entries_per_feed=5)
    docs = dict((d.path, data) for d, data in render_plan(SITE, TOPIC, plan))
    sub = links(docs["sahel.atom"])
    assert sub["self"] == f"{BASE}.atom"
    assert sub["prev-archive"] == f"{BASE}/2024-05.atom"
    assert "current" not in sub and "next-archive" not in sub
    assert etree.fromstring(docs["sahel.atom"]).find(FH_ARCHIVE) is None
    for m in (1, 2, 3, 4):
        ln = links(docs[f"sahel/2024-0{m}.atom"])
        assert ln["self"] == f"{BASE}/2024-0{m}.atom"
        assert ln["current"] == f"{BASE}.atom"
        assert ln.get("prev-archive") == (f"{BASE}/2024-0{m - 1}.atom" if m > 1 else None)
        # The newest closed archive points at May's archive, which exists (open).
        assert ln["next-archive"] == f"{BASE}/2024-0{m + 1}.atom"
        root = etree.fromstring(docs[f"sahel/2024-0{m}.atom"])
        assert root.find(FH_ARCHIVE) is not None
        assert "complete" not in etree.tostring(root).decode()
        # Archives are the same logical feed: same atom:id as the subscription document.
        assert root.findtext(f"{ATOM}id") == f"{BASE}.atom"
    may = links(docs["sahel/2024-05.atom"])
    assert may["prev-archive"] == f"{BASE}/2024-04.atom" and "next-archive" not in may
    assert may["current"] == f"{BASE}.atom"


def test_all_documents_validate_and_parse(tmp_path: Path) -> None:
    plan = plan_archives(SITE, "sahel", JAN_TO_JUN, entries_per_feed=5)
    files = []
    for doc, data in render_plan(SITE, TOPIC, plan):
        path = tmp_path / doc.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append(path)
        parsed = feedparser.parse(data)
        assert parsed.bozo is False, (doc.path, parsed.get("bozo_exception"))
        assert [e.id for e in parsed.entries] == [entry_id(v) for v in doc.entries]
        assert [e.link for e in parsed.entries] == [v.article.url for v in doc.entries]
    validate_atom(*files)


def test_closed_archives_never_change_as_newer_entries_arrive() -> None:
    before = plan_archives(SITE, "sahel", JAN_TO_JUN, entries_per_feed=5)
    old = {d.path: data for d, data in render_plan(SITE, TOPIC, before) if d.closed}
    newer = JAN_TO_JUN + monthly(100, [(2024, 7), (2024, 8)])
    after = plan_archives(SITE, "sahel", newer, entries_per_feed=5)
    new = {d.path: data for d, data in render_plan(SITE, TOPIC, after) if d.closed}
    assert set(old) < set(new)  # May and June have closed since
    assert "sahel/2024-05.atom" in new and "sahel/2024-06.atom" in new
    for path, data in old.items():
        assert new[path] == data, f"closed archive {path} changed"
    # May now holds all three May entries, including the one that was pending.
    may = next(d for d in after.archives if d.path == "sahel/2024-05.atom")
    assert [e.article.id for e in may.entries] == [15, 14, 13]


def test_open_archive_is_rewritten_until_its_month_closes_then_never(tmp_path: Path) -> None:
    def publish(views: list[EntryView]) -> list[str]:
        plan = plan_archives(SITE, "sahel", views, entries_per_feed=5)
        todo = {d.path for d in archives_to_write(tmp_path, plan)}
        for doc, data in render_plan(SITE, TOPIC, plan):
            if doc.path in todo:
                path = tmp_path / doc.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        return sorted(todo)

    assert publish(JAN_TO_JUN) == [f"sahel/2024-0{m}.atom" for m in (1, 2, 3, 4, 5)]
    may = (tmp_path / "sahel/2024-05.atom").read_bytes()
    # Nothing new: only the open archive is rendered again (its bytes are the same).
    assert publish(JAN_TO_JUN) == ["sahel/2024-05.atom"]
    # July arrives: May closes and is written one last time, complete; June opens.
    publish(JAN_TO_JUN + monthly(100, [(2024, 7)]))
    closed_may = (tmp_path / "sahel/2024-05.atom").read_bytes()
    assert closed_may != may and b'rel="next-archive"' in closed_may
    assert [e.id for e in feedparser.parse(closed_may).entries] == [
        entry_id(v) for v in (JAN_TO_JUN[14], JAN_TO_JUN[13], JAN_TO_JUN[12])
    ]
    assert publish(JAN_TO_JUN + monthly(100, [(2024, 7)])) == ["sahel/2024-06.atom"]


def test_small_topics_have_no_archives() -> None:
    plan = plan_archives(SITE, "sahel", JAN_TO_JUN[:4], entries_per_feed=5)
    assert plan.archives == () and plan.pending == ()
    assert plan.subscription.links.prev_archive is None
    empty = plan_archives(SITE, "sahel", [], entries_per_feed=5)
    assert empty.subscription.entries == () and empty.archives == ()
    with pytest.raises(ValueError, match="entries_per_feed"):
        plan_archives(SITE, "sahel", JAN_TO_JUN, entries_per_feed=0)


@settings(max_examples=40, deadline=None)
@given(
    hours=st.lists(st.integers(min_value=0, max_value=24 * 200), min_size=1, max_size=40),
    per_feed=st.integers(min_value=1, max_value=8),
    cut=st.integers(min_value=0, max_value=40),
)
def test_property_archive_documents_are_write_once(
    hours: list[int], per_feed: int, cut: int
) -> None:
    """Entries arrive in date order; any archive that was closed at an earlier publish has
    byte-identical content at every later one, and the chain links stay consistent."""
    start = dt(2024, 1, 1)
    entries = [
        view(article(i + 1, start + timedelta(hours=h))) for i, h in enumerate(sorted(hours))
    ]
    early = entries[: min(cut, len(entries))]
    earlier_plan = plan_archives(SITE, "t", early, per_feed)
    first = {d.path: b for d, b in render_plan(SITE, TOPIC, earlier_plan) if d.closed}
    plan = plan_archives(SITE, "t", entries, per_feed)
    later = {d.path: b for d, b in render_plan(SITE, TOPIC, plan) if d.closed}
    for path, data in first.items():
        assert later[path] == data
    chain = [d.links for d in plan.archives]
    for older, newer in pairwise(chain):
        assert older.next_archive == newer.self_url and newer.prev_archive == older.self_url
    if plan.archives:
        assert plan.subscription.links.prev_archive == plan.archives[-1].links.self_url
