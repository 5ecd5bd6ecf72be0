"""The stories decision (pure): which story a new article joins, and story ids."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from feedhub.stories.cluster import (
    Neighbour,
    Settings,
    choose,
    links,
    pair_score,
    pair_scores,
)
from feedhub.stories.ids import story_id

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
S = Settings()


def n(article: int, story: str, lexical: float, semantic: float | None, hours: float = 0.0,
      words: int = 10) -> Neighbour:
    return Neighbour(article, story, T0 - timedelta(hours=hours), words, lexical, semantic)


def test_joins_the_story_of_a_close_match() -> None:
    assert choose(T0, 10, [n(1, "a", 0.6, 0.8, hours=2)], S) == "a"


def test_starts_a_story_when_nothing_is_alike() -> None:
    assert choose(T0, 10, [n(1, "a", 0.0, 0.1, hours=2)], S) is None
    assert choose(T0, 10, [], S) is None


def test_a_story_needs_one_related_neighbour_above_the_floor() -> None:
    # Similarity 0.3·0 + 0.7·0.2 = 0.14 is under the headline floor (0.15): not a
    # candidate, however close in time.
    assert links(T0, 10, [n(1, "a", 0.0, 0.2)], S) == []


def test_average_link_one_similar_headline_does_not_pull_into_a_broad_story() -> None:
    """Story "a": one close match and three unrelated recent articles; story "b": two
    fair matches. Single link would pick "a"; the mean picks "b"."""
    near = [n(1, "a", 0.8, 0.9, 1), n(2, "a", 0.0, 0.1, 1), n(3, "a", 0.0, 0.1, 1),
            n(4, "a", 0.0, 0.1, 1), n(5, "b", 0.4, 0.7, 1), n(6, "b", 0.4, 0.7, 1)]
    ranked = links(T0, 10, near, S)
    assert [x.story_id for x in ranked] == ["b", "a"]
    assert choose(T0, 10, near, S) == "b"


def test_closeness_in_time_raises_the_link() -> None:
    same_day, _ = pair_score(T0, 10, n(1, "a", 0.3, 0.6, hours=1), S)
    days_later, _ = pair_score(T0, 10, n(1, "a", 0.3, 0.6, hours=80), S)
    assert same_day > days_later
    assert choose(T0, 10, [n(1, "a", 0.3, 0.6, hours=1)], S) == "a"
    assert choose(T0, 10, [n(1, "a", 0.3, 0.6, hours=80)], S) is None


def test_long_texts_need_more_similarity_than_headlines() -> None:
    """The related floor rises with the shorter text (full articles share news register)."""
    pair = n(1, "a", 0.3, 0.55, hours=2, words=200)
    assert choose(T0, 10, [pair], S) == "a"  # against a headline: the low floor
    assert choose(T0, 200, [pair], S) is None  # two full articles: under their floor


def test_ties_go_to_the_nearest_story_then_the_lower_id() -> None:
    near = [n(1, "b", 0.5, 0.8, hours=5), n(2, "a", 0.5, 0.8, hours=5)]
    assert choose(T0, 10, near, S) == "a"
    near = [n(1, "b", 0.5, 0.8, hours=5), n(2, "a", 0.5, 0.8, hours=-5)]
    assert choose(T0, 10, near, S) == "a"  # equal distance either way
    # Beyond CLOSE_SPAN the time bonus is 0 for both: equal links, the nearer story wins.
    far = [n(1, "b", 0.6, 0.9, hours=73), n(2, "a", 0.6, 0.9, hours=80)]
    assert choose(T0, 10, far, S) == "b"


def test_order_of_neighbours_does_not_matter() -> None:
    near = [n(i, "abc"[i % 3], 0.1 * (i % 5), 0.15 * (i % 6), hours=i) for i in range(12)]
    assert links(T0, 10, near, S) == links(T0, 10, list(reversed(near)), S)


def test_lexical_only_without_text_vectors() -> None:
    assert choose(T0, 0, [n(1, "a", 0.7, None, hours=1)], S) == "a"
    assert choose(T0, 0, [n(1, "a", 0.05, None, hours=1)], S) is None


def test_story_id_is_stable_and_names_its_founder() -> None:
    a = story_id("wire", "https://wire.example/1")
    assert a == story_id("wire", "https://wire.example/1")
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != story_id("courier", "https://wire.example/1")
    assert a != story_id("wire", "https://wire.example/2")


def test_neighbours_scored_together_score_as_each_alone() -> None:
    # pair_scores takes a placed article's ~200 neighbours through numpy at once; each
    # must score, and pass the floor, exactly as when scored on its own.
    rng = random.Random(7)
    for _ in range(200):
        near = [
            n(i, rng.choice("abc"), round(rng.uniform(0, 1), 6),
              None if rng.random() < 0.2 else rng.uniform(-0.2, 1.0),
              hours=rng.uniform(-100, 100), words=rng.randint(1, 800))
            for i in range(rng.randint(1, 25))
        ]
        words = rng.randint(1, 800)
        s = Settings(window=timedelta(days=rng.choice([1, 3])), closeness=rng.choice([0.0, 0.4]))
        together = pair_scores(T0, words, near, s)
        alone = [pair_score(T0, words, x, s) for x in near]
        assert list(zip(*together, strict=True)) == alone
