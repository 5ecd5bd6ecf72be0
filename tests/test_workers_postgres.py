"""Several ``feedhub run`` workers on one PostgreSQL store (issue 7, item 2).

Leases on due sources (``SELECT … FOR UPDATE SKIP LOCKED``), takeover of a dead worker's
leases, one publisher at a time (an advisory lock) and ``--role``. The decisions are tested
as pure functions; the rest against the machine's real PostgreSQL (a fresh database per
test, dropped afterwards; skipped with the reason where none answers), real ``feedhub run``
subprocesses and a real HTTP server on 127.0.0.1 that counts requests per path.
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text, update
from sqlalchemy.exc import ProgrammingError

from feedhub.service.roles import Roles, parse_role, polls_for_changes
from feedhub.service.scheduler import claim_room
from feedhub.store import Store
from feedhub.store.advisory import PUBLISH_LOCK, advisory_lock
from feedhub.store.changes import ChangeMarker, needs_publish
from feedhub.store.db import SCHEMA_VERSION
from feedhub.store.leases import (
    LeaseLost,
    claim_due,
    claimable,
    dead_local_owners,
    hold_lease,
    lease_duration,
    release,
    renew,
)
from feedhub.store.schema import articles, schema_info, sources
from tests.conftest import pg_database
from tests.support.httpserver import HttpServer, Reply, SeenRequest
from tests.support.service import Service, free_port, rss, wait_for

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty database, dropped afterwards (skips without PostgreSQL)."""
    with pg_database() as url:
        yield url


# -- decisions (pure) ---------------------------------------------------------------------


def test_claimable_needs_enabled_due_and_no_live_lease() -> None:
    now = T0
    due, later = now - timedelta(seconds=1), now + timedelta(seconds=1)
    assert claimable(True, due, None, due_by=now, now=now)
    assert claimable(True, None, None, due_by=now, now=now)  # never scheduled: due
    assert not claimable(False, due, None, due_by=now, now=now)
    assert not claimable(True, later, None, due_by=now, now=now)
    assert not claimable(True, due, later, due_by=now, now=now)  # someone holds it
    assert claimable(True, due, due, due_by=now, now=now)  # lease expired: take over
    # --once claims only what was due when its sweep began.
    assert not claimable(True, due, None, due_by=due - timedelta(seconds=1), now=now)


def test_claim_room() -> None:
    # One process on its own store takes every due source; its fetch slots pace them.
    assert claim_room(20, fetching=25, in_flight=60, shared=False) is None
    # Shared: free fetch slots (parsing and writing hold none), and a capped backlog, so a
    # busy worker leaves due sources to the others.
    assert claim_room(20, fetching=5, in_flight=10, shared=True) == 15
    assert claim_room(20, fetching=25, in_flight=25, shared=True) == 0
    assert claim_room(20, fetching=5, in_flight=30, shared=True) == 10
    assert claim_room(20, fetching=0, in_flight=40, shared=True) == 0


def test_dead_local_owners() -> None:
    me = "box:100:aaaaaa"
    owners = ["box:200:bbbbbb", "box:300:cccccc", "other:200:dddddd", me, "odd"]
    alive = {300}.__contains__
    assert dead_local_owners(owners, host="box", me=me, alive=alive) == {"box:200:bbbbbb"}
    # A predecessor whose pid we now have is gone too (pid reuse).
    before = "box:100:eeeeee"
    assert dead_local_owners([before], host="box", me=me, alive=lambda _: True) == {before}


def test_lease_duration() -> None:
    assert lease_duration(None, timedelta(seconds=30)) == timedelta(seconds=60)
    assert lease_duration(None, timedelta(seconds=90)) == timedelta(seconds=180)
    assert lease_duration(timedelta(seconds=5), timedelta(seconds=30)) == timedelta(seconds=5)


def test_roles_and_who_polls_the_store() -> None:
    assert parse_role("all") == Roles()
    assert parse_role("fetch") == Roles(fetch=True, publish=False, serve=False)
    assert parse_role("publish").name == "publish"
    with pytest.raises(ValueError, match="unknown role"):
        parse_role("cook")
    # One process on SQLite knows its own changes; anything else polls the marker.
    assert not polls_for_changes(Roles(), "sqlite")
    assert polls_for_changes(Roles(), "postgresql")
    assert polls_for_changes(parse_role("publish"), "sqlite")
    assert not polls_for_changes(parse_role("fetch"), "postgresql")


