"""YAML → validated ``Config``, with every problem reported as ``FILE:LINE:COLUMN: key.path: what``.

PyYAML's node marks give each key's position; pydantic gives each problem's key path;
this module joins the two so a user sees where to look, one line per problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import ValidationError

from feedhub.config.schema import ConfigFile, check_references
from feedhub.model import SourceKind

DEFAULT_CONFIG = Path("config/feedhub.yaml")
Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """The config cannot be used; ``problems`` holds one ready-to-print line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Source:
    """A source as the rest of the pipeline sees it: URL resolved, kind decided."""

    name: str
    url: str  # http(s) URL, or the absolute path for local sources
    kind: SourceKind
    position: int  # order in the config file (dedupe tie-break)
    interval: timedelta
    topics: tuple[str, ...] = ()
    enabled: bool = True
    title: str | None = None

    @property
    def path(self) -> Path | None:
        return None if self.kind is SourceKind.HTTP else Path(self.url)


@dataclass(frozen=True, slots=True)
class Config:
    """The validated config plus what was resolved against the file's location."""

    path: Path
    file: ConfigFile
    sources: tuple[Source, ...]
    store_url: str
    output_dir: Path

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``-c PATH``, else ``$FEEDHUB_CONFIG``, else ``config/feedhub.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("FEEDHUB_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and resolve a config file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{path}: cannot read config: {_reason(e)}"]) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Validate config text; ``path`` names it in messages and anchors relative paths."""
    marks: dict[Loc, tuple[int, int]] = {}
    problems: list[str] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{where}: invalid YAML: {what}"]) from None
    if node is None:
        data: Any = {}
    else:
        _walk(node, (), marks, problems, path)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1:1: the config must be a mapping of keys (site, sources, …)"])
    base = path.parent
    if isinstance(data.get("store"), str) and "://" not in data["store"]:
        data["store"] = str((base / data["store"]).resolve())
    try:
        cfg = ConfigFile.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not isinstance(p, str) or "[" not in p)
            problems.append(_line(path, marks, loc, _message(err)))
        raise ConfigError(problems) from None
    for loc, msg in check_references(cfg):
        problems.append(_line(path, marks, loc, msg))
    sources = []
    for i, s in enumerate(cfg.sources):
        try:
            url, kind = resolve_source_url(s.url, base)
        except ValueError as e:
            problems.append(_line(path, marks, ("sources", i, "url"), str(e)))
            continue
        sources.append(
            Source(
                name=s.name,
                url=url,
                kind=kind,
                position=i,
                interval=s.interval or cfg.schedule.interval,
                topics=s.topics,
                enabled=s.enabled,
                title=s.title,
            )
        )
    if problems:
        raise ConfigError(problems)
    return Config(
        path=path,
        file=cfg,
        sources=tuple(sources),
        store_url=cfg.store.url,
        output_dir=(base / cfg.output.dir).resolve(),
    )


def resolve_source_url(url: str, base: Path) -> tuple[str, SourceKind]:
    """http(s) URLs stay; ``file://`` URLs and paths become absolute paths (file or folder)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"URL {url!r} has no host")
        return url, SourceKind.HTTP
    if scheme == "file":
        p = Path(unquote(parts.path))
    elif scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ValueError(f"unsupported URL scheme {scheme!r} in {url!r}")
    else:
        p = Path(url).expanduser()
    p = p if p.is_absolute() else (base / p)
    p = p.resolve()
    kind = SourceKind.FOLDER if p.is_dir() or url.endswith("/") else SourceKind.FILE
    return str(p), kind


def _walk(
    node: yaml.Node,
    loc: Loc,
    marks: dict[Loc, tuple[int, int]],
    problems: list[str],
    path: Path,
) -> None:
    """Record the position of every key and item; flag duplicate keys (YAML keeps the last)."""
    marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = (*loc, key)
            if key in seen:
                problems.append(_line(path, {sub: _pos(key_node)}, sub, "duplicate key"))
            seen.add(key)
            marks[sub] = _pos(key_node)
            _walk(value_node, sub, marks, problems, path)
            marks[sub] = _pos(key_node)  # point at the key, not its value
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), marks, problems, path)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _line(path: Path, marks: dict[Loc, tuple[int, int]], loc: Loc, msg: str) -> str:
    """One problem line; a missing key points at its nearest existing parent."""
    probe = loc
    while probe not in marks and probe:
        probe = probe[:-1]
    line, col = marks.get(probe, (1, 1))
    return f"{path}:{line}:{col}: {format_loc(loc) or '(top level)'}: {msg}"


def format_loc(loc: Loc) -> str:
    """``("sources", 3, "interval")`` → ``sources[3].interval``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required key"
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", msg))
    return f"{msg} (got {err.get('input')!r})" if "input" in err else msg


def _reason(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)
