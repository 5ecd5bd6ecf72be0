"""Dedupe against real stores — a SQLite file and a PostgreSQL database (the ``store_url``
fixture): merge and keep-apart cases, representatives, window, incremental == rebuild,
idempotence, removal, restarts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, select

from feedhub.dedupe.cluster import (
    dedupe_articles,
    list_clusters,
    rebuild,
    remove_articles,
)
from feedhub.store.db import create_store_engine, migrate
from feedhub.store.dedupe import dedupe_edges
from feedhub.store.schema import articles, metadata, sources
from tests.test_dedupe_texts import (
    BRIEFING_MONDAY,
    BRIEFING_TITLE,
    BRIEFING_TUESDAY,
    FERRY,
    FERRY_OTHER,
    FERRY_OTHER_TITLE,
    FERRY_TITLE,
    LIBRARY,
    LIBRARY_TITLE,
    ORCHARD,
    ORCHARD_TITLE,
    html,
)

T0 = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A fresh store on each backend (SQLite file, then PostgreSQL), opened as feedhub does."""
    eng = create_store_engine(store_url)
    migrate(eng)
    yield eng
    eng.dispose()


def add_source(conn: Connection, name: str, position: int) -> int:
    return conn.execute(
        sources.insert().values(name=name, url=f"https://{name}.example/feed", kind="http",
                                position=position)
    ).inserted_primary_key[0]


def add_article(conn: Connection, source_id: int, guid: str, title: str, content: str = "", *,
                url: str | None = None, summary: str = "", hours: float = 0) -> int:
    when = T0 + timedelta(hours=hours)
    return conn.execute(
        articles.insert().values(
            source_id=source_id, guid=guid, title=title, content=content, summary=summary,
            url=url, published=when, updated=when, first_seen=when, changed=when,
            content_hash=guid,
        )
    ).inserted_primary_key[0]


def cluster_of(conn: Connection) -> dict[int, int | None]:
    return {r.id: r.cluster_id for r in conn.execute(select(articles.c.id, articles.c.cluster_id))}


def two_sources(conn: Connection) -> tuple[int, int]:
    return add_source(conn, "daily", 0), add_source(conn, "wire", 1)


def run_pair(engine: Engine, first: dict, second: dict) -> tuple[int, int, dict[int, int | None]]:
    """Store two articles in two sources, dedupe the second after the first."""
    with engine.begin() as conn:
        s1, s2 = two_sources(conn)
        a = add_article(conn, s1, "a-1", **first)
        dedupe_articles(conn, [a])
        b = add_article(conn, s2, "b-1", **second)
        dedupe_articles(conn, [b])
        return a, b, cluster_of(conn)


def edge_reason(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(dedupe_edges.c.reason)))


# --- merge cases ---------------------------------------------------------------------


def test_same_url_with_tracking_params_merges(engine: Engine) -> None:
    a, b, c = run_pair(
        engine,
        dict(title=FERRY_TITLE, content=html(FERRY),
             url="https://www.merrow-news.example/ferry-back?utm_source=rss&utm_medium=feed"),
        dict(title="Ferry update", summary="<p>Read our report.</p>",
             url="http://merrow-news.example/ferry-back/#top"),
    )
    assert c[a] == c[b] == a
    assert edge_reason(engine) == ["url"]


def test_syndicated_wire_copy_with_trailer_merges(engine: Engine) -> None:
    wire = (f"<div><p>By Ada Quill</p><p>MERROW ISLAND (Harbour Wire) — {FERRY[0]}</p>"
            + "\n".join(f"<p>  {p}  </p>" for p in FERRY[1:])
            + "<p><em>This story was first published by the Harbour Wire.</em></p></div>")
    a, b, c = run_pair(
        engine,
        dict(title=FERRY_TITLE, content=html(FERRY), url="https://daily.example/ferry"),
        dict(title=FERRY_TITLE, content=wire, url="https://harbourwire.example/2024/ferry",
             hours=3),
    )
    assert c[a] == c[b] == a
    assert edge_reason(engine) == ["content"]