def test_needs_publish() -> None:
    assert needs_publish(ChangeMarker(pending=False, articles=3, published_articles=None))
    assert needs_publish(ChangeMarker(pending=True, articles=3, published_articles=3))
    assert needs_publish(ChangeMarker(pending=False, articles=2, published_articles=3))
    assert not needs_publish(ChangeMarker(pending=False, articles=3, published_articles=3))


# -- leases and locks on a real PostgreSQL ------------------------------------------------


def add_sources(store: Store, n: int, due: datetime = T0) -> list[str]:
    names = [f"s{i:03d}" for i in range(n)]
    with store.write() as conn:
        conn.execute(sources.insert(), [
            {"name": name, "url": f"http://127.0.0.1:9/{name}", "kind": "http", "position": i,
             "enabled": True, "title": "", "error_count": 0, "next_due": due}
            for i, name in enumerate(names)
        ])
    return names


@pytest.mark.postgres
def test_a_claim_skips_rows_another_claim_holds(pg_url: str) -> None:
    """While A's claim transaction is open, B gets other sources at once (SKIP LOCKED)
    instead of waiting for A or getting the same ones."""
    store = Store.open(pg_url)
    try:
        add_sources(store, 20)
        until = T0 + timedelta(minutes=1)
        with store.write() as a:
            mine = claim_due(a, "A", due_by=T0, now=T0, until=until, limit=5)
            with store.write() as b:
                b.exec_driver_sql("SET LOCAL lock_timeout = '2s'")  # fail, never hang
                theirs = claim_due(b, "B", due_by=T0, now=T0, until=until, limit=5)
        assert len(mine) == len(theirs) == 5
        assert not set(mine) & set(theirs)
        assert mine == [f"s{i:03d}" for i in range(5)]  # oldest due (then id) first
    finally:
        store.close()


@pytest.mark.postgres
def test_concurrent_claimers_never_claim_the_same_source(pg_url: str) -> None:
    """Four threads claim and "ingest" (move next_due, end the lease) until nothing is
    due: every source is claimed exactly once."""
    store = Store.open(pg_url)
    try:
        names = add_sources(store, 300)
        claimed: dict[str, list[str]] = {}
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def worker(owner: str) -> None:
            got: list[str] = []
            try:
                start.wait()
                while True:
                    with store.write() as conn:
                        batch = claim_due(conn, owner, due_by=T0, now=T0,
                                          until=T0 + timedelta(minutes=1), limit=7)
                    if not batch:
                        break
                    got += batch
                    for name in batch:
                        with store.write() as conn:
                            hold_lease(conn, name, owner)
                            conn.execute(update(sources).where(sources.c.name == name)
                                         .values(next_due=T0 + timedelta(hours=1)))
            except BaseException as e:
                errors.append(e)
            claimed[owner] = got

        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        every = [n for got in claimed.values() for n in got]
        assert sorted(every) == names  # all of them, none twice
        assert sum(1 for got in claimed.values() if got) >= 2  # they did share
        assert held_leases(store) == 0
    finally:
        store.close()


