"""Work in a daemon thread of its own, for jobs the service may abandon at exit."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a daemon thread of its own.

    Not ``asyncio.to_thread``: ``asyncio.run`` joins the default executor's threads at
    exit, so a publish of minutes would hold a SIGTERM up to the forced-exit deadline.
    Abandoning publishing at exit is safe: files are replaced atomically and the store
    transaction rolls back.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value, error = fn(*args), None
        except BaseException as e:  # handed to the awaiting task
            value, error = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (exiting)
            loop.call_soon_threadsafe(settle, value, error)

    name = getattr(args[0] if args else fn, "__name__", "work")
    threading.Thread(target=run, name=name, daemon=True).start()
    return await future
