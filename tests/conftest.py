"""Shared fixtures: paths to the repo, the shared kit, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

REPO = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m feedhub ARGS`` as a real subprocess (what a user runs)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("FEEDHUB_CONFIG", None) if env is None or "FEEDHUB_CONFIG" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "feedhub", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture
def pg_engine(request: pytest.FixtureRequest):
    """A throwaway database on the machine's PostgreSQL with the store's tables (a real
    server, no mocks); skipped with the reason where none is reachable."""
    from feedhub.store.schema import metadata
    from feedhub.store.tables import schema  # noqa: F401 — every table on metadata

    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    name = f"feedhub_test_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    engine: Engine = create_engine(f"{PG}/{name}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()