def held_leases(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(
            select(func.count()).where(sources.c.lease_owner.is_not(None))
        ).scalar_one()


@pytest.mark.postgres
def test_an_expired_lease_is_taken_over(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        add_sources(store, 3)
        lease = timedelta(seconds=60)
        with store.write() as conn:
            assert len(claim_due(conn, "dead", due_by=T0, now=T0, until=T0 + lease,
                                 limit=10)) == 3
        soon = T0 + timedelta(seconds=30)
        with store.write() as conn:
            assert claim_due(conn, "B", due_by=soon, now=soon, until=soon + lease, limit=10) == []
        late = T0 + timedelta(seconds=61)
        with store.write() as conn:
            assert renew(conn, "B", ["s000"], late + lease) == 0  # not B's to renew
            taken = claim_due(conn, "B", due_by=late, now=late, until=late + lease, limit=10)
        assert taken == ["s000", "s001", "s002"]
        # The old owner can no longer write its (stale) result; the new one can.
        with pytest.raises(LeaseLost), store.write() as conn:
            hold_lease(conn, "s000", "dead")
        with store.write() as conn:
            hold_lease(conn, "s000", "B")
            assert release(conn, "B") == 2  # s001, s002: handed back
        assert held_leases(store) == 0
    finally:
        store.close()


@pytest.mark.postgres
def test_the_publish_lock_has_one_holder_and_dies_with_it(pg_url: str) -> None:
    one, two = create_engine(pg_url), create_engine(pg_url)
    try:
        with advisory_lock(one, PUBLISH_LOCK) as held:
            assert held
            with advisory_lock(two, PUBLISH_LOCK) as also:
                assert not also
        with advisory_lock(two, PUBLISH_LOCK) as held:
            assert held  # released when the block ended
        # A holder that dies (its connection closes without unlocking) releases it too.
        conn = one.connect().execution_options(isolation_level="AUTOCOMMIT")
        assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PUBLISH_LOCK}).scalar()
        with advisory_lock(two, PUBLISH_LOCK) as held:
            assert not held
        conn.invalidate()  # closes the DBAPI connection: the server ends the session
        for _ in range(50):
            with advisory_lock(two, PUBLISH_LOCK) as held:
                if held:
                    break
            time.sleep(0.1)
        assert held
    finally:
        one.dispose()
        two.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_schema_1_store_gets_the_lease_columns_and_the_window_index(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = Store.open(url)
    with store.write() as conn:  # make it look like a store written by schema 1
        conn.exec_driver_sql("ALTER TABLE sources DROP COLUMN lease_owner")
        conn.exec_driver_sql("ALTER TABLE sources DROP COLUMN lease_until")
        conn.exec_driver_sql("DROP INDEX ix_related_docs_window")  # schema 3's
        conn.execute(schema_info.update().values(version=1))
    store.close()
    store = Store.open(url)
    try:
        add_sources(store, 1)
        with store.write() as conn:
            assert claim_due(conn, "A", due_by=T0, now=T0, until=T0 + timedelta(seconds=9),
                             limit=5) == ["s000"]
            assert conn.execute(select(schema_info.c.version)).scalar() == SCHEMA_VERSION == 3
            indexes = {i["name"] for i in inspect(conn).get_indexes("related_docs")}
            assert "ix_related_docs_window" in indexes
    finally:
        store.close()


# -- real workers ------------------------------------------------------------------------


WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti", "vo", "ze")
         for b in ("bar", "dun", "fel", "gor", "hix", "jam", "kel", "mop", "nak", "pud")]


def story(seed: str, n: int) -> str:
    """``n`` words drawn from ``seed``: distinct stories, so dedupe finds no copies to
    compare (synthetic near-identical texts would make it the test's main cost)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


class Feeds:
    """Feeds on one test server, with every request's arrival time per path."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.items: dict[str, list[str]] = {}
        self.times: dict[str, list[float]] = {}
        self.slow: dict[str, tuple[int, float]] = {}  # path → (which request, delay)
        self._lock = threading.Lock()

    def add(self, name: str, *items: str) -> str:
        self.items.setdefault(name, []).extend(items)
        path = f"/{name}.xml"

        def reply(_: SeenRequest) -> Reply:
            with self._lock:
                seen = self.times.setdefault(path, [])
                seen.append(time.monotonic())
                nth = len(seen)
            which, delay = self.slow.get(path, (0, 0.0))
            body = rss(name, self.items[name], lambda t: story(t, 30))
            return Reply(body=body, delay=delay if nth == which else 0.0,
                         headers={"Content-Type": "application/rss+xml"})

        self.server.route(path, reply)
        return self.server.url(path)

    def requests(self) -> dict[str, list[float]]:
        with self._lock:
            return {p: list(t) for p, t in self.times.items()}


