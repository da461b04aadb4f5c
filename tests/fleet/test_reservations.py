"""Reservations: each settled once, by its usage report or by the lapse sweep, the same in memory and in Redis."""

from __future__ import annotations

import pytest

from app.fleet.reservations import LocalReservations, RedisReservations, Reservations


@pytest.fixture(params=["memory", "redis"])
def reservations(request: pytest.FixtureRequest) -> Reservations:
    if request.param == "memory":
        return LocalReservations()
    return RedisReservations(request.getfixturevalue("redis"))


async def test_a_reservation_is_claimed_once(reservations: Reservations) -> None:
    await reservations.hold("a", 600)
    await reservations.hold("b", 600)
    assert await reservations.claim(["a", "b", "unknown"]) == {"a", "b"}
    assert await reservations.claim(["a"]) == set()
    assert await reservations.lapsed() == []


async def test_lapsed_reservations_come_out_in_batches_and_once(reservations: Reservations) -> None:
    for n in range(5):
        await reservations.hold(f"old-{n}", 0)
    await reservations.hold("running", 600)
    assert await reservations.claim(["old-2"]) == {"old-2"}  # its usage came in time
    first = await reservations.lapsed(limit=3)
    rest = await reservations.lapsed(limit=3)
    assert len(first) == 3 and sorted(first + rest) == ["old-0", "old-1", "old-3", "old-4"]
    assert await reservations.lapsed() == []
    assert await reservations.claim(["running", "old-0"]) == {"running"}
