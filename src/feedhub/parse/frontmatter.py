"""YAML front matter (``---`` … ``---``) at the top of a local article file.

A broken block never loses the article: the caller gets the body plus a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

_MAX_BLOCK = 64 * 1024  # front matter is a few lines; a huge block is a mistake
_OPEN = re.compile(r"\A---[ \t]*\r?\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases: a "billion laughs" YAML alias bomb cannot expand."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases are not allowed in front matter", event.start_mark
            )
        return super().compose_node(parent, index)


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The metadata mapping (empty when absent or broken), the body and a warning if broken."""

    meta: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    warning: str | None = None


def split_front_matter(text: str) -> FrontMatter:
    """Split ``text`` into front matter and body."""
    opened = _OPEN.match(text)
    if not opened:
        return FrontMatter(body=text)
    closed = _CLOSE.search(text, opened.end())
    if not closed:
        # Without a closing fence the "---" may be a Markdown rule: keep everything.
        return FrontMatter(body=text, warning="front matter is not closed with '---'")
    block = text[opened.end() : closed.start()]
    body = text[closed.end() :].lstrip("\r\n")
    if len(block) > _MAX_BLOCK:
        return FrontMatter(body=body, warning="front matter is larger than 64 KiB")
    try:
        meta = yaml.load(block, Loader=_NoAliasLoader)
    # ValueError/OverflowError: PyYAML builds dates eagerly ("date: 2024-13-45" raises).
    except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FrontMatter(body=body, warning=f"broken front matter: {first}")
    if meta is None:
        return FrontMatter(body=body)
    if not isinstance(meta, dict):
        return FrontMatter(body=body, warning="front matter is not a mapping")
    return FrontMatter(meta={str(k): v for k, v in meta.items()}, body=body)