def write_config(path: Path, store_url: str, feeds: dict[str, str], *, interval: str,
                 lease: str, timeout: str = "5s") -> None:
    lines = [
        "site: {base_url: 'http://127.0.0.1:8080/'}",
        f"store: {{url: '{store_url}'}}",
        "output: {dir: feeds}",
        f"server: {{host: 127.0.0.1, port: {free_port()}}}",
        f"schedule: {{interval: {interval}, jitter: 0%, lease: {lease}}}",
        f"fetch: {{timeout: {timeout}, concurrency: 20, per_host: 20}}",
        "sources:",
        *(f"  - {{name: {n}, url: '{u}', topics: [news]}}" for n, u in feeds.items()),
        "topics:",
        "  - {name: news, title: News, keywords: [nothing-matches-this]}",
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def workers() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(config: Path, *args: str) -> Service:
        svc = Service(config, 0, *args)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.kill()


def pid_of(owner: str) -> int:
    return int(owner.split(":")[-2])  # host:pid:random


N_SOURCES = 300
INTERVAL = 25.0  # one due period, seconds (jitter 0); 300 sources take ~12 s here
LEASE = 6.0  # short, so a dead worker's sources come back within the test
SLOW_DELAY = 3.0  # some second-period responses take this long: a worker is mid-fetch


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_fetch_each_source_once_per_period_and_survive_a_kill(
    pg_url: str, tmp_path: Path, workers: Callable[..., Service]
) -> None:
    with HttpServer() as server:
        feeds = Feeds(server)
        urls = {f"s{i:03d}": feeds.add(f"s{i:03d}", *(story(f"{i}/{j}", 6) for j in range(3)))
                for i in range(N_SOURCES)}
        # In the second period, every tenth source answers slowly: a worker holds their
        # leases mid-fetch when it is killed.
        slow = {f"/s{i:03d}.xml" for i in range(0, N_SOURCES, 10)}
        feeds.slow = {p: (2, SLOW_DELAY) for p in slow}
        config = tmp_path / "feedhub.yaml"
        write_config(config, pg_url, urls, interval=f"{INTERVAL:g}s", lease=f"{LEASE:g}s")
        engine = create_engine(pg_url)
        t_start = time.monotonic()
        procs = [workers(config, "--role", "fetch") for _ in range(3)]

        def stored() -> dict[str, tuple[datetime | None, int | None, str | None]]:
            with engine.connect() as conn:
                try:
                    rows = conn.execute(select(sources.c.name, sources.c.last_fetch,
                                               sources.c.last_status, sources.c.lease_owner))
                except ProgrammingError:  # the workers have not created the tables yet
                    return {}
                return {r.name: (r.last_fetch, r.last_status, r.lease_owner) for r in rows}

        # Period 1: every source fetched and stored once, by the three workers together.
        wait_for("the first period", lambda: (s := stored()) and len(s) == N_SOURCES and all(
            v[1] == 200 for v in s.values()), procs, timeout=75)
        t_period1 = time.monotonic() - t_start
        times = feeds.requests()
        assert len(times) == N_SOURCES
        for path, t in times.items():
            # Once in the first due period: any second request came after its due time
            # (a slow machine may start the second period before the first one ends).
            assert len(t) == 1 or t[1] - t[0] >= INTERVAL - 0.5, (path, t)
        once_in_period1 = sum(1 for t in times.values() if len(t) == 1)

        def fetched_by_each() -> list[int]:
            return [len(re.findall(r"feedhub\.fetch: s\d{3}: updated", p.log())) for p in procs]

        # (A log line follows its commit by a moment.)
        wait_for("fetch log lines", lambda: sum(fetched_by_each()) == N_SOURCES, procs, 10)
        per_worker = fetched_by_each()
        assert all(per_worker), per_worker  # all three did a share

        # Period 2: kill the worker holding the most leases on slow sources mid-fetch.
        def slow_in_flight() -> list[str]:
            now = time.monotonic()
            return [p for p, t in feeds.requests().items()
                    if p in slow and len(t) == 2 and now - t[1] < SLOW_DELAY - 1.0]

        wait_for("slow fetches in flight", lambda: len(slow_in_flight()) >= 3, procs,
                   timeout=INTERVAL + 30)
        in_flight = {p[1:-4] for p in slow_in_flight()}
        holders = Counter(v[2] for n, v in stored().items() if n in in_flight and v[2])
        assert holders, "slow sources in flight but no lease held"
        victim_owner = holders.most_common(1)[0][0]
        victim = next(p for p in procs if p.proc.pid == pid_of(victim_owner))
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        killed_at = datetime.now(UTC)
        t_kill = time.monotonic() - t_start
        orphaned = {n for n, v in stored().items() if v[2] == victim_owner}
        assert orphaned & in_flight
        survivors = [p for p in procs if p is not victim]

        # The survivors take the dead worker's sources over once its leases expire.
        def taken_over() -> bool:
            s = stored()
            return all(s[n][2] != victim_owner and s[n][0] is not None and s[n][0] > killed_at
                       and s[n][1] == 200 for n in orphaned)

        wait_for("takeover of the dead worker's sources", taken_over, survivors,
                   timeout=LEASE + 30)
        t_takeover = time.monotonic() - t_start
        wait_for("the second period", lambda: all(
            len(t) >= 2 for t in feeds.requests().values()), survivors, timeout=90)

        times = feeds.requests()
        counts = Counter({p: len(t) for p, t in times.items()})
        retried = []
        for path, t in times.items():
            # Once per due period: never requested again before its next due time (last
            # fetch + interval)...
            early = sum(1 for a, b in pairwise(t) if b - a < INTERVAL - 0.5)
            if path[1:-4] not in orphaned:
                assert early == 0, (path, t)
            else:  # ...except once where the dead worker's request was lost and redone
                assert early <= 1, (path, t)
                retried += [path] * early
        assert retried, "the killed worker was mid-fetch on no source"

        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(articles)).scalar()
            dupes = conn.execute(
                select(articles.c.source_id, articles.c.guid)
                .group_by(articles.c.source_id, articles.c.guid)
                .having(func.count() > 1)
            ).all()
            leased = conn.execute(select(func.count()).where(
                sources.c.lease_owner == victim_owner)).scalar()
        engine.dispose()
        assert total == 3 * N_SOURCES and not dupes and leased == 0

        for p in survivors:
            assert p.stop() == 0
            assert "Traceback" not in p.log()
        print(f"\nperiod 1 done at {t_period1:.1f}s ({once_in_period1} paths requested once, "
              f"per worker {per_worker}); kill at "
              f"{t_kill:.1f}s with {len(orphaned)} leases ({len(orphaned & in_flight)} slow in "
              f"flight); taken over by {t_takeover:.1f}s; requests per path: "
              f"{sorted(Counter(counts.values()).items())}")