def test_recased_headline_merges(engine: Engine) -> None:
    a, b, c = run_pair(
        engine,
        dict(title=FERRY_TITLE, content=html(FERRY), url="https://daily.example/ferry"),
        dict(title=FERRY_TITLE.upper(), content=html(FERRY), url="https://wire.example/f"),
    )
    assert c[a] == c[b]


def test_reworded_headline_and_sentence_merge_as_near_duplicates(engine: Engine) -> None:
    edited = [*FERRY]
    edited[2] = ("While the ship was away, people on the island had to use a hired fishing "
                 "boat that took a dozen passengers and stayed in port on windy days.")
    a, b, c = run_pair(
        engine,
        dict(title=FERRY_TITLE, content=html(FERRY), url="https://daily.example/ferry"),
        dict(title="Merrow ferry sails again after overhaul", content=html(edited),
             url="https://wire.example/f"),
    )
    assert c[a] == c[b]
    assert edge_reason(engine) == ["near"]


def test_british_and_american_spelling_merge(engine: Engine) -> None:
    american = [p.replace("organised", "organized").replace("neighbourhood", "neighborhood")
                .replace("honour", "honor").replace("theatre", "theater")
                .replace("favourite", "favorite").replace("colour", "color") for p in LIBRARY]
    assert american != LIBRARY
    american[0] = american[0].replace("opens on Saturday", "will open this Saturday")
    a, b, c = run_pair(
        engine,
        dict(title=LIBRARY_TITLE, content=html(LIBRARY), url="https://daily.example/lib"),
        dict(title=LIBRARY_TITLE, content=html(american), url="https://wire.example/lib"),
    )
    assert c[a] == c[b]


def test_teaser_merges_with_its_full_article_by_containment(engine: Engine) -> None:
    teaser = " ".join(" ".join(ORCHARD[:2]).split()[:38]) + " …"
    a, b, c = run_pair(
        engine,
        dict(title=ORCHARD_TITLE, summary=f"<p>{teaser}</p>", url="https://daily.example/frost"),
        dict(title=ORCHARD_TITLE, content=html(ORCHARD), url="https://wire.example/frost",
             hours=-1),
    )
    assert c[a] == c[b] == b  # the full article came out first: it represents the cluster
    assert edge_reason(engine) == ["contained"]


# --- keep-apart cases -----------------------------------------------------------------


def test_independent_write_ups_of_one_event_stay_apart(engine: Engine) -> None:
    a, b, c = run_pair(
        engine,
        dict(title=FERRY_TITLE, content=html(FERRY), url="https://daily.example/ferry"),
        dict(title=FERRY_OTHER_TITLE, content=html(FERRY_OTHER), url="https://wire.example/f"),
    )
    assert c[a] == a and c[b] == b


def test_same_headline_different_text_stays_apart(engine: Engine) -> None:
    a, b, c = run_pair(
        engine,
        dict(title=BRIEFING_TITLE, content=html(BRIEFING_MONDAY), url="https://daily.example/b1"),
        dict(title=BRIEFING_TITLE, content=html(BRIEFING_TUESDAY), url="https://wire.example/b"),
    )
    assert c[a] == a and c[b] == b


def test_same_guid_in_two_sources_is_no_evidence(engine: Engine) -> None:
    with engine.begin() as conn:
        s1, s2 = two_sources(conn)
        a = add_article(conn, s1, "1", FERRY_TITLE, html(FERRY))
        b = add_article(conn, s2, "1", LIBRARY_TITLE, html(LIBRARY))
        result = dedupe_articles(conn, [a, b])
        assert result.merges == 0
        assert cluster_of(conn) == {a: a, b: b}


def test_one_source_linking_every_item_to_one_page_stays_apart(engine: Engine) -> None:
    with engine.begin() as conn:
        s1, _ = two_sources(conn)
        a = add_article(conn, s1, "mon", BRIEFING_TITLE, html(BRIEFING_MONDAY),
                        url="https://daily.example/briefing")
        b = add_article(conn, s1, "tue", BRIEFING_TITLE, html(BRIEFING_TUESDAY),
                        url="https://daily.example/briefing", hours=24)
        dedupe_articles(conn, [a, b])
        assert cluster_of(conn) == {a: a, b: b}


