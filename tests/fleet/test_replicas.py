"""Two replicas sharing PostgreSQL/SQLite and Redis: what one changes, the other enforces at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, ConnectionPool

from app.db import Database
from app.domain.accounts.service import create_user
from app.domain.actor import Actor
from app.domain.api_keys.service import create_api_key, revoke_api_key
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.projects.service import RateLimitInput, create_project, set_project_rate_limit
from app.fleet.admission import Admissions, Settlement
from app.fleet.api import UsageReport
from app.fleet.credit import credit_key
from app.fleet.ratelimit import Bucket
from app.fleet.service import Fleet, build_fleet
from app.services import Services
from app.settings import Settings
from tests.conftest import REDIS_URL
from tests.fleet.conftest import buy_credits
from tests.support import World


@pytest.fixture
async def replicas(
    database_url: str, database: Database, services: Services, settings: Settings, redis: Any, world: World
) -> AsyncIterator[list[tuple[Database, Fleet]]]:
    """Two replicas: each its own database engines and fleet, sharing the database, Redis and the admission key.

    Acme has bought credits, so its keys run under PayGo.
    """
    await buy_credits(database, services.payments, settings, world, "100.00")
    shared = settings.model_copy(update={"fleet_admission_key": SecretStr("shared-admission-key")})
    pairs = []
    for _ in range(2):
        db = Database(database_url)
        pairs.append((db, build_fleet(db, services, shared, redis)))
    yield pairs
    for db, fleet in pairs:
        await fleet.stop()
        await db.dispose()


async def test_a_key_revoked_on_one_replica_is_refused_by_the_other(
    replicas: list[tuple[Database, Fleet]], world: World
) -> None:
    (db_a, fleet_a), (db_b, fleet_b) = replicas
    admin = Actor(world.people["admin"].user_id)
    async with db_a.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="shared")
    assert (
        await fleet_b.admissions.admit(created.secret, "gpt-oss-120b", 10, 10)
    ).status == 200  # B caches the key
    async with db_a.transaction() as session:
        await revoke_api_key(session, admin, created.api_key.id)
    answer = await fleet_b.admissions.admit(created.secret, "gpt-oss-120b", 10, 10)
    assert answer.status == 401


async def test_rate_limits_are_shared(replicas: list[tuple[Database, Fleet]], world: World) -> None:
    (db_a, fleet_a), (_, fleet_b) = replicas
    admin = Actor(world.people["admin"].user_id)
    async with db_a.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="shared")
    # gpt-oss-120b PayGo: 1,000,000 TPM; two replicas together cannot exceed it (131,000 tokens a request)
    taken = [await fleet.admissions.admit(created.secret, "gpt-oss-120b", 100_000, 31_000)
             for fleet in (fleet_a, fleet_b) * 3 + (fleet_a,)]  # fmt: skip
    second = await fleet_b.admissions.admit(created.secret, "gpt-oss-120b", 100_000, 31_000)
    third = await fleet_a.admissions.admit(created.secret, "gpt-oss-120b", 1, 0)
    assert [answer.status for answer in taken] == [200] * 7  # 917,000 of 1,000,000
    assert (second.status, third.status) == (429, 200)
    assert second.body["code"] == "token_quota_exceeded"


async def test_a_reservation_is_settled_once_whichever_replica_reports(
    replicas: list[tuple[Database, Fleet]], world: World
) -> None:
    (db_a, fleet_a), (_, fleet_b) = replicas
    admin = Actor(world.people["admin"].user_id)
    async with db_a.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="shared")
    admitted = await fleet_a.admissions.admit(created.secret, "gpt-oss-120b", 100_000, 31_000)
    admission_id = admitted.body["admission_id"]
    admission = fleet_b.admissions.codec.decode(admission_id)
    assert admission is not None
    settlement = Settlement(admission_id, admission, used_tokens=100_000)
    await fleet_b.admissions.settle([settlement])  # gives back 31,000
    await fleet_a.admissions.settle([settlement])  # a repeat gives nothing
    assert await fleet_a.admissions.release_lapsed() == 0
    # 900,000 left of 1,000,000 (and the refill of a second or so, 16,667 a second); twice: 931,000
    assert 900_000 <= await tokens_left(fleet_b, world) < 920_000


async def test_a_usage_report_is_answered_once_its_unused_tokens_are_back(
    replicas: list[tuple[Database, Fleet]], world: World
) -> None:
    (db_a, fleet_a), _ = replicas
    admin = Actor(world.people["admin"].user_id)
    async with db_a.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="shared")
    admitted = await fleet_a.admissions.admit(created.secret, "gpt-oss-120b", 100_000, 31_000)
    limiter = fleet_a.admissions.limiter
    settle = limiter.settle

    async def slow_settle(claims: Any, reservations: Any) -> None:  # a Redis far away
        await asyncio.sleep(0.05)
        await settle(claims, reservations)

    limiter.settle = slow_settle  # type: ignore[method-assign]
    report = UsageReport(
        "r-1", admitted.body["admission_id"], "gpt-oss-120b", input_tokens=100_000, output_tokens=0
    )
    assert await fleet_a.record_usage([report]) == [{"request_id": "r-1", "status": "accepted"}]
    # the 31,000 unused tokens are back in Redis when the report is answered (869,000 without them)
    assert await tokens_left(fleet_a, world) >= 900_000


async def tokens_left(fleet: Fleet, world: World) -> float:
    """What Acme's gpt-oss-120b tokens-per-minute bucket holds now."""
    limits = fleet.admissions.catalog.model("gpt-oss-120b").paygo_limits  # type: ignore[union-attr]
    now = await fleet.admissions.usage_now(world.acme_id, "gpt-oss-120b", limits)
    return next(level for limit, level in now if (limit.kind, limit.window) == ("tokens", "minute"))


