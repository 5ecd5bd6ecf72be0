"""Every third-party module that ``src/`` imports is a declared runtime dependency.

``make`` installs the test extras, so a module that only arrives through one of them (numpy
came with datasketch, issue 12) passes the suite while a plain ``pip install`` breaks. This
reads the imports under ``src/`` and maps each to the distributions that provide it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import REPO

NOT_RUNTIME_EXTRAS = {"test", "tests", "dev", "lint", "docs"}


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement string (PEP 503)."""
    name = re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_runtime(pyproject: Path) -> set[str]:
    """Distributions a user gets from ``pip install`` (plus non-test extras)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    names = {_name(r) for r in project.get("dependencies", [])}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        if extra not in NOT_RUNTIME_EXTRAS:
            names |= {_name(r) for r in reqs}
    return names


def imported_modules(src: Path) -> dict[str, str]:
    """Top-level module → the first ``file:line`` importing it, for absolute imports."""
    found: dict[str, str] = {}
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                found.setdefault(mod.split(".")[0], f"{path.relative_to(src.parent)}:{node.lineno}")
    return found


def undeclared(src: Path, pyproject: Path) -> list[str]:
    """One line per third-party import that no declared runtime distribution provides."""
    own = {p.name for p in src.iterdir() if p.is_dir()} | {p.stem for p in src.glob("*.py")}
    declared = declared_runtime(pyproject)
    providers = packages_distributions()
    problems = []
    for top, where in sorted(imported_modules(src).items()):
        if top in own or top in sys.stdlib_module_names or top == "__future__":
            continue
        owners = {_name(d) for d in providers.get(top, [])}
        if not owners:
            problems.append(f"{where}: imports {top}, which no installed distribution provides")
        elif not owners & declared:
            problems.append(
                f"{where}: imports {top} (from {', '.join(sorted(owners))}), "
                "which pyproject.toml's runtime dependencies do not declare"
            )
    return problems


def test_every_runtime_import_is_declared() -> None:
    assert undeclared(REPO / "src", REPO / "pyproject.toml") == []


def test_an_undeclared_import_is_caught(tmp_path: Path) -> None:
    """The check itself: a module importing a test-only distribution is reported, a
    declared one is not, and a relative or own-package import is left alone."""
    pkg = tmp_path / "src" / "demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import sub\nimport demo.sub\n")
    (pkg / "sub.py").write_text(
        "import json\nimport yaml\n\ndef f():\n    import datasketch\n    return datasketch\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\ndependencies = ["PyYAML>=6"]\n'
        '[project.optional-dependencies]\ntest = ["datasketch"]\n'
    )
    problems = undeclared(tmp_path / "src", tmp_path / "pyproject.toml")
    assert len(problems) == 1
    assert problems[0].startswith("src/demo/sub.py:5: imports datasketch (from datasketch)")