# --- representatives, window, incremental, idempotence ---------------------------------


def test_representative_is_earliest_then_source_position(engine: Engine) -> None:
    with engine.begin() as conn:
        late_src = add_source(conn, "zeta", 5)
        early_src = add_source(conn, "alpha", 1)
        x = add_article(conn, late_src, "x", FERRY_TITLE, html(FERRY), hours=2)
        y = add_article(conn, late_src, "y", FERRY_TITLE.lower(), html(FERRY), hours=1)
        dedupe_articles(conn, [x, y])
        assert cluster_of(conn) == {x: y, y: y}
        # same time as y, from a source earlier in the config: it becomes representative
        z = add_article(conn, early_src, "z", FERRY_TITLE, html(FERRY), hours=1)
        result = dedupe_articles(conn, [z])
        assert cluster_of(conn) == {x: z, y: z, z: z}
        assert result.merges == 1
        assert result.changed_articles == {x, y, z}
        assert result.affected_clusters == {y, z}


def test_window_is_respected_and_configurable(engine: Engine) -> None:
    with engine.begin() as conn:
        s1, s2 = two_sources(conn)
        a = add_article(conn, s1, "a", FERRY_TITLE, html(FERRY), url="https://d.example/1")
        b = add_article(conn, s2, "b", FERRY_TITLE, html(FERRY), url="https://w.example/2",
                        hours=24 * 9)
        dedupe_articles(conn, [a, b])
        assert cluster_of(conn) == {a: a, b: b}
        dedupe_articles(conn, [a, b], window=timedelta(days=10))
        assert cluster_of(conn) == {a: a, b: a}


def _corpus(conn: Connection) -> list[int]:
    """A mix of every case above, in three sources."""
    s1, s2 = two_sources(conn)
    s3 = add_source(conn, "courier", 2)
    edited = [*FERRY[:3], FERRY[3].replace("1.8 million", "almost two million"), *FERRY[4:]]
    teaser = " ".join(" ".join(ORCHARD).split()[:45])
    return [
        add_article(conn, s1, "f1", FERRY_TITLE, html(FERRY), url="https://d.example/f?utm_x=1"),
        add_article(conn, s2, "f2", FERRY_TITLE.upper(), html(edited), url="https://w.example/f",
                    hours=2),
        add_article(conn, s3, "f3", "Ferry", "<p>See link.</p>", url="http://d.example/f/",
                    hours=5),
        add_article(conn, s3, "f4", FERRY_OTHER_TITLE, html(FERRY_OTHER), hours=1),
        add_article(conn, s1, "o1", ORCHARD_TITLE, summary=f"<p>{teaser}</p>", hours=3),
        add_article(conn, s2, "o2", ORCHARD_TITLE, html(ORCHARD), hours=3),
        add_article(conn, s1, "b1", BRIEFING_TITLE, html(BRIEFING_MONDAY)),
        add_article(conn, s2, "b2", BRIEFING_TITLE, html(BRIEFING_TUESDAY), hours=24),
        add_article(conn, s3, "l1", LIBRARY_TITLE, html(LIBRARY), hours=30),
        add_article(conn, s2, "l2", LIBRARY_TITLE, html(LIBRARY).replace("<p>", "<p> "),
                    hours=24 * 30),  # outside the window
    ]


def test_incremental_equals_rebuild_and_reruns_change_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = _corpus(conn)
        order = ids[:]
        random.Random(4).shuffle(order)
        for i in range(0, len(order), 3):  # arrival in small batches, shuffled
            dedupe_articles(conn, order[i : i + 3])
        incremental = cluster_of(conn)
        f1, f2, f3, f4, o1, o2, b1, b2, l1, l2 = ids
        assert incremental[f1] == incremental[f2] == incremental[f3] == f1
        assert incremental[o1] == incremental[o2] == o1  # tie on time: source position
        for alone in (f4, b1, b2, l1, l2):
            assert incremental[alone] == alone

        again = dedupe_articles(conn, ids)
        assert (again.merges, again.changed_articles, again.affected_clusters) == (0, set(), set())
        assert cluster_of(conn) == incremental

        result = rebuild(conn)
        assert result.changed_articles == frozenset()
        assert result.merges == 3
        assert cluster_of(conn) == incremental


