"""Token buckets, refilled continuously, checked all-or-nothing.

A limit of N per window is a bucket of capacity N that refills at N / window per second. One
admission takes from several buckets at once (requests and tokens, per minute / hour / day,
at the organization and the project level), each its own cost (1 from a requests bucket, the
reserved tokens from a tokens bucket): either every bucket has enough and all are charged, or
none is and the first short one says how long to wait.

A PayGo admission also holds its worst-case price against the organization's credit in the same
all-or-nothing step (see fleet.credit): the credit `floor` the caller's cache knows, minus what
usage has billed since and what admissions in flight hold, must cover it.

Two implementations share the semantics: in process memory (one process, the embedded
default) and in Redis (several replicas; one Lua script, so the check-and-take is atomic and
timed by the Redis server's clock). Every key of one organization carries its id as a hash tag
(`{org_…}`), so a script touches one Redis Cluster slot.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from redis.exceptions import NoScriptError, ResponseError

if TYPE_CHECKING:
    from app.fleet.reservations import Reservations

WINDOWS = {"minute": 60, "hour": 3600, "day": 86400}
PIPELINE_MAX = 256  # acquire calls per Redis pipeline


def _bulk(values: Iterable[str | int]) -> bytes:
    """Values as Redis protocol bulk strings (UTF-8, integers in decimal: as the client encodes them)."""
    parts = []
    for value in values:
        data = value.encode() if isinstance(value, str) else b"%d" % value
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def _exchange(connection: Any, packed: bytes, count: int) -> list[Any]:
    """Send packed commands and read their `count` replies; an error reply is returned as its exception."""
    try:
        await connection.send_packed_command(packed)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        # cancelled or failed halfway: replies may be left on the socket, which must not be reused
        await connection.disconnect(nowait=True)
        raise


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit: `capacity` units per `window` seconds."""

    key: str
    capacity: int
    window: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    levels: tuple[float, ...]  # each bucket's content after the decision
    refused: int | None = None  # index of the first bucket that was short
    retry_after: float = 0.0  # seconds until that bucket holds the cost (inf: never)
    stale: bool = False  # the guard's generation moved: nothing was taken, reload and ask again
    credit_left: int | None = None  # set when the credit could not cover the hold (micro-dollars available)
    reserved: bool = False  # admitted, and the reservation was recorded in the same step

    def remaining(self, index: int) -> int:
        return max(0, math.floor(self.levels[index]))


@dataclass(frozen=True, slots=True)
class Guard:
    """Take nothing unless `key` still holds `generation` (the state the caller decided on is current)."""

    key: str
    generation: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """Record the admission as awaiting its usage until `due` (epoch seconds), if it is admitted."""

    admission_id: str
    due: float


@dataclass(frozen=True, slots=True)
class CreditHold:
    """Hold `amount` micro-dollars if `floor` - billed - held (the counters under `key`) covers it."""

    key: str
    floor: int
    amount: int


class Claim(NamedTuple):
    """A reservation to settle. If this caller wins it (once: its usage report or the lapse sweep),
    `tokens` go back into each of `buckets` (taken when negative) and the `held` micro-dollars are
    released under `credit_key`; the `billed` micro-dollars count there either way.

    A tuple: one is built for every usage record."""

    admission_id: str
    credit_key: str
    buckets: Sequence[Bucket]
    tokens: int
    held: int
    billed: int


def reset_seconds(bucket: Bucket, level: float) -> int:
    """Seconds until the bucket is full again."""
    if bucket.capacity <= 0:
        return bucket.window
    return math.ceil(max(0.0, bucket.capacity - level) * bucket.window / bucket.capacity)


def _wait(bucket: Bucket, level: float, cost: int) -> float:
    if cost > bucket.capacity:
        return math.inf
    return (cost - level) * bucket.window / bucket.capacity


