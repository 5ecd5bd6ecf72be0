"""Pure related-news scoring: tokens, vectors, similarity, box choice (no database)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from feedhub.related.rank import Candidate, merge_into, sort_key, top_related
from feedhub.related.text import document_terms, lead_terms, lead_text, stem, words
from feedhub.related.vector import VectorParams, similarity, term_vector

T0 = datetime(2024, 4, 12, tzinfo=UTC)


def test_words_fold_stop_and_stem() -> None:
    assert list(words("The Troops' Withdrawal from NIGER")) == ["troop", "withdrawal", "niger"]
    assert list(words("Sénégal’s élections")) == ["senegal", "election"]
    assert list(words("<b>not</b> html-aware by itself")) == ["html", "aware"]


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("troops", "troop"),
        ("agencies", "agency"),
        ("crisis", "crisis"),
        ("status", "status"),
        ("watches", "watch"),
        ("press", "press"),
        ("bus", "bus"),
        ("2024", "2024"),
    ],
)
def test_stem(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


def test_document_terms_strip_html_and_skip_repeated_teaser() -> None:
    title, body = document_terms("Niger junta", "<p>Teaser text</p>", "<p>Teaser text</p> rest")
    assert title == Counter({"niger": 1, "junta": 1})
    assert body == Counter({"teaser": 1, "text": 1, "rest": 1})


def test_vector_is_unit_truncated_and_title_boosted() -> None:
    df = {"niger": 5, "junta": 5, "rain": 5}
    v = term_vector({"niger": 1}, {"junta": 1, "rain": 1}, df, 100)
    assert sum(w * w for w in v.values()) == pytest.approx(1.0)
    assert v["niger"] > v["junta"] == v["rain"]
    short = term_vector({}, {"niger": 1, "junta": 1, "rain": 1}, df, 100, VectorParams(1.0, 2))
    assert set(short) == {"junta", "niger"}  # equal weights: ties broken by term


def test_a_teaser_beside_a_longer_text_is_the_lead() -> None:
    assert lead_text("Troops leave Niger.", "Troops leave Niger. The last convoy left…") != ""
    assert lead_text("Troops leave Niger.", "") == ""  # summary only: the teaser is the body
    assert lead_text("", "A page of text") == ""
    assert lead_text("A long feed summary, longer than", "its content") == ""
    assert lead_terms("<p>Troops leave Niger</p>", "<p>Troops leave Niger. More.</p>") == (
        Counter({"troop": 1, "leave": 1, "niger": 1}))
    assert lead_terms("", "<p>Only content</p>") is None


def test_a_long_body_does_not_drown_the_title_and_lead() -> None:
    # Issue 15: two reports of one event share their headline's and lead's words; their
    # pages of full text are mostly other words. With a lead the title and lead keep their
    # share (VectorParams.lead_share) however long the body is.
    df = {t: 3 for t in ("niger", "troop", "convoy")} | {f"w{i}": 3 for i in range(200)}
    title, lead = {"niger": 1, "troop": 1}, {"convoy": 1, "niger": 1}
    a_body = {f"w{i}": 1 for i in range(0, 100)} | {"convoy": 1}
    b_body = {f"w{i}": 1 for i in range(100, 200)} | {"convoy": 1}
    plain = similarity(term_vector(title, a_body, df, 100), term_vector(title, b_body, df, 100))
    led = similarity(term_vector(title, a_body, df, 100, lead_tf=lead),
                     term_vector(title, b_body, df, 100, lead_tf=lead))
    assert plain < 0.5 < led
    v = term_vector(title, a_body, df, 100, lead_tf=lead)
    assert sum(w * w for w in v.values()) == pytest.approx(1.0)
    assert v["niger"] > v["convoy"] > v["w1"]


def test_rare_terms_weigh_more_and_similarity_is_symmetric() -> None:
    df = {"niger": 2, "said": 90, "troop": 10}
    a = term_vector({"niger": 1, "said": 1}, {}, df, 100)
    b = term_vector({"niger": 1, "troop": 1}, {}, df, 100)
    assert a["niger"] > a["said"]
    assert similarity(a, b) == pytest.approx(similarity(b, a))
    assert similarity(a, a) == pytest.approx(1.0)
    assert similarity(a, {}) == 0.0


def cand(i: int, score: float, days: float = 0, cluster: int | None = None) -> Candidate:
    return Candidate(i, score, T0 + timedelta(days=days), cluster if cluster else i)


def test_top_related_count_min_score_and_ties() -> None:
    cands = [cand(1, 0.5, 10), cand(2, 0.5, -3), cand(3, 0.9, 60), cand(4, 0.05), cand(5, 0.5, 3)]
    # Equal scores: closer in time first (2 and 5 are 3 days away: lower id first).
    assert [c.article_id for c in top_related(cands, T0, 3, 0.1)] == [3, 2, 5]
    assert [c.article_id for c in top_related(cands, T0, 10, 0.1)] == [3, 2, 5, 1]
    assert top_related([cand(4, 0.05)], T0, 3, 0.1) == []


def test_top_related_keeps_one_per_cluster() -> None:
    cands = [cand(1, 0.9, cluster=7), cand(2, 0.8, cluster=7), cand(3, 0.3)]
    assert [c.article_id for c in top_related(cands, T0, 3, 0.1)] == [1, 3]


def test_merge_into_matches_recomputing() -> None:
    seen = [cand(i, s, d) for i, s, d in [(1, 0.3, 1), (2, 0.6, 2), (3, 0.2, 3), (4, 0.5, 4)]]
    box = top_related(seen, T0, 3, 0.1)
    for new in [cand(9, 0.55, 1), cand(9, 0.1, 1), cand(9, 0.3, 0.5), cand(9, 0.9, cluster=2)]:
        merged = merge_into(box, new, T0, 3, 0.1)
        expected = top_related([*seen, new], T0, 3, 0.1)
        assert (merged if merged is not None else box) == expected
    assert merge_into(box, cand(9, 0.05), T0, 3, 0.1) is None


def test_sort_key_prefers_score_then_time_then_id() -> None:
    assert sort_key(cand(1, 0.5, 5), T0) < sort_key(cand(2, 0.5, -6), T0)
    assert sort_key(cand(3, 0.5000001, 50), T0) > sort_key(cand(2, 0.5, 1), T0)  # rounded tie
