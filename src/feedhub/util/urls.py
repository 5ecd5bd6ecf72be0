"""Secrets in URLs: masking them in output, telling whether a URL carries one.

The store masks them in its error messages and the config in its own, so they live below
both (docs/architecture.md).
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*):[^/@\s]*@")
# Query parameters that carry credentials in private feed URLs: ?token=, ?apikey=,
# GitLab's ?private_token= and ?feed_token=, ?api_key=, ?sig=… (a name that is one of these
# words, or ends in "_word" / "-word"). A secret in the path cannot be told from a slug.
_SECRET_PARAM = re.compile(
    r"([?&;](?:[\w.~%-]*[_-])?(?:token|key|apikey|auth|password|passwd|pwd|secret|sig"
    r"|signature|sid|session))=([^&;#\s]*)",
    re.IGNORECASE,
)


def mask_url(text: str) -> str:
    """Secrets in the URLs of ``text`` masked: ``postgresql://u:secret@h/db`` →
    ``postgresql://u:***@h/db``, ``…/feed?token=abc`` → ``…/feed?token=***``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m[1]}=***", text)


def has_secret(url: str) -> bool:
    """Whether ``url`` carries a password or a credential-like query parameter: such a URL
    is only for fetching, never shown or published (``mask_url``)."""
    return bool(_USERINFO.search(url) or _SECRET_PARAM.search(url))