def publish_intervals(log: str) -> list[tuple[float, float]]:
    """(start, end) of each publish in a JSON log, in seconds since the epoch."""
    spans = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e.get("msg", "").startswith("published ") and "duration" in e:
            end = datetime.fromisoformat(e["ts"]).timestamp()
            spans.append((end - e["duration"], end))
    return spans


@pytest.mark.slow
@pytest.mark.postgres
def test_one_publisher_at_a_time_and_any_workers_change_is_published(
    pg_url: str, tmp_path: Path, workers: Callable[..., Service]
) -> None:
    with HttpServer() as server:
        feeds = Feeds(server)
        urls = {n: feeds.add(n, f"{n.title()} one") for n in ("alpha", "beta", "gamma", "delta")}
        config = tmp_path / "feedhub.yaml"
        write_config(config, pg_url, urls, interval="1s", lease="10s")
        fetchers = [workers(config, "--role", "fetch") for _ in range(2)]
        publishers = [workers(config, "--role", "publish", "--log-format", "json")
                      for _ in range(2)]
        procs = fetchers + publishers
        feed = tmp_path / "feeds" / "news.atom"

        def published(title: str) -> bool:
            return feed.exists() and title.encode() in feed.read_bytes()

        wait_for("first stories published", lambda: all(
            published(f"{n.title()} one") for n in urls), procs, timeout=60)
        # Nobody publishes while another holder (here: the test) has the publish lock...
        engine = create_engine(pg_url)
        lock = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        take = text("SELECT pg_try_advisory_lock(:k)").bindparams(k=PUBLISH_LOCK)
        # (A publish worker may be publishing the first stories a second time: they were
        # ingested while its first publish ran.)
        wait_for("the publish lock", lambda: lock.execute(take).scalar(), procs, timeout=90)
        try:
            marks = [len(p.log()) for p in publishers]
            feeds.add("gamma", "Gamma two")

            def ingested() -> bool:
                with engine.connect() as conn:
                    return bool(conn.execute(select(func.count()).where(
                        articles.c.title == "Gamma two")).scalar())

            wait_for("the change ingested by a fetch worker", ingested, procs, timeout=90)
            wait_for("a publisher finding the lock taken", lambda: any(
                "publish skipped: another worker holds the publish lock" in p.log()[m:]
                for p, m in zip(publishers, marks, strict=True)), procs, timeout=90)
            time.sleep(3)  # more than one poll round: still nobody may publish
            assert not published("Gamma two")
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)").bindparams(k=PUBLISH_LOCK))
            lock.close()
        # ...and once it is free, one of the publish workers publishes the fetched change.
        wait_for("the change published", lambda: published("Gamma two"), procs, timeout=90)
        engine.dispose()

        def spans() -> list[tuple[float, float]]:
            return sorted(s for p in publishers for s in publish_intervals(p.log()))

        # The child writes the feed a moment before its worker logs the publish.
        wait_for("the publishes logged", lambda: len(spans()) >= 2, procs, timeout=90)
        done = spans()
        for (_, end), (start, _) in pairwise(done):
            # Never two at once. (A span is a bit wider than the lock's hold: the log line
            # comes just after the unlock; real overlaps would be a publish long.)
            assert start >= end - 0.3, done
        for p in procs:
            assert p.stop() == 0
            assert "Traceback" not in p.log()
        # Fetch workers never publish.
        assert not any(re.search(r"published \d+ topics", p.log()) for p in fetchers)
        print(f"\n{len(done)} publishes by {len(publishers)} publish workers, none overlapping")


