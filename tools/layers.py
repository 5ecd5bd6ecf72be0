"""The import graph of ``src/feedhub`` and the layering rules it must keep.

    python tools/layers.py            # the rules' violations (exit 1 if any)
    python tools/layers.py --graph    # every feedhub → feedhub import, one "a -> b" a line
    python tools/layers.py --dot      # the package graph for Graphviz (dot -Tsvg)

Layers, outermost first (docs/architecture.md): entry points (cli, service) → runners
(pipeline, wiring, ingest, retention: they wire stages) → stages (config, schedule, fetch,
parse, enrich, dedupe, topics, related, stories, publish, opml) → base (model, store, util,
process). An import may only point inward or stay in its layer; the base imports nothing outside it;
publish reads what it renders through the store and imports, of the other stages, only the
config and dedupe's URL identity.
Stdlib ``ast`` only: the check runs in the test suite (tests/test_layers.py).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src"

ENTRY = frozenset({"cli", "__main__", "service", "textable"})  # textable: the CLI's tables
RUNNERS = frozenset({"pipeline", "wiring", "ingest", "retention"})
STAGES = frozenset(
    {
        "config", "schedule", "fetch", "parse", "enrich", "dedupe", "topics", "related",
        "stories", "publish", "opml",
    }
)
BASE = frozenset({"model", "store", "util", "process", ""})  # "": feedhub/__init__.py (version)
LAYERS = (ENTRY, RUNNERS, STAGES, BASE)
# Stages that may import other stages (a package, or one module of it): only these.
STAGE_IMPORTS = {
    # dedupe.urls: published links are cleaned of trackers as dedupe canonicalizes them
    # (public_url); URL identity could move to util/ when a third stage needs it.
    "publish": {"config", "feedhub.dedupe.urls"},
    "opml": {"config"},
    # Stories are formed by the Related News similarity (its pure scoring and the text
    # vectors' model), read through the store or the related run's in-memory vectors
    # (`window`); nothing else of related.
    "stories": {"feedhub.related.score", "feedhub.related.semantic", "feedhub.related.window"},
    # enrich/extract.py sanitizes an article page's HTML as the parse stage sanitizes a
    # feed's: one allowlist for all published content.
    "enrich": {"feedhub.parse.sanitize"},
}

# SQLAlchemy names that build or run SQL; outside store/ only Connection/Engine (types) and
# sqlalchemy.exc (errors) may be imported.
_SQLA_ALLOWED = frozenset({"Connection", "Engine"})
# SQL keywords as SQL writes them (upper case, with what must follow), anywhere in a string.
_SQL_TEXT = re.compile(
    r"\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|ALTER\s+TABLE"
    r"|(CREATE|DROP)\s+(TABLE|INDEX|DATABASE|UNIQUE|VIEW)|PRAGMA\s|TRUNCATE\s|BEGIN\s+IMMEDIATE)"
)
_RUNS_SQL = frozenset({"execute", "exec_driver_sql", "scalars", "executemany"})


@dataclass(frozen=True, slots=True)
class Import:
    """One ``feedhub`` → ``feedhub`` import: the importing module, the imported one, line."""

    source: str
    target: str
    line: int
    path: Path


def modules(root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(dotted module name, path) of every module under ``root/feedhub``."""
    for path in sorted((root / "feedhub").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imports(root: Path = ROOT) -> list[Import]:
    """Every import of a feedhub module by a feedhub module, lazy ones included."""
    out: list[Import] = []
    for name, path in modules(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            out.extend(
                Import(name, t, node.lineno, path)
                for t in targets
                if t == "feedhub" or t.startswith("feedhub.")
            )
    return out


def package(module: str) -> str:
    """``feedhub.store.dedupe`` → ``store``; ``feedhub`` → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(pkg: str) -> int:
    for i, members in enumerate(LAYERS):
        if pkg in members:
            return i
    raise ValueError(f"package {pkg!r} is in no layer: add it to tools/layers.py")


def violations(root: Path = ROOT) -> list[str]:
    """One line per import that breaks the layering (empty when the graph is clean)."""
    out = []
    for imp in imports(root):
        src, dst = package(imp.source), package(imp.target)
        if src == dst:
            continue
        where = f"{imp.path.relative_to(root.parent)}:{imp.line}: {imp.source} imports {imp.target}"
        if layer(dst) < layer(src):
            out.append(f"{where} (points outward)")
        elif layer(src) == layer(dst) and src in STAGES:
            allowed = STAGE_IMPORTS.get(src, set())
            if dst not in allowed and imp.target not in allowed:
                out.append(f"{where} (a stage reaching into another stage)")
    return out


def sql_outside_store(root: Path = ROOT) -> list[str]:
    """One line per piece of SQL outside ``feedhub/store``: SQL text in a string, a
    SQL-building SQLAlchemy import, a table import, or a statement run on a connection."""
    out = []
    for name, path in modules(root):
        if package(name) == "store":
            continue
        rel = path.relative_to(root.parent)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(d) for d in _docstrings(tree)}  # prose may name SQL; code may not
        for node in ast.walk(tree):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docs and _SQL_TEXT.search(node.value):
                    out.append(f"{rel}:{line}: SQL text {node.value[:40]!r}")
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = {a.name for a in node.names}
                if node.module == "sqlalchemy" and names - _SQLA_ALLOWED:
                    extra = sorted(names - _SQLA_ALLOWED)
                    out.append(f"{rel}:{line}: imports {extra} from sqlalchemy")
                elif node.module in ("sqlalchemy.sql", "sqlalchemy.sql.expression"):
                    out.append(f"{rel}:{line}: imports from {node.module}")
                elif node.module == "feedhub.store.schema":
                    out.append(f"{rel}:{line}: imports store tables {sorted(names)}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _RUNS_SQL
            ):
                out.append(f"{rel}:{line}: runs SQL (.{node.func.attr})")
    return out


def _docstrings(tree: ast.Module) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                yield first.value


def main(argv: list[str]) -> int:
    if "--graph" in argv:
        for imp in imports():
            print(f"{imp.source} -> {imp.target}")
        return 0
    if "--dot" in argv:
        edges = sorted({(package(i.source) or "feedhub", package(i.target) or "feedhub")
                        for i in imports()} - {(p, p) for p in (*ENTRY, *RUNNERS, *STAGES, *BASE)})
        print("digraph feedhub {")
        for a, b in edges:
            if a != b:
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    problems = violations() + sql_outside_store()
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
