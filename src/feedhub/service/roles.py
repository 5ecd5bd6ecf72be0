"""``feedhub run --role``: which parts of the service one process runs.

Operators split the service across machines when one process is not enough (several
workers on one PostgreSQL store): ``fetch`` workers fetch due sources (each due source is
leased to one of them), ``publish`` workers publish when the store changed (one at a time,
an advisory lock) and apply retention, ``serve`` processes serve the output folder. ``all``
(the default) is the single-process service.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLE_NAMES = ("all", "fetch", "publish", "serve")


@dataclass(frozen=True, slots=True)
class Roles:
    fetch: bool = True
    publish: bool = True
    serve: bool = True

    @property
    def name(self) -> str:
        parts = [n for n in ("fetch", "publish", "serve") if getattr(self, n)]
        return "all" if len(parts) == 3 else "+".join(parts)


def parse_role(name: str) -> Roles:
    """``all``/``fetch``/``publish``/``serve`` → the parts to run; ValueError otherwise."""
    if name == "all":
        return Roles()
    if name not in ROLE_NAMES:
        raise ValueError(f"unknown role {name!r}: use one of {', '.join(ROLE_NAMES)}")
    return Roles(fetch=name == "fetch", publish=name == "publish", serve=name == "serve")


def polls_for_changes(roles: Roles, dialect: str) -> bool:
    """Must this process look at the store for changes to publish?

    A process that publishes and is the only fetcher (all roles, on SQLite) knows when it
    changed something. Otherwise another process may have ingested the change — a fetch
    worker, or a worker whose publish was skipped because this one held the lock — so
    the publisher polls the store's change marker.
    """
    return roles.publish and (not roles.fetch or dialect != "sqlite")