class Limiter(Protocol):
    async def acquire(
        self,
        buckets: Sequence[Bucket],
        costs: Sequence[int],
        guard: Guard | None = None,
        credit: CreditHold | None = None,
        reservation: Reservation | None = None,
    ) -> Decision:
        """Take `costs[i]` from each `buckets[i]` and hold the credit, all or nothing.

        A limiter that records the reservation in the same step says so (`Decision.reserved`); else
        the caller records it.
        """
        ...

    async def give_back(
        self, amounts: Mapping[Bucket, int], credit: Mapping[str, tuple[int, int]] | None = None
    ) -> None:
        """Settle reservations, all in one call (with Redis: one round trip however many buckets).

        `amounts`: add each to its bucket, capped at its capacity; a negative amount (tokens used beyond
        the reservation) is taken, below zero if need be. `credit`: for each credit key, release `held`
        and add `billed` (micro-dollars).
        """
        ...

    async def settle(self, claims: Sequence[Claim], reservations: Reservations) -> None:
        """Claim each reservation in `reservations` and settle it, all in one call (see Claim).

        RedisLimiter claims in its `reservations_key` (RedisReservations' set) within the same script
        as the give-back: one round trip however many reservations and organizations.
        """
        ...

    async def billed(self, keys: Sequence[str]) -> list[int]:
        """What settled usage has billed under each credit key so far (micro-dollars)."""
        ...

    async def peek(self, buckets: Sequence[Bucket]) -> list[float]:
        """Each bucket's content now, taking nothing."""
        ...


