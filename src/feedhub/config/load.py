"""YAML → validated ``Config``, with every problem reported as ``FILE:LINE:COLUMN: key.path: what``.

PyYAML's node marks give each key's position; pydantic gives each problem's key path;
this module joins the two so a user sees where to look, one line per problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import ValidationError

from feedhub.config.env import expand_tree, redact
from feedhub.config.schema import ConfigFile, check_references
from feedhub.model import SourceKind

DEFAULT_CONFIG = Path("config/feedhub.yaml")
# libyaml's parser when PyYAML was built with it: a 200-source config parsed once instead of
# twice (compose, then load) and in C took 8 ms instead of 80 ms of every command's
# start-up. Both parsers give the node marks that error lines cite.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Far above any real config (10,000 sources with their keys are ~100,000 values), far below
# what an alias bomb expands to.
MAX_VALUES = 1_000_000
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
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError([f"{path}: cannot read config: {_reason(e)}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        bad = raw[e.start : e.start + 1].hex()
        raise ConfigError([f"{path}:{line}:{col}: not UTF-8 text (byte 0x{bad})"]) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Validate config text; ``path`` names it in messages and anchors relative paths.

    ``${NAME}`` references are expanded from ``env`` (default: the process environment);
    a value that came from there never appears in an error line (``config/env.py``).
    """
    used: dict[str, str] = {}
    try:
        return _parse(text, path, os.environ if env is None else env, used)
    except ConfigError as e:
        raise ConfigError([redact(line, used) for line in e.problems]) from None


def _python_yaml_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python parser's error for ``text``: it names the character at fault
    ("found character '\\t'…"), where libyaml only says "found character"."""
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        return e
    return None


def _parse(text: str, path: Path, env: Mapping[str, str], used: dict[str, str]) -> Config:
    marks: dict[Loc, tuple[int, int]] = {}
    problems: list[str] = []
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:  # empty, or only comments: most likely a truncated file
            raise ConfigError([f"{path}:1:1: the config file is empty (expected sources, topics…)"])
        if _expanded_size(node) > MAX_VALUES:
            raise ConfigError([
                f"{path}: the config expands to more than {MAX_VALUES:,} values "
                "(YAML aliases that repeat each other?)"
            ])
        _walk(node, (), marks, problems, path)
        data: Any = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ConfigError([_yaml_problem(path, _python_yaml_error(text) or e)]) from None
    except (ValueError, TypeError, OverflowError) as e:  # a tag's constructor: !!int abc
        raise ConfigError([f"{path}: invalid YAML: {e}"]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1:1: the config must be a mapping of keys (site, sources, …)"])
    env_problems: list[str] = []
    data = expand_tree(
        data, env, used, lambda loc, msg: env_problems.append(_line(path, marks, loc, msg))
    )
    if env_problems:
        raise ConfigError(problems + env_problems)
    base = path.parent
    if isinstance(data.get("store"), str) and "://" not in data["store"]:
        try:
            data["store"] = str(_resolve(base / data["store"]))
        except ValueError as e:
            raise ConfigError([_line(path, marks, ("store",), str(e))]) from None
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
    try:
        output_dir = _resolve(base / cfg.output.dir)
    except ValueError as e:
        problems.append(_line(path, marks, ("output", "dir"), str(e)))
    if problems:
        raise ConfigError(problems)
    return Config(
        path=path,
        file=cfg,
        sources=tuple(sources),
        store_url=cfg.store.url,
        output_dir=output_dir,
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
        try:
            p = Path(url).expanduser()
        except RuntimeError as e:  # ~user that does not exist
            raise ValueError(f"cannot use path {_shown(url)}: {e}") from None
    p = _resolve(p if p.is_absolute() else (base / p))
    try:
        is_dir = p.is_dir()
    except OSError as e:  # e.g. a name too long
        raise ValueError(f"cannot use path {_shown(str(p))}: {_reason(e)}") from None
    kind = SourceKind.FOLDER if is_dir or url.endswith("/") else SourceKind.FILE
    return str(p), kind


def _resolve(p: Path) -> Path:
    """``p.resolve()``, with a path the OS refuses (a NUL byte, a loop) as ValueError."""
    try:
        return p.resolve()
    except (OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"cannot use path {_shown(str(p))}: {_reason(e)}") from None


def _shown(value: str) -> str:
    shown = repr(value)
    return shown if len(shown) <= MAX_SHOWN else shown[: MAX_SHOWN - 1] + "…"


def _expanded_size(node: yaml.Node) -> int:
    """How many values ``node`` stands for once its aliases are expanded.

    Aliases make the node graph a DAG whose expansion can be exponential (a "billion laughs"
    of nested ``*refs``): counted per distinct node, it costs one pass over the file, where
    walking or constructing it would not end.
    """
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        sizes[id(n)] = 1  # a recursive alias (&a [*a]) counts once instead of looping
        children: list[yaml.Node] = []
        if isinstance(n, yaml.MappingNode):
            children = [x for pair in n.value for x in pair]
        elif isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_VALUES:
                break
        sizes[id(n)] = total
        return total

    return size(node)


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


def _yaml_problem(path: Path, e: yaml.YAMLError) -> str:
    """One line for a YAML error: where, and what in plain words."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    what = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    if context and what.startswith("but "):  # "expected a single document…, but found…"
        what = f"{context}, {what}"
    if "'\\t'" in what:
        what += " (indent with spaces, not tabs)"
    return f"{where}: invalid YAML: {what}"


# pydantic's wording for the common type errors, in the config's own terms.
_EXPECTED = {
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most")}
MAX_SHOWN = 80  # characters of a bad value quoted back


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required key"
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", msg))
    if kind in _EXPECTED:
        msg = _EXPECTED[kind]
    elif kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        msg = f"must be {words} {err.get('ctx', {}).get(key)}"
    if "input" not in err:
        return msg
    shown = repr(err["input"])
    if len(shown) > MAX_SHOWN:
        shown = shown[: MAX_SHOWN - 1] + "…"
    return f"{msg} (got {shown})"


def _reason(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)
