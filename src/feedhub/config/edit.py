"""Editing the config file as text, so an import keeps the operator's comments and layout."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import yaml

from feedhub.config.load import Config, parse_config


class FeedLike(Protocol):
    title: str
    url: str


def add_sources(text: str, feeds: Sequence[FeedLike], cfg: Config) -> tuple[str, list[str]]:
    """Append the feeds that are not yet sources to ``sources:``; return new text and names.

    The result is validated before it is returned, so a bad import never reaches the file.
    """
    known_urls = {s.url for s in cfg.sources}
    names = {s.name for s in cfg.sources}
    added: list[str] = []
    items: list[str] = []
    for f in feeds:
        if f.url in known_urls:
            continue
        known_urls.add(f.url)
        name = _unique(_slug(f.title) or _slug(f.url) or "feed", names)
        names.add(name)
        added.append(name)
        items.append(f"  - name: {name}\n    url: {_q(f.url)}\n    title: {_q(f.title)}\n")
    if not added:
        return text, []
    new_text = _insert_items(text, "".join(items))
    parse_config(new_text, cfg.path)  # raises ConfigError: never write a broken config
    return new_text, added


def _insert_items(text: str, items: str) -> str:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    seq = None
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == "sources":
                seq = v
    if isinstance(seq, yaml.SequenceNode) and seq.value and seq.flow_style is False:
        lines = text.splitlines(keepends=True)
        end_line = seq.value[-1].end_mark.line
        # end_mark points after the last item (possibly at the next key's line start).
        if seq.value[-1].end_mark.column == 0:
            end_line -= 1
        indent = " " * seq.value[0].start_mark.column
        body = re.sub(r"^  ", indent[:-2] if len(indent) >= 2 else "", items, flags=re.M)
        head = "".join(lines[: end_line + 1])
        if not head.endswith("\n"):
            head += "\n"
        return head + body + "".join(lines[end_line + 1 :])
    if seq is None:
        return text.rstrip("\n") + "\n\nsources:\n" + items
    raise ValueError("cannot add to an inline or empty 'sources:' list: edit the file by hand")


def write_config(path: Path, text: str) -> None:
    """Replace the config file atomically (a crash leaves the old or the new file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _slug(s: str) -> str:
    s = re.sub(r"^https?://(www\.)?", "", s.lower())
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")[:48].strip("-")


def _unique(base: str, taken: set[str]) -> str:
    if not re.match(r"^[a-z0-9]", base):
        base = "feed-" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _q(s: str) -> str:
    # "${" would be read as an environment reference (config/env.py): "$${" keeps it literal.
    s = s.replace("${", "$${")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
