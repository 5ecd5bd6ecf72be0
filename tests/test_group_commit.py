"""Group commit: sources whose results wait at the same moment share one SQLite transaction,
and each stays all or nothing (ingest/run.py, GROUP_MAX).

The store is a real SQLite file. A trigger calling a Python function holds the first
article write until every other source's result is queued behind it (a condition, not a
sleep: issue 12, this test once failed on a busy machine), so they are written as one
group; another trigger refuses one source's articles.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import event

import feedhub.ingest.run as ingest_run
from feedhub.config import Config
from feedhub.ingest.run import Ingester
from feedhub.store import Store
from tests.test_ingest import make_config, rss, state

NAMES = [f"s{i}" for i in range(6)]
HOLD_LIMIT = 120.0  # s: only a hang reaches it, and the commit count then fails the test

# The first article insert of the run waits in hold() while the other sources queue up.
HOLD = """
CREATE TRIGGER hold_first BEFORE INSERT ON articles
WHEN (SELECT count(*) FROM articles) = 0
BEGIN SELECT hold(); END
"""
# The refused source is one queued behind the held one (`victim()`, chosen in hold()): a
# source picked by name failed alone whenever its fetch finished first, before anything
# was held, and the group's shape then depended on the order fetches finished in.
POISON = """
CREATE TRIGGER poison BEFORE INSERT ON articles
WHEN (SELECT name FROM sources WHERE id = NEW.source_id) = victim()
BEGIN SELECT RAISE(ABORT, 'poisoned title'); END
"""


def run_held(
    tmp_path: Path, poison: bool = False
) -> tuple[Config, dict, list[int], str | None]:
    """Ingest every source once with the first write held until the others are queued;
    the config, the reports by name, the commits made and the source refused (``poison``:
    the third queued behind the held one, so the middle of their group)."""
    urls = {}
    for name in NAMES:
        path = tmp_path / f"{name}.xml"
        path.write_bytes(rss(3, prefix=name))
        urls[name] = str(path)
    cfg = make_config(tmp_path, urls)
    store = Store.open(cfg.store_url)
    ingester = Ingester(cfg, store)

    held: list[bool] = []
    victim: list[str] = []

    def hold() -> None:  # in the writer thread, inside the first transaction
        if held:
            return  # once: a group rolled back starts again from an empty table
        held.append(True)
        deadline = time.monotonic() + HOLD_LIMIT
        while len(ingester._writes) < len(NAMES) - 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        if poison:
            victim.append(ingester._writes[2][1].src.name)

    def on_connect(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.create_function("hold", 0, hold)  # type: ignore[attr-defined]
        dbapi_conn.create_function(  # type: ignore[attr-defined]
            "victim", 0, lambda: victim[0] if victim else ""
        )

    event.listen(store.engine, "connect", on_connect)
    store.engine.dispose()  # connections made from now on know hold()
    with store.write() as conn:
        conn.exec_driver_sql(HOLD)
        conn.exec_driver_sql(POISON)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    try:
        reports = {r.name: r for r in asyncio.run(ingester.run())}
    finally:
        store.close()
    return cfg, reports, commits, victim[0] if victim else None


@pytest.fixture(autouse=True)
def _no_group_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # The group's time bound would make the count depend on the machine's speed.
    monkeypatch.setattr(ingest_run, "GROUP_SECONDS", HOLD_LIMIT * 2)


def test_sources_waiting_together_share_one_commit(tmp_path: Path) -> None:
    cfg, reports, commits, _ = run_held(tmp_path)
    assert all(reports[n].new == 3 and reports[n].error is None for n in NAMES)
    infos = state(cfg)
    assert all(infos[n].article_count == 3 and infos[n].last_fetch for n in NAMES)
    # The config sync, then one group: the held first source and the five queued behind it.
    assert len(commits) == 2, len(commits)


def test_a_source_the_store_refuses_fails_alone_in_its_group(tmp_path: Path) -> None:
    cfg, reports, commits, refused = run_held(tmp_path, poison=True)
    assert refused is not None
    assert reports[refused].error == "store error: poisoned title"
    assert reports[refused].outcome == "error" and reports[refused].new == 0
    others = [n for n in NAMES if n != refused]
    assert all(reports[n].new == 3 and reports[n].error is None for n in others), reports
    infos = state(cfg)
    assert all(infos[n].article_count == 3 for n in others)
    # Nothing of the refused source was written, its fetch state included: it is retried.
    assert infos[refused].article_count == 0 and infos[refused].last_fetch is None
    assert len(commits) > 3  # the group was rolled back and written again source by source
