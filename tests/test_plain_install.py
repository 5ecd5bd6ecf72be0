"""A plain ``pip install`` of the checkout works as a user's would (issue 12).

``make`` installs the test extras, which hid two undeclared runtime dependencies: a plain
install failed every source. This builds the project into a fresh venv **without extras**,
from the wheels ``make wheels`` keeps in ``.cache/wheels`` (so the test itself needs no
network), then runs ``check``, ``fetch`` and ``publish`` on a copy of the shipped config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

WHEELS = REPO / ".cache" / "wheels"
ATOM = "{http://www.w3.org/2005/Atom}"


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # Nothing of the test run's environment leaks in: no PYTHONPATH to src/, no venv.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


NETWORK_SOURCES = ("bbc-africa", "aljazeera", "un-news-africa", "rfi-africa", "guardian-africa")


def _shipped_config(tmp: Path) -> Path:
    """A copy of the shipped config and samples: its store and output land inside ``tmp``."""
    shutil.copytree(REPO / "config", tmp / "config", ignore=shutil.ignore_patterns("data"))
    return tmp / "config" / "feedhub.yaml"


@pytest.mark.skipif(
    not (WHEELS / ".done").exists(), reason="no .cache/wheels: run `make wheels` (make test does)"
)
def test_plain_install_fetches_and_publishes(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    py, feedhub = venv / "bin" / "python", venv / "bin" / "feedhub"
    installed = _run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(WHEELS),
         str(REPO)],
        tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    check = _run([str(py), "-m", "pip", "check"], tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr

    config = _shipped_config(tmp_path)
    outputs = {}
    for command in ("check", "fetch", "publish", "sources"):
        done = _run([str(feedhub), "-c", str(config), command], tmp_path)
        outputs[command] = done.stdout + done.stderr
        assert done.returncode == 0, f"feedhub {command}: {outputs[command]}"
        assert "Traceback" not in outputs[command], f"feedhub {command}: {outputs[command]}"
    # Offline, only the real public feeds fail, one line each; every bundled sample is read.
    lines = outputs["fetch"].strip().splitlines()
    summary = [line for line in lines if line.startswith("fetched ")]
    errors = [line for line in lines if not line.startswith("fetched ")]
    assert summary and summary[0].endswith(f"{len(NETWORK_SOURCES)} failed"), outputs["fetch"]
    assert sorted(line.split(":")[0] for line in errors) == sorted(NETWORK_SOURCES)

    feeds = tmp_path / "feeds"
    for topic in ("sahel", "niger", "humanitarian", "world"):
        root = ET.parse(feeds / f"{topic}.atom").getroot()
        entries = root.findall(f"{ATOM}entry")
        assert entries, f"{topic}.atom has no entries after a plain install"
    # Full text (issue 15) extracts in the installed package: trafilatura and justext import
    # (justext needs lxml_html_clean, a distribution of its own since lxml 5.2).
    para = "<p>" + "A sentence of the article's own text, long enough to be kept. " * 12 + "</p>"
    page = f"<html><body><article><h1>Title</h1>{para * 3}</article></body></html>"
    code = (
        "from feedhub.enrich.extract import extract_page; "
        f"e = extract_page({page.encode()!r}, 'text/html', 'https://x.example/news/1'); "
        "print(e.error or e.chars)"
    )
    extracted = _run([str(py), "-c", code], tmp_path)
    assert extracted.returncode == 0 and extracted.stdout.strip().isdigit(), (
        extracted.stdout + extracted.stderr
    )
    # The parse stage really ran in the installed package, not in the checkout.
    where = _run([str(py), "-c", "import feedhub; print(feedhub.__file__)"], tmp_path)
    assert str(venv) in where.stdout
