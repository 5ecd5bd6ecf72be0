"""Config reloads (SIGHUP): validate the new file first, keep the running config if it fails."""

from __future__ import annotations

import logging

from feedhub.config import Config, ConfigError, load_config

log = logging.getLogger("feedhub.service")


def reload_config(current: Config) -> Config | None:
    """The re-read config, or None (logged as one line) when it is invalid.

    Settings that are bound at start-up (the store, the listening address) cannot change
    in a running process: a change to them is logged and left for the next restart.
    """
    try:
        new = load_config(current.path)
    except ConfigError as e:
        log.error(
            "config reload failed, keeping the running config: %s", "; ".join(e.problems)
        )
        return None
    if new.store_url != current.store_url:
        log.warning("config reload: the store changes on the next restart")
    if new.file.server != current.file.server:
        log.warning("config reload: server settings change on the next restart")
    log.info(
        "config reloaded: %d sources, %d topics", len(new.sources), len(new.file.topics)
    )
    return new
