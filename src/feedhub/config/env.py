"""Secrets from the environment: ``${NAME}`` in config values, and masking them in output.

A password for the store (``postgresql://feedhub:${PGPASSWORD}@db/feedhub``) should not
have to live in a config file that is committed or world-readable. Any string value may
hold ``${NAME}`` (the variable must be set) or ``${NAME:-default}`` (the default when it
is unset or empty); ``$${`` is a literal ``${``.

Values that came from the environment are never echoed back: config error messages show
the ``${NAME}`` reference instead, and URLs with a password or a token parameter are printed
masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from feedhub.util.urls import has_secret, mask_url

__all__ = ["EnvRefError", "expand", "expand_tree", "has_secret", "mask_url", "redact"]

Loc = tuple[str | int, ...]

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
MIN_REDACTED = 4  # shorter values are no secrets, and replacing them would garble messages


class EnvRefError(ValueError):
    """A ``${…}`` reference that cannot be expanded; the message says which and why."""


def expand(text: str, env: Mapping[str, str], used: dict[str, str]) -> str:
    """``text`` with every ``${NAME}``/``${NAME:-default}`` replaced from ``env``.

    ``used`` collects value → reference for each value taken from the environment, so
    messages can show the reference instead of the value.
    """

    def sub(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "$${":
            return "${"
        inner = m.group(1)
        if inner is None:
            raise EnvRefError("unclosed '${' (write '$${' for a literal '${')")
        ref = _NAME.match(inner)
        if ref is None:
            raise EnvRefError(f"invalid reference {whole!r}: use ${{NAME}} or ${{NAME:-default}}")
        name, default = ref.group(1), ref.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise EnvRefError(f"environment variable {name} is not set")
            return default
        used[value] = f"${{{name}}}"
        return value

    return _REF.sub(sub, text)


def expand_tree(
    data: Any,
    env: Mapping[str, str],
    used: dict[str, str],
    on_error: Callable[[Loc, str], None],
    loc: Loc = (),
) -> Any:
    """Expand references in every string value of parsed YAML (keys stay as written)."""
    if isinstance(data, dict):
        return {k: expand_tree(v, env, used, on_error, (*loc, str(k))) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_tree(v, env, used, on_error, (*loc, i)) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        try:
            return expand(data, env, used)
        except EnvRefError as e:
            on_error(loc, str(e))
    return data


def redact(line: str, used: Mapping[str, str]) -> str:
    """``line`` with every value taken from the environment shown as its ``${NAME}``."""
    for value in sorted(used, key=len, reverse=True):
        if len(value) >= MIN_REDACTED:
            line = line.replace(value, used[value])
    return mask_url(line)
