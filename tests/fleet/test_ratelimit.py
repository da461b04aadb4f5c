"""Token buckets: all-or-nothing, refilled continuously, the same in memory and in Redis."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from app.fleet.ratelimit import Bucket, Claim, CreditHold, Guard, Limiter, LocalLimiter, RedisLimiter
from app.fleet.reservations import LocalReservations, RedisReservations, Reservations


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Limiter:
    if request.param == "memory":
        return LocalLimiter()
    redis = request.getfixturevalue("redis")
    return RedisLimiter(redis)


async def test_all_or_nothing(limiter: Limiter) -> None:
    requests = Bucket("org:r", capacity=10, window=60)
    tokens = Bucket("org:t", capacity=100, window=60)
    first = await limiter.acquire([requests, tokens], [1, 60])
    assert first.allowed and first.remaining(0) == 9 and first.remaining(1) == 40
    second = await limiter.acquire([requests, tokens], [1, 60])
    assert not second.allowed and second.refused == 1
    assert 11 <= second.retry_after <= 12.1  # 20 tokens missing at 100/60 per second
    # the refused request took nothing from the request bucket
    third = await limiter.acquire([requests, tokens], [1, 40])
    assert third.allowed and third.remaining(0) == 8 and third.remaining(1) == 0


async def test_a_request_larger_than_the_limit_never_fits(limiter: Limiter) -> None:
    decision = await limiter.acquire([Bucket("big", capacity=100, window=60)], [101])
    assert not decision.allowed and math.isinf(decision.retry_after)


async def test_giving_back_is_capped_at_capacity(limiter: Limiter) -> None:
    tokens = Bucket("t", capacity=100, window=86400)
    assert (await limiter.acquire([tokens], [90])).allowed
    await limiter.give_back({tokens: 50})
    assert (await limiter.acquire([tokens], [60])).allowed
    await limiter.give_back({tokens: 10_000})
    assert (await limiter.acquire([tokens], [100])).allowed


async def test_concurrent_admissions_never_exceed_the_limit(limiter: Limiter) -> None:
    async def one() -> bool:
        return (await limiter.acquire([Bucket("tpm", capacity=10_000, window=86400)], [300])).allowed

    results = await asyncio.gather(*(one() for _ in range(200)))
    assert sum(results) == 33  # 33 * 300 = 9,900 <= 10,000 < 34 * 300


def test_refill_is_continuous() -> None:
    clock = ManualClock()
    limiter: Any = LocalLimiter(clock)
    bucket = Bucket("r", capacity=60, window=60)
    assert limiter.acquire_now([bucket], [60]).allowed
    clock.now += 30
    refused = limiter.acquire_now([bucket], [60])
    assert not refused.allowed and refused.retry_after == pytest.approx(30)
    assert limiter.acquire_now([bucket], [30]).allowed
    clock.now += 60
    assert limiter.acquire_now([bucket], [60]).allowed


def test_zero_capacity_refuses_everything() -> None:
    limiter: Any = LocalLimiter(ManualClock())
    decision = limiter.acquire_now([Bucket("z", capacity=0, window=60)], [1])
    assert not decision.allowed and math.isinf(decision.retry_after)


async def test_a_stale_guard_takes_nothing(redis: Any) -> None:
    limiter = RedisLimiter(redis)
    bucket = Bucket("g", capacity=10, window=60)
    await redis.set("gen:org", 3)
    assert (await limiter.acquire([bucket], [4], Guard("gen:org", 3))).allowed
    stale = await limiter.acquire([bucket], [4], Guard("gen:org", 2))
    assert stale.stale and not stale.allowed
    after = await limiter.acquire([bucket], [4], Guard("gen:org", 3))
    assert after.allowed and after.remaining(0) == 2  # the stale call took nothing


async def test_peek_takes_nothing(limiter: Limiter) -> None:
    bucket = Bucket("p", capacity=100, window=86400)
    assert [round(level) for level in await limiter.peek([bucket])] == [100]
    await limiter.acquire([bucket], [30])
    assert [round(level) for level in await limiter.peek([bucket, bucket])] == [70, 70]


async def test_concurrent_admissions_share_a_pipeline_and_each_is_decided_alone(redis: Any) -> None:
    from redis.asyncio.connection import AbstractConnection

    limiter = RedisLimiter(redis)
    await limiter.acquire([Bucket("warm", capacity=1, window=60)], [0])  # the script is known to Redis
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, *args: Any, **kwargs: Any) -> None:
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        await send(self, command, *args, **kwargs)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        results = await asyncio.gather(
            *(limiter.acquire([Bucket("shared", capacity=10_000, window=86400)], [300]) for _ in range(50))
        )
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    assert sum(result.allowed for result in results) == 33  # all or nothing each, as one by one
    assert len(sent) < 50  # the calls of one moment went together


async def test_a_script_redis_does_not_know_is_loaded_and_run(redis: Any) -> None:
    limiter = RedisLimiter(redis)
    limiter._acquire.sha = "0" * 40  # as after a Redis restart: EVALSHA answers NOSCRIPT
    decision = await limiter.acquire([Bucket("n", capacity=10, window=60)], [4])
    assert decision.allowed and decision.remaining(0) == 6


async def test_give_backs_of_several_buckets_and_credit_keys_in_one_call(limiter: Limiter) -> None:
    a_tokens, a_day = Bucket("o:{a}:t", capacity=1000, window=86400), Bucket("o:{a}:d", 5000, 86400)
    b_tokens, fresh = Bucket("o:{b}:t", capacity=1000, window=86400), Bucket("o:{b}:x", 1000, 86400)
    assert (await limiter.acquire([a_tokens, a_day], [800, 800])).allowed
    assert (await limiter.acquire([b_tokens], [300])).allowed
    await limiter.give_back(
        {a_tokens: 500, a_day: -200, b_tokens: 100, fresh: -400},  # a negative figure is taken
        {"c:{a}": (7, 3), "c:{b}": (0, 5)},
    )
    levels = await limiter.peek([a_tokens, a_day, b_tokens, fresh])
    # give-back capped at capacity; a take from a bucket never used (full) starts from its capacity
    assert [math.floor(level) for level in levels] == [700, 4000, 800, 600]
    assert await limiter.billed(["c:{a}", "c:{b}"]) == [3, 5]


async def test_a_give_back_redis_does_not_know_is_loaded_and_run(redis: Any) -> None:
    limiter = RedisLimiter(redis)
    bucket = Bucket("o:{a}:t", capacity=100, window=86400)
    assert (await limiter.acquire([bucket], [90])).allowed
    limiter._give_back.sha = "0" * 40  # as after a Redis restart: EVALSHA answers NOSCRIPT
    await limiter.give_back({bucket: 50})
    assert math.floor((await limiter.peek([bucket]))[0]) == 60


def reservations_beside(limiter: Limiter) -> Reservations:
    """The reservations the limiter settles: in the same Redis, or in memory beside a LocalLimiter."""
    return RedisReservations(limiter._redis) if isinstance(limiter, RedisLimiter) else LocalReservations()


async def credit_left(limiter: Limiter, key: str, floor: int = 100) -> int | None:
    """What the credit counters under `key` leave of `floor` (an acquire that asks for more, refused)."""
    return (await limiter.acquire([], [], credit=CreditHold(key, floor, floor + 1))).credit_left


async def test_a_settlement_gives_back_what_it_won_once_and_counts_every_price(limiter: Limiter) -> None:
    reservations = reservations_beside(limiter)
    a_tokens, a_day = Bucket("o:{a}:t", capacity=1000, window=86400), Bucket("o:{a}:d", 5000, 86400)
    b_tokens = Bucket("o:{b}:t", capacity=1000, window=86400)
    assert (await limiter.acquire([a_tokens, a_day], [800, 800], credit=CreditHold("c:{a}", 100, 11))).allowed
    assert (await limiter.acquire([b_tokens], [300], credit=CreditHold("c:{b}", 100, 5))).allowed
    for admission_id in ("a-1", "a-2", "b-1"):
        await reservations.hold(admission_id, 600)
    claims = [
        Claim("a-1", "c:{a}", (a_tokens, a_day), tokens=300, held=7, billed=2),
        Claim("a-2", "c:{a}", (a_tokens, a_day), tokens=-100, held=4, billed=1),  # ran over: taken
        Claim("b-1", "c:{b}", (b_tokens,), tokens=100, held=5, billed=3),
        Claim("lapsed", "c:{b}", (b_tokens,), tokens=900, held=9, billed=4),  # the sweep won it: price only
    ]
    await limiter.settle(claims, reservations)
    levels = await limiter.peek([a_tokens, a_day, b_tokens])
    assert [math.floor(level) for level in levels] == [400, 4400, 800]
    assert await limiter.billed(["c:{a}", "c:{b}"]) == [3, 7]
    # the holds released: what is left of a floor of 100 is that less what was billed
    assert [await credit_left(limiter, "c:{a}"), await credit_left(limiter, "c:{b}")] == [97, 93]
    await limiter.settle(claims[:1], reservations)  # a repeat wins nothing; its price counts again
    assert [math.floor(level) for level in await limiter.peek([a_tokens, a_day])] == [400, 4400]
    assert await credit_left(limiter, "c:{a}") == 95
    assert await reservations.claim(["a-1", "a-2", "b-1"]) == set()


async def test_a_settlement_redis_does_not_know_is_loaded_and_run(redis: Any) -> None:
    limiter, reservations = RedisLimiter(redis), RedisReservations(redis)
    bucket = Bucket("o:{a}:t", capacity=100, window=86400)
    assert (await limiter.acquire([bucket], [90])).allowed
    await reservations.hold("a-1", 600)
    limiter._settle.sha = "0" * 40  # as after a Redis restart: EVALSHA answers NOSCRIPT
    await limiter.settle([Claim("a-1", "c:{a}", (bucket,), tokens=50, held=0, billed=2)], reservations)
    assert math.floor((await limiter.peek([bucket]))[0]) == 60
    assert await limiter.billed(["c:{a}"]) == [2]


async def test_a_bucket_tuple_used_again_is_packed_once_and_a_changed_limit_is_seen(redis: Any) -> None:
    limiter = RedisLimiter(redis)
    buckets = (Bucket("c:r", capacity=10, window=60), Bucket("c:t", capacity=1000, window=60))
    first = await limiter.acquire(buckets, [1, 300])
    second = await limiter.acquire(buckets, [1, 600])  # the same tuple: its keys and limits packed once
    assert [round(level) for level in first.levels] == [9, 700]
    assert [round(level) for level in second.levels] == [8, 100]
    assert not (await limiter.acquire(buckets, [1, 200])).allowed
    # a raised limit comes as new buckets (a reloaded entry): packed anew, taken from the same keys
    raised = (Bucket("c:r", capacity=10, window=60), Bucket("c:t", capacity=100_000, window=60))
    decision = await limiter.acquire(raised, [1, 50])
    assert decision.allowed and decision.remaining(1) < 1000