class LocalLimiter:
    """Buckets in this process's memory: exact for one process."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._levels: dict[str, tuple[float, float]] = {}
        self._credit: dict[str, list[int]] = {}  # key -> [held, billed]
        self._clock = clock

    def _level(self, bucket: Bucket, now: float) -> float:
        level, at = self._levels.get(bucket.key, (float(bucket.capacity), now))
        if bucket.capacity <= 0:
            return 0.0
        return min(float(bucket.capacity), level + (now - at) * bucket.capacity / bucket.window)

    async def acquire(
        self,
        buckets: Sequence[Bucket],
        costs: Sequence[int],
        guard: Guard | None = None,
        credit: CreditHold | None = None,
        reservation: Reservation | None = None,
    ) -> Decision:
        # one process: the caller's cache is invalidated synchronously, a guard has nothing to add; the
        # reservation is the caller's, in this process's memory too
        return self.acquire_now(buckets, costs, credit)

    def acquire_now(
        self, buckets: Sequence[Bucket], costs: Sequence[int], credit: CreditHold | None = None
    ) -> Decision:
        now = self._clock()
        levels = [self._level(b, now) for b in buckets]
        for index, (bucket, level, cost) in enumerate(zip(buckets, levels, costs, strict=True)):
            if level < cost:
                return Decision(False, tuple(levels), index, _wait(bucket, level, cost))
        if credit is not None:
            counters = self._credit.setdefault(credit.key, [0, 0])
            left = credit.floor - counters[1] - max(0, counters[0])
            if left < credit.amount:
                return Decision(False, tuple(levels), credit_left=left)
            counters[0] += credit.amount
        after = tuple(level - cost for level, cost in zip(levels, costs, strict=True))
        for bucket, level in zip(buckets, after, strict=True):
            self._levels[bucket.key] = (level, now)
        return Decision(True, after)

    async def billed(self, keys: Sequence[str]) -> list[int]:
        return [self._credit.get(key, [0, 0])[1] for key in keys]

    async def peek(self, buckets: Sequence[Bucket]) -> list[float]:
        now = self._clock()
        return [self._level(bucket, now) for bucket in buckets]

    async def settle(self, claims: Sequence[Claim], reservations: Reservations) -> None:
        won = await reservations.claim([claim.admission_id for claim in claims])
        amounts: dict[Bucket, int] = defaultdict(int)
        credit: dict[str, tuple[int, int]] = {}
        for claim in claims:
            held = 0
            if claim.admission_id in won:
                held = claim.held
                for bucket in claim.buckets:
                    amounts[bucket] += claim.tokens
            before = credit.get(claim.credit_key, (0, 0))
            credit[claim.credit_key] = (before[0] + held, before[1] + claim.billed)
        await self.give_back(amounts, credit)

    async def give_back(
        self, amounts: Mapping[Bucket, int], credit: Mapping[str, tuple[int, int]] | None = None
    ) -> None:
        now = self._clock()
        for bucket, amount in amounts.items():
            self._levels[bucket.key] = (min(float(bucket.capacity), self._level(bucket, now) + amount), now)
        for key, (held, billed) in (credit or {}).items():
            counters = self._credit.setdefault(key, [0, 0])
            counters[0] -= held
            counters[1] += billed


# KEYS: bucket keys, then the guard key, the credit key and the reservations' sorted set. ARGV:
# capacity and window (ms) of each bucket, then the cost of each, then the guard's generation ("" for
# none), the credit floor ("" for none), the amount to hold, the admission id to reserve ("" for none)
# and its due time (the set's score). The capacities and windows come first: with the keys, they are
# the part of the call that is the same for every admission of a key and model (packed once).
# Returns {refused index (0: none, -1: stale guard, -2: credit short), wait ms (-1: never) or the
# credit left, level 1, level 2, …} with levels as strings. Credit figures are
# micro-dollars, exact in Lua's doubles up to $9 billion.
_ACQUIRE = """
local n = #KEYS - 3
local expected = ARGV[n * 3 + 1]
if expected ~= '' and tonumber(redis.call('GET', KEYS[n + 1]) or '0') ~= tonumber(expected) then
  return {-1, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local levels = {}
for i = 1, n do
  local cap, win, cost = tonumber(ARGV[i*2-1]), tonumber(ARGV[i*2]), tonumber(ARGV[n*2+i])
  local state = redis.call('HMGET', KEYS[i], 'v', 't')
  local v, at = tonumber(state[1]), tonumber(state[2])
  if v == nil then v, at = cap, now end
  if cap <= 0 then v = 0 else v = math.min(cap, v + (now - at) * cap / win) end
  levels[i] = v
  if v < cost then
    local wait = -1
    if cost <= cap then wait = math.ceil((cost - v) * win / cap) end
    local out = {i, wait}
    for j = 1, i do out[#out + 1] = tostring(levels[j]) end
    return out
  end
end
local floor, hold = ARGV[n * 3 + 2], tonumber(ARGV[n * 3 + 3])
if floor ~= '' then
  local c = redis.call('HMGET', KEYS[n + 2], 'held', 'billed')
  local left = tonumber(floor) - tonumber(c[2] or '0') - math.max(0, tonumber(c[1] or '0'))
  if left < hold then
    return {-2, tostring(left)}
  end
  redis.call('HINCRBY', KEYS[n + 2], 'held', hold)
end
if ARGV[n * 3 + 4] ~= '' then
  redis.call('ZADD', KEYS[n + 3], ARGV[n * 3 + 5], ARGV[n * 3 + 4])
end
local out = {0, 0}
for i = 1, n do
  local win, cost = tonumber(ARGV[i*2]), tonumber(ARGV[n*2+i])
  local v = levels[i] - cost
  redis.call('HSET', KEYS[i], 'v', tostring(v), 't', now)
  redis.call('PEXPIRE', KEYS[i], win * 2)
  out[#out + 1] = tostring(v)
end
return out
"""

_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local cap, win = tonumber(ARGV[i*2-1]), tonumber(ARGV[i*2])
  local state = redis.call('HMGET', KEYS[i], 'v', 't')
  local v, at = tonumber(state[1]), tonumber(state[2])
  if v == nil then v, at = cap, now end
  if cap <= 0 then v = 0 else v = math.min(cap, v + (now - at) * cap / win) end
  out[i] = tostring(v)
end
return out
"""

# The Redis server's time (ms), and add(key, capacity, window, amount) on a bucket: a bucket absent
# (expired: full) gains nothing from a give-back; a take starts from its capacity.
_ADD_TO_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function add(key, cap, win, amount)
  local state = redis.call('HMGET', key, 'v', 't')
  local v, at = tonumber(state[1]), tonumber(state[2])
  if v == nil and amount < 0 then v, at = cap, now end
  if v ~= nil then
    v = math.min(cap, v + (now - at) * cap / win + amount)
    redis.call('HSET', key, 'v', tostring(v), 't', now)
    redis.call('PEXPIRE', key, win * 2)
  end
end
"""

# KEYS: buckets (of one organization: one hash tag); ARGV: capacity, window (ms), amount for each.
_GIVE_BACK = (
    _ADD_TO_BUCKET
    + """
for i = 1, #KEYS do
  add(KEYS[i], tonumber(ARGV[i*3-2]), tonumber(ARGV[i*3-1]), tonumber(ARGV[i*3]))
end
return 1
"""
)

# KEYS: the reservations' sorted set, the organization's credit key, then its token buckets. ARGV: the
# capacity and window (ms) of each bucket, then for each admission: its id, the tokens to give back
# (negative: to take), the micro-dollars it held, those it billed, its number of buckets and their
# indexes (from 1). A reservation is won by the ZREM that removes it; only a won one gives back its
# tokens and its hold, the price counts either way. Returns how many were won. Integer figures are
# written with %d: tostring would write a large sum as 1e+15, which HINCRBY refuses.
_SETTLE = (
    _ADD_TO_BUCKET
    + """
local n = #KEYS - 2
local amounts, held, billed, won = {}, 0, 0, 0
for b = 1, n do amounts[b] = 0 end
local i = n * 2 + 1
while i <= #ARGV do
  local k = tonumber(ARGV[i + 4])
  billed = billed + tonumber(ARGV[i + 3])
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    won = won + 1
    held = held + tonumber(ARGV[i + 2])
    for j = 1, k do
      local b = tonumber(ARGV[i + 4 + j])
      amounts[b] = amounts[b] + tonumber(ARGV[i + 1])
    end
  end
  i = i + 5 + k
end
for b = 1, n do
  if amounts[b] ~= 0 then add(KEYS[b + 2], tonumber(ARGV[b*2-1]), tonumber(ARGV[b*2]), amounts[b]) end
end
if held ~= 0 then redis.call('HINCRBY', KEYS[2], 'held', string.format('%d', -held)) end
if billed ~= 0 then redis.call('HINCRBY', KEYS[2], 'billed', string.format('%d', billed)) end
return won
"""
)


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: what is between its first `{` and the next `}`, if any."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start >= 0 and end > start + 1 else key


class RedisLimiter:
    """Buckets in Redis, shared by every replica; each decision is one atomic script call.

    The script also records the admission's reservation in `reservations_key` (the sorted set of
    fleet.reservations.RedisReservations): one round trip per admission. That set is the one key a
    decision touches outside the organization's hash slot (on Redis Cluster it would be sharded by
    the organization's tag, and the sweep would visit each shard).

    The acquire calls are written in Redis's protocol here, not by the client's command packing:
    the bucket keys, capacities and windows of a bucket list (the same for every admission of a key
    and model) are packed once, and only the costs, the guard, the credit hold and the reservation
    per call. Packing every argument of every call was the largest part of the client's work.
    """

    PACKED_MAX = 10_000  # bucket tuples whose constant part is kept packed

    def __init__(self, redis: Any, prefix: str = "rl:", *, reservations_key: str = "reservations") -> None:
        self._redis = redis
        self._prefix = prefix
        self._reservations_key = reservations_key
        self._acquire = redis.register_script(_ACQUIRE)
        self._pending: list[tuple[int, bytes, asyncio.Future[Any]]] = []
        self._sending: asyncio.Task[None] | None = None
        # id of a bucket tuple -> (the tuple, held so that its id is not reused; its packed parts)
        self._packed: dict[int, tuple[Sequence[Bucket], bytes, bytes]] = {}
        self._give_back = redis.register_script(_GIVE_BACK)
        self._settle = redis.register_script(_SETTLE)
        self._peek = redis.register_script(_PEEK)

    async def acquire(
        self,
        buckets: Sequence[Bucket],
        costs: Sequence[int],
        guard: Guard | None = None,
        credit: CreditHold | None = None,
        reservation: Reservation | None = None,
    ) -> Decision:
        if len(costs) != len(buckets):
            raise ValueError("one cost per bucket")
        keys, limits = self._constant_part(buckets)
        # the guard and credit keys are the organization's (same hash tag), or a bucket's when absent
        spare = self._prefix + buckets[0].key if buckets else self._prefix + "-"
        n = len(buckets)
        body = b"".join(
            (
                _bulk((n + 3,)),
                keys,
                _bulk(
                    (guard.key if guard else spare, credit.key if credit else spare, self._reservations_key)
                ),
                limits,
                _bulk(costs),
                _bulk(
                    (
                        str(guard.generation) if guard else "",
                        str(credit.floor) if credit else "",
                        credit.amount if credit else 0,
                        reservation.admission_id if reservation else "",
                        repr(reservation.due) if reservation else 0,
                    )
                ),
            )
        )
        # EVALSHA, the script's digest, the number of keys, the keys (n + 3), then 3n + 5 arguments
        reply = await self._acquire_together(4 * n + 11, body)
        refused, wait_ms, *levels = reply
        if int(refused) == -1:
            return Decision(False, (), stale=True)
        if int(refused) == -2:
            return Decision(False, (), credit_left=int(float(wait_ms)))
        parsed = tuple(float(level) for level in levels)
        if int(refused) == 0:
            return Decision(True, parsed, reserved=reservation is not None)
        index = int(refused) - 1
        full = parsed + tuple(float(b.capacity) for b in buckets[len(parsed) :])
        return Decision(False, full, index, math.inf if int(wait_ms) < 0 else int(wait_ms) / 1000)

    def _constant_part(self, buckets: Sequence[Bucket]) -> tuple[bytes, bytes]:
        """The bucket keys, and the capacities and windows (ms), in Redis's protocol."""
        held = self._packed.get(id(buckets))
        if held is not None and held[0] is buckets:
            return held[1], held[2]
        keys = _bulk([self._prefix + bucket.key for bucket in buckets])
        limits = _bulk([part for b in buckets for part in (b.capacity, b.window * 1000)])
        if len(self._packed) >= self.PACKED_MAX:
            self._packed.clear()
        if isinstance(buckets, tuple):  # immutable, hence safe to know by identity (the directory's are)
            self._packed[id(buckets)] = (buckets, keys, limits)
        return keys, limits

    async def _acquire_together(self, count: int, body: bytes) -> Any:
        """The acquire script's reply, sent in one pipeline with the other admissions of the moment.

        Each admission still runs its own atomic script; only the client's work and the round trip
        are shared: the calls made while a pipeline is out go together in the next one. The client's
        cost per command (connection checkout, retry wrapper, one write and read each) was most of an
        admission's time in Redis; per pipeline it is paid once.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((count, body, future))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_pending(), name="rate-limit pipeline")
        # the future is this admission's alone: its timing out cancels nothing of the others (the
        # sender skips a future already done), so it is awaited without a shield and its extra future
        return await future

    async def _send_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:PIPELINE_MAX], self._pending[PIPELINE_MAX:]
                try:
                    replies = await self._run_scripts([(count, body) for count, body, _ in batch])
                except asyncio.CancelledError:
                    for *_, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001  (each admission answers it: Redis away is a 503)
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved here too: an admission may have given up
                    continue
                for (*_, future), reply in zip(batch, replies, strict=True):
                    if future.done():
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                        future.exception()
                    else:
                        future.set_result(reply)
        finally:
            self._sending = None
            for *_, future in self._pending:  # cancelled (shutdown): nobody waits in vain
                future.cancel()
            self._pending.clear()

    async def _run_scripts(self, calls: list[tuple[int, bytes]]) -> list[Any]:
        """Each call's reply (an error reply as its exception), in one round trip."""
        replies = await self._round_trip(calls)
        missing = [index for index, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # Redis restarted or flushed its scripts: load it, and run those calls again
            self._acquire.sha = await self._redis.script_load(_ACQUIRE)
            for index, reply in zip(
                missing, await self._round_trip([calls[i] for i in missing]), strict=True
            ):
                replies[index] = reply
        return replies

    async def _round_trip(self, calls: list[tuple[int, bytes]]) -> list[Any]:
        sha = self._acquire.sha.encode()
        packed = b"".join(
            b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n%s" % (count, sha, body) for count, body in calls
        )
        pool = self._redis.connection_pool
        connection = await pool.get_connection()
        try:
            # as the client's pipeline does: a lost connection is reconnected and the batch sent again
            return await connection.retry.call_with_retry(  # type: ignore[no-any-return]
                lambda: _exchange(connection, packed, len(calls)),
                lambda _: connection.disconnect(),
            )
        finally:
            await pool.release(connection)

    async def peek(self, buckets: Sequence[Bucket]) -> list[float]:
        if not buckets:
            return []
        args: list[int] = []
        for bucket in buckets:
            args += [bucket.capacity, bucket.window * 1000]
        return [
            float(level)
            for level in await self._peek(keys=[self._prefix + b.key for b in buckets], args=args)
        ]

    async def settle(self, claims: Sequence[Claim], reservations: Reservations) -> None:
        """One pipeline, so one round trip: per organization, one script claims its reservations (in
        `reservations_key`) and gives back what the won ones did not use, with its credit counters.
        Each script touches one organization's hash tag and the reservations' set, as an acquire does."""
        by_organization: dict[str, list[Claim]] = defaultdict(list)
        for claim in claims:
            by_organization[claim.credit_key].append(claim)
        calls: list[tuple[list[str], list[str | int]]] = []
        for key, settled in by_organization.items():
            index: dict[Bucket, int] = {}
            for claim in settled:
                for bucket in claim.buckets:
                    index.setdefault(bucket, len(index) + 1)
            keys = [self._reservations_key, key, *(self._prefix + bucket.key for bucket in index)]
            args: list[str | int] = [part for b in index for part in (b.capacity, b.window * 1000)]
            for claim in settled:
                args += (claim.admission_id, claim.tokens, claim.held, claim.billed, len(claim.buckets))
                args += [index[bucket] for bucket in claim.buckets]
            calls.append((keys, args))
        if not calls:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._settle.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        failed = None
        for (keys, args), reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError):  # Redis restarted or flushed its scripts: nothing ran
                await self._settle(keys=keys, args=args)
            elif isinstance(reply, Exception):
                failed = failed or reply
        if failed is not None:
            raise failed

    async def give_back(
        self, amounts: Mapping[Bucket, int], credit: Mapping[str, tuple[int, int]] | None = None
    ) -> None:
        """One pipeline, so one round trip: a script call per organization (one hash tag: a Redis
        Cluster slot) over all its buckets, then the credit counters."""
        calls: dict[str, tuple[list[str], list[int]]] = defaultdict(lambda: ([], []))
        for bucket, amount in amounts.items():
            if amount:
                keys, args = calls[hash_tag(bucket.key)]
                keys.append(self._prefix + bucket.key)
                args += (bucket.capacity, bucket.window * 1000, amount)
        changes = [(key, held, billed) for key, (held, billed) in (credit or {}).items() if held or billed]
        if not calls and not changes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls.values():
                pipe.evalsha(self._give_back.sha, len(keys), *keys, *args)
            for key, held, billed in changes:
                pipe.hincrby(key, "held", -held)
                pipe.hincrby(key, "billed", billed)
            replies = await pipe.execute(raise_on_error=False)
        for (keys, args), reply in zip(calls.values(), replies, strict=False):
            if isinstance(reply, NoScriptError):  # Redis restarted or flushed its scripts: load it
                await self._give_back(keys=keys, args=args)
            elif isinstance(reply, Exception):
                raise reply
        for reply in replies[len(calls) :]:
            if isinstance(reply, Exception):
                raise reply

    async def billed(self, keys: Sequence[str]) -> list[int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "billed")
            return [int(value or 0) for value in await pipe.execute()]
