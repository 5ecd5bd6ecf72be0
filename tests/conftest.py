"""Shared fixtures: paths to the repo, the shared kit, and a way to run the real CLI."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

REPO = Path(__file__).resolve().parents[1]
# Fixtures of the tests that run the service (feeds, start): one plugin, not a copy per module.
pytest_plugins = ["tests.support.fixtures"]


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m feedhub ARGS`` as a real subprocess (what a user runs); ``preexec``
    runs in the child before it starts (resource limits)."""
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
        preexec_fn=preexec,
    )


@pytest.fixture
def cli():
    return run_cli


PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A throwaway database on the machine's PostgreSQL with the store's tables (a real
    server, no mocks); skipped with the reason where none is reachable."""
    from feedhub.store.schema import metadata
    from feedhub.store.tables import schema  # noqa: F401 — every table on metadata

    with pg_database() as url:
        engine = create_engine(url)
        metadata.create_all(engine)
        yield engine
        engine.dispose()


@contextmanager
def pg_database(prefix: str = "feedhub_test") -> Iterator[str]:
    """A fresh, empty database on the machine's PostgreSQL, dropped afterwards; yields its
    URL. Skips the test with the reason when no server answers at 127.0.0.1:5432."""
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    try:
        yield f"{PG}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def backend_url(backend: str, folder: Path) -> Iterator[str]:
    """A store URL on a fresh store: a SQLite file in ``folder`` or a new PG database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'feedhub.db'}"
    else:
        with pg_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty store on each backend: a SQLite file, then a new database
    on the PostgreSQL at 127.0.0.1:5432 (that param skips with the reason without one)."""
    with backend_url(request.param, tmp_path) as url:
        yield url
