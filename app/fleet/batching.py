"""Concurrent cache misses loaded together: one query for every key asked for while the last one ran."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """Loads what is asked for in batches, one batch at a time (a DataLoader that lives with the process).

    The first miss starts a batch on the next turn of the event loop, so every miss of that turn
    joins it; misses that come while a batch runs wait for the next one, which starts as soon as it
    ends. Under load the batches grow by themselves; alone, a miss costs one query as before.
    `drop` makes later askers of a key start a new load rather than join one begun before a change.
    """

    def __init__(
        self, load: Callable[[list[K]], Awaitable[dict[K, V]]], *, name: str, max_batch: int
    ) -> None:
        self._load = load
        self._name = name
        self._max_batch = max_batch
        self._waiting: dict[K, asyncio.Future[V | None]] = {}
        self._running: dict[K, asyncio.Future[V | None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """What the loader finds for `key` (None: nothing)."""
        future = self._running.get(key) or self._waiting.get(key) or self._ask(key)
        # shielded: one asker giving up (a timeout) does not cancel the load for the others
        return await asyncio.shield(future)

    def prefetch(self, keys: Iterable[K]) -> None:
        """Load these in the background (nobody waits for them)."""
        for key in keys:
            if key not in self._waiting:
                self._ask(key)

    def drop(self, keys: Iterable[K] | None = None) -> list[K]:
        """Loads already running for these keys (None: all) are not joined any more; returns those keys."""
        if keys is None:
            dropped = list(self._running)
            self._running.clear()
            return dropped
        return [key for key in keys if self._running.pop(key, None) is not None]

    def _ask(self, key: K) -> asyncio.Future[V | None]:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"batched loads: {self._name}")
        return future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = dict(itertools.islice(self._waiting.items(), self._max_batch))
                for key in batch:
                    del self._waiting[key]
                self._running.update(batch)
                try:
                    found = await self._load(list(batch))
                except asyncio.CancelledError:
                    for future in batch.values():
                        future.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001  (each asker receives it: a database outage is a 503)
                    logger.warning("loading %d %s failed: %s", len(batch), self._name, exc)
                    for future in batch.values():
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved here: a prefetch has nobody to await it
                else:
                    for key, future in batch.items():
                        if not future.done():
                            future.set_result(found.get(key))
                finally:
                    for key, future in batch.items():
                        if self._running.get(key) is future:
                            del self._running[key]
        finally:
            self._task = None
            for future in self._waiting.values():  # cancelled (shutdown): nobody is left waiting in vain
                future.cancel()
            self._waiting.clear()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
