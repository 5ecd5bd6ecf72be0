"""Stories read only the neighbours of candidate stories, and choose as with every neighbour
(issue 17: reading the story and date of every placed article in a ±3-day window cost most
of a 2,000-article publish)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection

from feedhub.related import Settings as RelatedSettings
from feedhub.related import update_related
from feedhub.related.score import LEXICAL_MIN, SCORE_DIGITS
from feedhub.store import related as rdb
from feedhub.store import stories as db
from feedhub.store import vectors as vdb
from feedhub.stories import cluster
from feedhub.stories.cluster import DEFAULT_SETTINGS, Neighbour, Settings, choose
from feedhub.stories.run import _neighbours, _semantic, place
from tests.test_related_support import add_article, make_engine
from tests.test_store_parity import uci_headlines


def every_neighbour(
    conn: Connection, article: db.Unassigned, s: Settings
) -> tuple[int, list[Neighbour]]:
    """The neighbours as the runner read them before: every placed article in the window."""
    start, end = article.published - s.window, article.published + s.window
    lexical = {
        hit.doc.article_id: hit.score
        for hit in rdb.score_candidates(
            conn, rdb.read_vector(conn, article.id), start, end, LEXICAL_MIN
        )
    }
    found = _semantic(conn, article.id, start, end)
    words, cosines = found if found is not None else (0, {})
    placed = db.stories_of(conn, (lexical.keys() | cosines.keys()) - {article.id})
    when = vdb.published_of(conn, placed)
    return words, [
        Neighbour(
            other,
            story,
            when[other],
            cosines[other][1] if other in cosines else words,
            round(lexical.get(other, 0.0), SCORE_DIGITS),
            None if found is None else cosines.get(other, (0.0, 0))[0],
        )
        for other, story in sorted(placed.items())
        if other in when
    ]


@pytest.mark.parametrize("join", [DEFAULT_SETTINGS.join, 0.3])  # as shipped, and joining more
def test_candidate_stories_neighbours_choose_as_every_neighbour(
    tmp_path: Path, join: float
) -> None:
    s = Settings(join=join)
    engine = make_engine(tmp_path)
    heads = uci_headlines(500)
    with engine.begin() as conn:
        ids = [add_article(conn, title, "", when) for title, when in heads]
        update_related(conn, ids, RelatedSettings())
        joined = fewer = 0
        for article in db.unassigned(conn, max(ids), len(ids)):
            words, pruned = _neighbours(conn, article, s)
            words_all, everyone = every_neighbour(conn, article, s)
            assert words == words_all
            assert choose(article.published, words, pruned, s) == choose(
                article.published, words_all, everyone, s
            )
            # Same links for every candidate story, not only the same winner.
            assert cluster.links(article.published, words, pruned, s) == cluster.links(
                article.published, words_all, everyone, s
            )
            fewer += len(pruned) < len(everyone)
            joined += not place(conn, article, s)
    # The data exercises both: articles that join stories, and neighbours left unread.
    assert joined > 20
    assert fewer > 100
