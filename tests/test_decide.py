"""The ingest decider and the schedule: pure decisions, tested without a store or a socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedhub.ingest.decide import (
    MAX_GUID,
    body_hash,
    decide_articles,
    decide_fetch,
    parse_failed,
    stored_at,
)
from feedhub.model import (
    Article,
    FetchResult,
    FetchState,
    ParsedFeed,
    SourceInfo,
    SourceKind,
    article_hash,
)
from feedhub.schedule import SchedulePolicy, next_due

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
POLICY = SchedulePolicy(interval=timedelta(minutes=30), jitter=0.0, max_interval=timedelta(days=1))
HOUR = timedelta(hours=1)


def source(**kw) -> SourceInfo:
    return SourceInfo(name="wire", url="https://x.example/rss", kind=SourceKind.HTTP, **kw)


def decide(info: SourceInfo, result: FetchResult):
    return decide_fetch(info, result, now=NOW, interval=HOUR, policy=POLICY)


def test_not_modified_parses_nothing_and_keeps_newest_validators() -> None:
    info = source(state=FetchState(etag='"a"', last_modified="Mon", body_hash="h"))
    d = decide(info, FetchResult(url=info.url, status=304, not_modified=True, etag='"b"'))
    assert not d.parse
    assert d.update.etag == '"b"' and d.update.last_modified == "Mon" and d.update.body_hash == "h"
    assert d.update.next_due == NOW + HOUR


def test_the_interval_counts_from_when_the_outcome_is_stored() -> None:
    info = source()
    update = decide(info, FetchResult(url=info.url, status=304, not_modified=True)).update
    late = stored_at(update, NOW, NOW + timedelta(seconds=40))  # written behind a backlog
    assert late.next_due == NOW + HOUR + timedelta(seconds=40)
    assert late.last_fetch == update.last_fetch  # only the due time moves
    assert stored_at(update, NOW, NOW) == update
    assert stored_at(update, NOW, NOW - timedelta(seconds=5)) == update  # a clock step back


def test_unchanged_body_is_not_parsed_but_new_etag_is_stored() -> None:
    body = b"<rss/>"
    info = source(state=FetchState(etag='"a"', body_hash=body_hash(FetchResult(url="", body=body))))
    d = decide(info, FetchResult(url=info.url, status=200, body=body, etag='"z"'))
    assert not d.parse and d.update.etag == '"z"'
    d2 = decide(info, FetchResult(url=info.url, status=200, body=body + b" ", etag='"z"'))
    assert d2.parse and d2.body_hash != info.state.body_hash


def test_errors_back_off_exponentially_and_keep_validators() -> None:
    info = source(state=FetchState(etag='"a"', body_hash="h"), error_count=2)
    d = decide(info, FetchResult(url=info.url, status=500, error="HTTP 500 Internal Server Error"))
    assert not d.parse
    assert d.update.error_count == 3 and d.update.last_error.startswith("HTTP 500")
    assert d.update.next_due == NOW + 4 * HOUR  # 2 ** (3 - 1)
    assert d.update.etag == '"a"' and d.update.body_hash == "h"
    many = decide(source(error_count=40), FetchResult(url="u", error="x"))
    assert many.update.next_due == NOW + POLICY.max_interval  # capped


def test_gone_disables_and_moved_is_recorded() -> None:
    d = decide(source(), FetchResult(url="u", status=410, gone=True, error="HTTP 410 Gone"))
    assert d.update.enabled is False and "410" in d.update.disabled_reason
    d = decide(
        source(), FetchResult(url="u", status=200, body=b"x", moved_to="https://new.example/")
    )
    assert d.update.moved_to == "https://new.example/" and d.update.enabled


def test_retry_after_is_a_floor() -> None:
    d = decide(
        source(), FetchResult(url="u", status=429, error="HTTP 429", retry_after=timedelta(hours=5))
    )
    assert d.update.next_due == NOW + timedelta(hours=5)
    d = decide(
        source(),
        FetchResult(url="u", status=429, error="HTTP 429", retry_after=timedelta(days=365)),
    )
    assert d.update.next_due == NOW + timedelta(days=7)  # a hostile server cannot park us


def test_parse_failure_keeps_old_validators_so_next_fetch_retries() -> None:
    info = source(state=FetchState(etag='"old"', body_hash="old"))
    d = decide(info, FetchResult(url="u", status=200, body=b"<html>", etag='"new"'))
    upd = parse_failed(info, d, "not a feed: HTML page", now=NOW, interval=HOUR, policy=POLICY)
    assert upd.etag == '"old"' and upd.body_hash == "old" and upd.error_count == 1


def test_jitter_spreads_sources_deterministically() -> None:
    policy = SchedulePolicy(jitter=0.5)
    dues = {next_due(f"s{i}", NOW, HOUR, policy) for i in range(20)}
    assert len(dues) == 20
    assert all(NOW + HOUR / 2 <= d <= NOW + HOUR * 1.5 for d in dues)
    assert next_due("s1", NOW, HOUR, policy) == next_due("s1", NOW, HOUR, policy)


def test_feed_hints_slow_down_but_never_speed_up() -> None:
    assert next_due("a", NOW, HOUR, POLICY, ttl=timedelta(hours=3)) == NOW + 3 * HOUR
    assert next_due("a", NOW, HOUR, POLICY, max_age=timedelta(minutes=1)) == NOW + HOUR


def art(guid: str, title: str = "t", **kw) -> Article:
    return Article(guid=guid, title=title, **kw)


def test_decide_articles_new_changed_unchanged_tombstoned() -> None:
    a, b, c = art("a"), art("b"), art("c", "new title")
    existing = {"a": article_hash(a), "c": article_hash(art("c", "old title"))}
    parsed = ParsedFeed(version="rss20", articles=(a, b, c, art("b", "dup"), art("dead")))
    ch = decide_articles(existing, {"dead"}, parsed)
    assert [x.guid for x in ch.new] == ["b"]
    assert [x.title for x in ch.changed] == ["new title"]
    assert ch.removed == ()


def test_snapshot_sources_remove_missing_guids_feeds_do_not() -> None:
    existing = {"a": article_hash(art("a")), "gone": "h"}
    parsed = ParsedFeed(version="folder", articles=(art("a"),))
    assert decide_articles(existing, set(), parsed, snapshot=True).removed == ("gone",)
    assert decide_articles(existing, set(), parsed).removed == ()


def test_overlong_guid_is_hashed_stably() -> None:
    long = "x" * (MAX_GUID + 1)
    ch1 = decide_articles({}, set(), ParsedFeed(version="rss20", articles=(art(long),)))
    ch2 = decide_articles({}, set(), ParsedFeed(version="rss20", articles=(art(long),)))
    assert ch1.new[0].guid == ch2.new[0].guid and len(ch1.new[0].guid) <= MAX_GUID


def test_items_reissued_under_new_guids_update_the_stored_article() -> None:
    stored = art("old-1", url="https://x.org/1")
    edited = art("old-2", "before", url="https://x.org/2")
    existing = {"old-1": article_hash(stored), "old-2": article_hash(edited)}
    links = {"https://x.org/1": "old-1", "https://x.org/2": "old-2"}
    parsed = ParsedFeed(version="rss20", link="https://x.org/", articles=(
        art("new-1", url="https://x.org/1"),  # same content: nothing to do
        art("new-2", "after", url="https://x.org/2"),  # same link, new title: an update
        art("new-3", url="https://x.org/3"),  # really new
    ))
    ch = decide_articles(existing, set(), parsed, links=links, canonical={})
    assert [a.guid for a in ch.new] == ["new-3"]
    assert [(a.guid, a.title) for a in ch.changed] == [("old-2", "after")]
    assert ch.reissued == 2
    # Without the stored links (a folder, or an old caller) guids are taken as they come.
    assert len(decide_articles(existing, set(), parsed).new) == 3


def test_shared_links_and_listed_guids_are_no_evidence_of_a_reissue() -> None:
    home = "https://x.org/"
    stored = art("old", "a story", url=home)
    existing = {"old": article_hash(stored), "kept": article_hash(art("kept", url="https://x.org/k"))}
    links = {home: "old", "https://x.org/k": "kept"}
    parsed = ParsedFeed(version="rss20", link=home, articles=(
        art("n1", "another story", url=home),  # every item links the home page
        art("n2", "a third story", url="https://x.org/k"),
        art("kept", "kept, edited", url="https://x.org/k"),  # still listed under its guid
    ))
    ch = decide_articles(existing, set(), parsed, links=links, canonical={})
    assert sorted(a.guid for a in ch.new) == ["n1", "n2"] and ch.reissued == 0
    assert [a.guid for a in ch.changed] == ["kept"]
