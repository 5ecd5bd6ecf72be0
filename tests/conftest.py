"""Shared fixtures: paths to the repo, the shared kit, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
if not SHARED.is_dir():  # a checkout elsewhere: the kit lives beside the workspace
    SHARED = Path("/work/shared")


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
