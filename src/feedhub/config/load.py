"""YAML → validated ``Config``, with every problem reported as ``FILE:LINE:COLUMN: key.path: what``.

PyYAML's node marks give each key's position; pydantic gives each problem's key path;
this module joins the two so a user sees where to look, one line per problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import ValidationError

from feedhub.config.checks import (
    did_you_mean,
    folder_problems,
    missing_source_problems,
    reference_problems,
)
from feedhub.config.env import expand_tree, redact
from feedhub.config.schema import ConfigFile, known_keys
from feedhub.model import FullText, Source, SourceKind

DEFAULT_CONFIG = Path("config/feedhub.yaml")
# libyaml's parser when PyYAML was built with it: a 200-source config parsed once instead of
# twice (compose, then load) and in C took 8 ms instead of 80 ms of every command's
# start-up. Both parsers give the node marks that error lines cite.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Far above any real config (10,000 sources with their keys are ~100,000 values), far below
# what an alias bomb expands to.
MAX_VALUES = 1_000_000
Loc = tuple[str | int, ...]
Located = tuple[tuple[int, int], str]  # (line, column) of a problem, its line


class ConfigError(Exception):
    """The config cannot be used; ``problems`` holds one ready-to-print line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Config:
    """The validated config plus what was resolved against the file's location."""

    path: Path
    file: ConfigFile
    sources: tuple[Source, ...]
    store_url: str
    output_dir: Path
    # The YAML text this was validated from: a child process (the service's publisher)
    # gets this, not the file, which may have changed since (service/publisher.py).
    text: str | None = None

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``-c PATH``, else ``$FEEDHUB_CONFIG``, else ``config/feedhub.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("FEEDHUB_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_config(path: str | os.PathLike[str], *, check_files: bool = False) -> Config:
    """Read, validate and resolve a config file; raise ConfigError listing every problem.

    ``check_files`` (``feedhub check``) also reports local sources that are not there and
    output or store folders that cannot be written; other commands leave those to the
    stage that meets them (one missing sample file must not stop every fetch).
    """
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
    return parse_config(text, path, check_files=check_files)


def parse_config(
    text: str, path: Path, env: Mapping[str, str] | None = None, *, check_files: bool = False
) -> Config:
    """Validate config text; ``path`` names it in messages and anchors relative paths.

    ``${NAME}`` references are expanded from ``env`` (default: the process environment);
    a value that came from there never appears in an error line (``config/env.py``).
    """
    used: dict[str, str] = {}
    try:
        return _parse(text, path, os.environ if env is None else env, used, check_files)
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


def _read_yaml(
    text: str, path: Path, marks: dict[Loc, tuple[int, int]], problems: list[Located]
) -> Any:
    """The YAML document as plain data, every node's position in ``marks``; a file that is
    not a YAML mapping raises ConfigError (nothing further can be checked)."""
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
    return data


def _parse(
    text: str, path: Path, env: Mapping[str, str], used: dict[str, str], check_files: bool
) -> Config:
    """Every problem of the file in one list: each stage below goes on after a problem,
    checking what it still can, so one bad value never hides another."""
    marks: dict[Loc, tuple[int, int]] = {}
    problems: list[Located] = []
    data = _read_yaml(text, path, marks, problems)
    found: list[tuple[Loc, str]] = []  # (key path, problem), turned into lines at the end
    data = expand_tree(data, env, used, lambda loc, msg: found.append((loc, msg)))
    base = path.parent
    if isinstance(data.get("store"), str) and "://" not in data["store"]:
        try:
            data["store"] = str(_resolve(base / data["store"]))
        except ValueError as e:
            found.append((("store",), str(e)))
    cfg: ConfigFile | None = None
    try:
        cfg = ConfigFile.model_validate(data)
    except ValidationError as e:
        # A value already reported (a bad ${REF}) is not reported again, here or by the
        # checks below, which read the raw data.
        env_found = list(found)
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not isinstance(p, str) or "[" not in p)
            if not _covered(loc, env_found):
                found.append((loc, _message(err, loc)))
    found += [(loc, msg) for loc, msg in reference_problems(data) if not _covered(loc, found)]
    local = _local_sources(data, base, found)
    output_dir = _output_dir(data, base, found)
    if check_files:
        paths = {i: p for i, (p, kind) in local.items() if kind is not SourceKind.HTTP}
        found += missing_source_problems(data, paths)
        store = data.get("store")
        store_loc: Loc = ("store", "url") if isinstance(store, dict) else ("store",)
        store_url = _raw_store_url(store)
        folders = folder_problems(output_dir, store_url, store_loc)
        found += [p for p in folders if not _covered(p[0], found)]
    problems += [(_where(marks, loc), _line(path, marks, loc, msg)) for loc, msg in found]
    if problems:
        raise ConfigError([text for _, text in sorted(problems, key=lambda p: p[0])])
    assert cfg is not None and output_dir is not None  # no problems: both were made
    return Config(
        path=path,
        file=cfg,
        sources=tuple(_sources(cfg, local)),
        store_url=cfg.store.url,
        output_dir=output_dir,
        text=text,
    )


