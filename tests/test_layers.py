"""The layering of src/feedhub (tools/layers.py): imports point inward — cli/service →
runners → stages → store/model/util — and no SQL lives outside store/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _layers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layers", ROOT / "tools" / "layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["layers"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


layers = _layers()


def test_imports_point_inward() -> None:
    assert layers.violations() == []


def test_no_sql_outside_store() -> None:
    assert layers.sql_outside_store() == []


def test_every_package_has_a_layer() -> None:
    for imp in layers.imports():
        layers.layer(layers.package(imp.source))
        layers.layer(layers.package(imp.target))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "feedhub" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "model.py": "",
        "store/__init__.py": "from feedhub.ingest.decide import ArticleChanges\n",
        "ingest/__init__.py": "",
        "ingest/decide.py": "import feedhub.cli\n",
        "cli.py": "from feedhub.store import Store\n",
        "publish/__init__.py": (
            '"""Docstrings may say SELECT 1."""\n'
            "from sqlalchemy import Connection, select\n"
            "from feedhub.related import rank\n"
            "from feedhub.store.schema import articles\n"
            "def f(conn: Connection) -> None:\n"
            '    conn.exec_driver_sql("SELECT id FROM articles")\n'
        ),
        "related/__init__.py": "",
    })
    found = "\n".join(layers.violations(root))
    assert "feedhub.store imports feedhub.ingest.decide (points outward)" in found
    assert "feedhub.ingest.decide imports feedhub.cli (points outward)" in found
    assert "feedhub.publish imports feedhub.related (a stage reaching" in found
    assert "feedhub.cli imports" not in found  # inward: allowed
    sql = "\n".join(layers.sql_outside_store(root))
    assert "imports ['select'] from sqlalchemy" in sql
    assert "imports store tables ['articles']" in sql
    assert "SQL text 'SELECT id FROM articles'" in sql
    assert "runs SQL (.exec_driver_sql)" in sql
    assert "SELECT 1" not in sql  # a docstring is prose
    with pytest.raises(ValueError, match="in no layer"):
        layers.layer("newstage")