def test_rebuild_fixes_a_wiped_cluster_column(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = _corpus(conn)
        dedupe_articles(conn, ids)
        expected = cluster_of(conn)
        conn.execute(articles.update().values(cluster_id=None))
        result = rebuild(conn)
        assert result.changed_articles == set(ids)
        assert cluster_of(conn) == expected


def test_remove_articles_elects_a_new_representative(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = _corpus(conn)
        dedupe_articles(conn, ids)
        f1, f2, f3 = ids[:3]
        result = remove_articles(conn, [f1])
        conn.execute(articles.delete().where(articles.c.id == f1))
        c = cluster_of(conn)
        # f3 shared only f1's URL: without f1 it stands alone; f2 stands alone too
        assert c[f2] == f2 and c[f3] == f3
        assert {f1, f2, f3} <= result.changed_articles
        assert f1 in result.affected_clusters
        dedupe_articles(conn, [f2])
        assert cluster_of(conn) == c


def test_changed_article_leaves_its_cluster(engine: Engine) -> None:
    with engine.begin() as conn:
        s1, s2 = two_sources(conn)
        a = add_article(conn, s1, "a", FERRY_TITLE, html(FERRY))
        b = add_article(conn, s2, "b", FERRY_TITLE, html(FERRY), hours=1)
        dedupe_articles(conn, [a, b])
        assert cluster_of(conn) == {a: a, b: a}
        conn.execute(articles.update().where(articles.c.id == b)
                     .values(title=LIBRARY_TITLE, content=html(LIBRARY)))
        result = dedupe_articles(conn, [b])
        assert cluster_of(conn) == {a: a, b: b}
        assert result.changed_articles == {b}


def test_index_survives_a_restart(engine: Engine) -> None:
    with engine.begin() as conn:
        s1, s2 = two_sources(conn)
        a = add_article(conn, s1, "a", ORCHARD_TITLE, html(ORCHARD))
        dedupe_articles(conn, [a])
    engine.dispose()
    reopened = create_store_engine(engine.url.render_as_string(hide_password=False))
    with reopened.begin() as conn:
        b = add_article(conn, s2, "b", ORCHARD_TITLE.title(), html(ORCHARD[:4]), hours=4)
        assert dedupe_articles(conn, [b]).merges == 1
        assert cluster_of(conn) == {a: a, b: a}


def test_list_clusters(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = _corpus(conn)
        dedupe_articles(conn, ids)
        clusters = list_clusters(conn)
    f1, f2, f3, _, o1, o2 = ids[:6]
    by_rep = {c.representative_id: c for c in clusters}
    assert set(by_rep) == {f1, o1}
    ferry = by_rep[f1]
    assert [m.article_id for m in ferry.members] == [f1, f2, f3]
    assert [m.source for m in ferry.members] == ["daily", "wire", "courier"]
    assert ferry.members[0].similarity == 1.0
    assert 0.5 <= ferry.members[1].similarity < 1.0
    assert ferry.members[2].similarity == 1.0  # same URL
    assert [m.article_id for m in by_rep[o1].members] == [o1, o2]


@pytest.mark.postgres
def test_postgres_gives_the_same_clusters(tmp_path: Path, pg_engine: Engine) -> None:
    sqlite = create_engine(f"sqlite:///{tmp_path / 'feedhub.db'}")
    metadata.create_all(sqlite)
    results = []
    for eng in (sqlite, pg_engine):
        with eng.begin() as conn:
            ids = _corpus(conn)
            dedupe_articles(conn, ids[::2])
            dedupe_articles(conn, ids[1::2])
            incremental = cluster_of(conn)
            rebuild(conn)
            assert cluster_of(conn) == incremental
            remove_articles(conn, ids[:1])
            results.append(({ids.index(k): ids.index(v) for k, v in incremental.items()},
                            [[ids.index(m.article_id) for m in c.members]
                             for c in list_clusters(conn)]))
    assert results[0] == results[1]