def _covered(loc: Loc, found: list[tuple[Loc, str]]) -> bool:
    """Whether a problem was already reported at ``loc`` or at a key containing it."""
    return any(loc[: len(seen)] == seen for seen, _ in found)


def _local_sources(
    data: dict[str, Any], base: Path, found: list[tuple[Loc, str]]
) -> dict[int, tuple[str, SourceKind]]:
    """Each raw source ``url`` resolved (index → URL or absolute path, kind), whatever else
    is wrong with the file, so the file checks see every local source."""
    resolved: dict[int, tuple[str, SourceKind]] = {}
    raw = data.get("sources")
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        url = entry.get("url") if isinstance(entry, dict) else None
        loc: Loc = ("sources", i, "url")
        if not isinstance(url, str) or not url or _covered(loc, found):
            continue
        try:
            resolved[i] = resolve_source_url(url, base)
        except ValueError as e:
            found.append((loc, str(e)))
    return resolved


def _sources(cfg: ConfigFile, resolved: dict[int, tuple[str, SourceKind]]) -> list[Source]:
    """The validated sources as the pipeline sees them (``resolved``: from _local_sources)."""
    sources = []
    for i, s in enumerate(cfg.sources):
        url, kind = resolved[i]
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
                full_text=FullText(s.full_text or cfg.fetch.full_text),
            )
        )
    return sources


def _raw_store_url(store: Any) -> str | None:
    """The store URL as written (a path made absolute by now); None when the file leaves
    the default or the value is of the wrong type (reported elsewhere)."""
    url = store.get("url") if isinstance(store, dict) else store
    if not isinstance(url, str):
        return None
    return url if "://" in url else f"sqlite:///{url}"


def _output_dir(data: dict[str, Any], base: Path, found: list[tuple[Loc, str]]) -> Path | None:
    """``output.dir`` made absolute against the config's folder (None if it cannot be)."""
    output = data.get("output")
    folder = output.get("dir", "feeds") if isinstance(output, dict) else "feeds"
    if not isinstance(folder, str) or _covered(("output", "dir"), found):
        return None
    try:
        return _resolve(base / folder)
    except ValueError as e:
        found.append((("output", "dir"), str(e)))
        return None


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
    problems: list[Located],
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
                where = {sub: _pos(key_node)}
                problems.append((_pos(key_node), _line(path, where, sub, "duplicate key")))
            seen.add(key)
            marks[sub] = _pos(key_node)
            _walk(value_node, sub, marks, problems, path)
            marks[sub] = _pos(key_node)  # point at the key, not its value
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), marks, problems, path)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _where(marks: dict[Loc, tuple[int, int]], loc: Loc) -> tuple[int, int]:
    """(line, column) of ``loc``; a missing key is at its nearest existing parent."""
    probe = loc
    while probe not in marks and probe:
        probe = probe[:-1]
    return marks.get(probe, (1, 1))


def _line(path: Path, marks: dict[Loc, tuple[int, int]], loc: Loc, msg: str) -> str:
    """One problem line: ``FILE:LINE:COLUMN: key.path: what``."""
    line, col = _where(marks, loc)
    return f"{path}:{line}:{col}: {format_loc(loc) or '(top level)'}: {msg}"


def format_loc(loc: Loc) -> str:
    """``("sources", 3, "interval")`` → ``sources[3].interval``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _yaml_problem(path: Path, e: yaml.YAMLError) -> str:
    """One line for a YAML error: where, and what in plain words.

    An unclosed bracket or quote is found only where the file stops making sense, often
    many lines later; PyYAML's context mark says where that construct opened, which is
    where the mistake is, so the line points there and names the other place too.
    """
    problem_mark = getattr(e, "problem_mark", None)
    context_mark = getattr(e, "context_mark", None)
    what = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None) or ""
    mark = problem_mark or context_mark
    if context and what.startswith("but "):  # "expected a single document…, but found…"
        what = f"{context}, {what}"
    elif context.startswith("while ") and context_mark and problem_mark:
        construct = context.split(" ", 2)[-1]  # "while parsing a flow sequence" → "a flow…"
        where = f"line {problem_mark.line + 1}, column {problem_mark.column + 1}"
        what = f"{what} ({where}) in {construct.replace('a ', 'the ', 1)} that starts here"
        mark = context_mark
    if "'\\t'" in what:
        what += " (indent with spaces, not tabs)"
    at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    return f"{at}: invalid YAML: {what}"


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


def _message(err: Any, loc: Loc) -> str:
    """pydantic's error in the config's words; an unknown key gets the closest known one."""
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key" + (did_you_mean(str(loc[-1]), known_keys(loc[:-1])) if loc else "")
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
