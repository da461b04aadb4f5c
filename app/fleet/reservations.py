"""Reserved tokens awaiting their usage report: claimed once, by the report or by the lapse sweep."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any, Protocol


class Reservations(Protocol):
    async def hold(self, admission_id: str, ttl_seconds: float) -> None: ...

    async def claim(self, admission_ids: Sequence[str]) -> set[str]:
        """The ones this caller settles: each reservation is won once (by a usage report or the lapse)."""
        ...

    async def lapsed(self, limit: int = 1000) -> list[str]:
        """Claim and return reservations whose time ran out without a usage report."""
        ...


class LocalReservations:
    """One process's reservations, in the order they were made.

    Every hold has the same time to live (ADMISSION_TTL_SECONDS), so that order is also the order
    they fall due: the sweep reads only the lapsed ones at the front, not every reservation in
    flight. (A shorter TTL held after longer ones would lapse late, never be lost.)
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._due: dict[str, float] = {}
        self._clock = clock

    async def hold(self, admission_id: str, ttl_seconds: float) -> None:
        self._due[admission_id] = self._clock() + ttl_seconds

    async def claim(self, admission_ids: Sequence[str]) -> set[str]:
        return {
            admission_id for admission_id in admission_ids if self._due.pop(admission_id, None) is not None
        }

    async def lapsed(self, limit: int = 1000) -> list[str]:
        now = self._clock()
        due = list(
            itertools.islice(itertools.takewhile(lambda entry: entry[1] <= now, self._due.items()), limit)
        )
        for admission_id, _ in due:
            del self._due[admission_id]
        return [admission_id for admission_id, _ in due]


class RedisReservations:
    """Reservations shared by the replicas: a sorted set by due time; ZREM decides who settles."""

    KEY = "reservations"

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    async def hold(self, admission_id: str, ttl_seconds: float) -> None:
        await self._redis.zadd(self.KEY, {admission_id: time.time() + ttl_seconds})

    async def claim(self, admission_ids: Sequence[str]) -> set[str]:
        if not admission_ids:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for admission_id in admission_ids:
                pipe.zrem(self.KEY, admission_id)
            removed = await pipe.execute()
        return {admission_id for admission_id, won in zip(admission_ids, removed, strict=True) if won}

    async def lapsed(self, limit: int = 1000) -> list[str]:
        due = await self._redis.zrangebyscore(self.KEY, 0, time.time(), start=0, num=limit)
        return sorted(await self.claim([a.decode() if isinstance(a, bytes) else a for a in due]))
