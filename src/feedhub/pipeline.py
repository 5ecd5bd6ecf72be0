"""The stages after ingest, in their order: topics re-filed, related lists, stories, publish.

Wiring only, for the CLI's ``publish`` and ``fetch --publish`` (the service publishes
through that command in a child process): each stage runs itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.util import find_spec

from feedhub.config import Config
from feedhub.publish.run import (
    PublishReport,
    last_publish,
    publishing,
    unchanged_report,
    write_site,
)
from feedhub.related import semantic
from feedhub.related.progress import Progress
from feedhub.related.run import update_pending_related
from feedhub.store import Store
from feedhub.stories.run import StoriesReport, rebuild_stories, update_stories
from feedhub.wiring import filing, refile_topics, related_settings, stories_settings

BACKGROUND_PAUSE = 0.1  # `publish --background`: gap between related write batches, seconds


def publish(
    config: Config,
    store: Store,
    *,
    pause: float = 0.0,
    on_wait: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> PublishReport:
    """Bring topics, related lists and stories up to date, then render and write every
    document, all under the output folder's lock (one publisher at a time).

    ``pause`` seconds between related-update transactions let other writers (a running
    service's fetches) take the store in between. ``on_wait`` is called if another
    publish holds the lock (this one then waits for it); ``progress`` after each committed
    batch of the related stage (the long part of a first publish).
    """
    with publishing(config.output_dir, on_wait=on_wait):
        started = time.perf_counter()
        # Issue 17: nothing written since the last complete publish (which ran these
        # stages too), the same config and output: nothing to do, in a few rows.
        stages = stages_state()
        generation, documents = last_publish(config, store, stages)
        if documents is not None:
            return unchanged_report(config, documents, started)
        bumps = store.own_bumps()
        with store.write() as conn:
            refile_topics(conn, filing(config))
        update_pending_related(store, related_settings(config), pause=pause, progress=progress)
        # After related: stories are formed from the vectors it indexed.
        update_stories(store, stories_settings(config), pause=pause)
        return write_site(config, store, started=started, stages=stages,
                          generation=(generation, store.own_bumps() - bumps))


def stages_state() -> str:
    """What the stages before publishing depend on besides the store and the config: the
    text-vector model (its package installed or removed, another model: every box is
    recomputed by the next related run), without loading it (~0.3 s)."""
    return semantic.MODEL_ID if find_spec("wordllama") is not None else "lexical"


def rebuild(
    config: Config,
    store: Store,
    *,
    pause: float = BACKGROUND_PAUSE,
    on_wait: Callable[[], None] | None = None,
) -> StoriesReport:
    """`feedhub stories --rebuild`: place every article into stories again (after a change
    of the stories settings), under the output folder's lock so no publish reads a half
    rebuilt set, in paced transactions with ``pause`` seconds between them (a running
    service's fetches commit in between, as during the related re-freeze)."""
    with publishing(config.output_dir, on_wait=on_wait):
        with store.write() as conn:
            refile_topics(conn, filing(config))
        update_pending_related(store, related_settings(config), pause=pause)
        return rebuild_stories(store, stories_settings(config), pause=pause)