async def test_the_redis_keys_of_an_organization_share_one_cluster_hash_tag(
    replicas: list[tuple[Database, Fleet]], world: World, redis: Any, services: Services
) -> None:
    (db_a, fleet_a), _ = replicas
    admin = Actor(world.people["admin"].user_id)
    async with db_a.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="shared")
        await set_project_rate_limit(session, admin, world.project_a_id, model_id="gpt-oss-120b",
                                     limits=RateLimitInput(requests_per_minute=5), catalog=services.catalog)  # fmt: skip
    assert (await fleet_a.admissions.admit(created.secret, "gpt-oss-120b", 10, 10)).status == 200
    keys = {key.decode() for key in await redis.keys("*")} - {"reservations"}
    # buckets of the organization and of the project, the generation, the credit counters
    assert {key.split(":")[0] for key in keys} >= {"rl", "gen", "cr"} and len(keys) >= 5
    assert all(f"{{{world.acme_id}}}" in key for key in keys), keys


async def test_an_admission_is_one_redis_round_trip(
    replicas: list[tuple[Database, Fleet]], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.asyncio.connection import AbstractConnection

    (db_a, fleet_a), _ = replicas
    admin = Actor(world.people["admin"].user_id)
    async with db_a.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="shared")
    assert (
        await fleet_a.admissions.admit(created.secret, "gpt-oss-120b", 10, 10)
    ).status == 200  # entries read
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, *args: Any, **kwargs: Any) -> None:
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        await send(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    admitted = await fleet_a.admissions.admit(created.secret, "gpt-oss-120b", 10, 10)
    monkeypatch.undo()
    assert admitted.status == 200
    # buckets, generation guard, credit hold and the reservation: one script, one round trip
    assert len(sent) == 1 and b"EVALSHA" in sent[0]
    admission_id = admitted.body["admission_id"]
    assert await fleet_a.admissions.reservations.claim([admission_id]) == {admission_id}  # it was reserved


async def test_settling_a_group_of_many_organizations_is_one_redis_round_trip(
    database_url: str, database: Database, services: Services, settings: Settings, world: World, redis: Any
) -> None:
    """Every claim, give-back and credit change of the group in one pipeline: a script per organization."""
    sent: list[bytes] = []  # what each write to Redis carried: a command, or a whole pipeline

    class Counting(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            packed = command if isinstance(command, (bytes, str)) else b"".join(command)
            sent.append(packed.encode() if isinstance(packed, str) else packed)
            await super().send_packed_command(command, check_health)

    counted = Redis(connection_pool=ConnectionPool.from_url(REDIS_URL, connection_class=Counting))
    await buy_credits(database, services.payments, settings, world, "100.00")  # Acme: PayGo, holds credit
    secrets: list[str] = []
    async with database.transaction() as session:
        admin = Actor(world.people["admin"].user_id)
        for project_id in (world.project_a_id, world.project_b_id):
            secrets.append((await create_api_key(session, admin, project_id, name="settle")).secret)
        for n in range(6):  # six Personal organizations: the free tier
            user = await create_user(session, email=f"solo{n}@example.com", password="long enough password",
                                     name=f"solo {n}", settings=settings)  # fmt: skip
            organization = await create_organization(
                session, owner=user, name=f"Solo {n}", type=OrganizationType.PERSONAL
            )
            project = await create_project(session, Actor(user.id), organization.id, name="settle")
            secrets.append((await create_api_key(session, Actor(user.id), project.id, name="k")).secret)
    db = Database(database_url)
    fleet = build_fleet(db, services, settings, counted)
    try:
        admissions: Admissions = fleet.admissions
        started = time.monotonic()
        settlements, expected = [], []
        for n, secret in enumerate(secrets):
            admitted = await admissions.admit(secret, "gpt-oss-120b", 100, 900)  # 1,000 reserved
            assert admitted.status == 200, admitted.body
            admission = admissions.codec.decode(admitted.body["admission_id"])
            assert admission is not None
            used = 1_500 if n % 3 == 0 else 400  # a third ran over their reservation: 500 taken more
            billed = 1_000 if admission.plan == "paygo" else 0  # the free tier bills nothing
            settlements.append(Settlement(admitted.body["admission_id"], admission, used, billed))
            expected.append((admission, used))
        assert len({admission.organization_id for admission, _ in expected}) == 7
        sent.clear()
        await admissions.settle(settlements)
        assert len(sent) == 1  # the claims, give-backs and credit changes: one round trip
        assert sent[0].count(b"EVALSHA") == 7
        acme = admissions.codec.decode(settlements[0].admission_id)
        assert acme is not None and acme.plan == "paygo" and acme.held_micros > 0
        # Acme's two holds released, its two prices (1,000 nanos: a micro-dollar each) counted
        assert await redis.hmget(credit_key(acme.organization_id), "held", "billed") == [b"0", b"2"]
        elapsed = time.monotonic() - started
        used_of: dict[Bucket, int] = {}  # Acme's two projects share its organization's buckets
        for admission, used in expected:
            state = await admissions.directory.organization(admission.organization_id)
            assert state is not None
            plan = state.plans[admission.model_id]
            for limit in admissions._limits(state, plan, admission.project_id, admission.model_id)[1]:
                if limit.kind == "tokens":
                    used_of[limit.bucket] = used_of.get(limit.bucket, 0) + used
        assert len(used_of) >= 7
        # each token bucket holds its capacity less what was used (and what refilled since the admissions)
        for (bucket, used), level in zip(
            used_of.items(), await admissions.limiter.peek(list(used_of)), strict=True
        ):
            refill = bucket.capacity * elapsed / bucket.window + 1
            assert bucket.capacity - used <= level <= min(bucket.capacity, bucket.capacity - used + refill)
        sent.clear()
        await admissions.settle([s._replace(billed_nanos=0) for s in settlements])  # a repeat gives nothing
        assert len(sent) == 1 and sent[0].count(b"EVALSHA") == 7  # nothing won, nothing given back
        assert await redis.hmget(credit_key(acme.organization_id), "held", "billed") == [b"0", b"2"]
    finally:
        await fleet.stop()
        await db.dispose()
        await counted.aclose(close_connection_pool=True)