@pytest.mark.slow
def test_role_serve_only_serves_and_once_needs_work(
    tmp_path: Path, workers: Callable[..., Service]
) -> None:
    """``--role serve`` is ``feedhub serve`` (no scheduler, no publish); ``--once`` has
    nothing to do in that role, which is a usage error."""
    port = free_port()
    config = tmp_path / "feedhub.yaml"
    config.write_text(f"server: {{host: 127.0.0.1, port: {port}}}\noutput: {{dir: feeds}}\n")
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "index.html").write_text("<p>hello</p>")
    # /readyz wants the published files there (index.html, index.opml, one per topic).
    (tmp_path / "feeds" / "index.opml").write_text("<opml/>")
    once = workers(config, "--once", "--role", "serve")
    assert once.proc.wait(60) == 2
    assert "does nothing with --role serve" in once.log()
    svc = workers(config, "--role", "serve")
    svc.port = port
    svc.ready()
    assert svc.get("/")[2] == b"<p>hello</p>"  # type: ignore[index]
    assert svc.stop() == 0
    assert "role serve" in svc.log() and "scheduler started" not in svc.log()
    assert (tmp_path / "feeds" / "index.opml").read_text() == "<opml/>"  # nothing published


@pytest.mark.slow
def test_a_restart_on_sqlite_takes_back_a_killed_runs_leases(
    tmp_path: Path, workers: Callable[..., Service]
) -> None:
    """One process owns a SQLite store: after a SIGKILL mid-fetch, the next run fetches
    the source at once instead of waiting for the dead run's lease (here 20 min)."""
    with HttpServer() as server:
        feeds = Feeds(server)
        url = feeds.add("hang", "Hang one")
        feeds.slow = {"/hang.xml": (1, 3600.0)}  # the first request never gets an answer
        config = tmp_path / "feedhub.yaml"
        write_config(config, "sqlite:///data/feedhub.db", {"hang": url}, interval="1h",
                     lease="20m", timeout="10m")
        first = workers(config, "--role", "fetch")
        wait_for("the fetch in flight", lambda: len(feeds.requests().get("/hang.xml", [])),
                   [first], timeout=90)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        second = workers(config, "--role", "fetch")
        wait_for("the source fetched again", lambda: len(feeds.requests()["/hang.xml"]) >= 2,
                   [second], timeout=90)
        assert "took back 1 source leases" in second.log()
        assert second.stop() == 0
