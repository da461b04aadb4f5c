"""The fleet as an operator runs it: replicas in processes of their own, on PostgreSQL and Redis or on SQLite.

Servers are `python -m app.cli serve` on free ports; the data is changed by other processes (this
test, `app.cli run-jobs`); servers are killed with SIGKILL, stopped with SIGTERM under load, and
cut from their database by a TCP proxy that stops answering.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from app.db import Database
from app.domain.actor import Actor
from app.domain.api_keys.service import create_api_key
from app.domain.billing.accounts import attach_payment_method
from app.domain.catalog.models import RateLimits
from app.domain.credits.ledger import balance_of
from app.domain.credits.models import CreditLedgerEntry, EntryKind
from app.domain.credits.purchases import grant_promotional_credits
from app.domain.plans.overrides import set_limit_override
from app.domain.subscriptions.lifecycle import end
from app.domain.subscriptions.models import EndReason, Subscription
from app.domain.subscriptions.service import subscribe
from app.domain.usage.models import UsageHour, UsageRecord, UsageRollupPending
from app.services import build_services
from app.settings import Settings
from tests.conftest import POSTGRES_SERVER_URL, REDIS_URL, postgres_admin, postgres_problem
from tests.fleet.processes import (
    FLEET_HEADERS,
    Server,
    admit,
    proxy_to,
    report,
    run_cli,
    running,
    server_env,
    until,
)
from tests.support import World, build_world

_databases = itertools.count(1)


@dataclass
class Stack:
    """A fresh database, the environment replicas run with, and Acme with a key."""

    url: str
    env: dict[str, str]
    tmp_path: Path
    db: Database | None = None
    world: World | None = None
    settings: Settings | None = None

    def servers(self, count: int, **extra: str) -> list[Server]:
        return [Server({**self.env, **extra}, self.tmp_path / f"server-{n}.log") for n in range(count)]

    async def seed(self) -> str:
        """Acme and its people (the servers migrated the database); returns a new key of project A."""
        self.db = Database(self.url)
        self.settings = Settings(
            database_url=self.url, fleet_token="x", plugins_toml=Path(self.env["PLUGINS_TOML"])
        )
        self.world = await build_world(self.db, self.settings)
        return await self.new_key()

    async def new_key(self) -> str:
        assert self.db is not None and self.world is not None
        admin = Actor(self.world.people["admin"].user_id)
        async with self.db.transaction() as session:
            created = await create_api_key(session, admin, self.world.project_a_id, name="fleet")
        return created.secret

    async def grant(self, amount: str, *, expires_in: timedelta = timedelta(days=30)) -> None:
        """Support grants Acme promotional credits (from this process, not a server)."""
        assert self.db is not None and self.world is not None and self.settings is not None
        staff = Actor(self.world.people["staff"].user_id, is_staff=True)
        async with self.db.transaction() as session:
            await grant_promotional_credits(
                session, staff, self.world.acme_id, amount=amount, expires_at=datetime.now(UTC) + expires_in,
                note="test", settings=self.settings,
            )  # fmt: skip

    async def subscribe(self) -> str:
        """Acme's admin subscribes to gpt-oss-120b's starter tier (from this process); returns its id."""
        assert self.db is not None and self.world is not None and self.settings is not None
        services = build_services(self.settings)
        try:
            await attach_payment_method(
                self.db, self.world.acme_id, payments=services.payments, provider_ref="pm_card_visa"
            )
            admin = Actor(self.world.people["admin"].user_id)
            subscription = await subscribe(self.db, admin, self.world.acme_id, payments=services.payments,
                                           catalog=services.catalog, model_id="gpt-oss-120b", tier_id="starter",
                                           retries=3)  # fmt: skip
        finally:
            await services.aclose()
        return subscription.id

    async def end_subscription(self, subscription_id: str) -> None:
        """The subscription ends (as the renewal job ends one whose payments failed), from this process."""
        assert self.db is not None
        async with self.db.transaction() as session:
            subscription = await session.get(Subscription, subscription_id)
            assert subscription is not None
            await end(session, subscription, EndReason.PAYMENT_FAILED, at=datetime.now(UTC))

    async def custom_terms(self) -> None:
        """Staff lift Acme's gpt-oss-120b limits, so only credit can refuse a request."""
        assert self.db is not None and self.world is not None
        staff = Actor(self.world.people["staff"].user_id, is_staff=True)
        async with self.db.transaction() as session:
            await set_limit_override(session, staff, self.world.acme_id, catalog=build_services(self.settings).catalog,
                                     model_id="gpt-oss-120b",
                                     limits=RateLimits(requests_per_minute=100_000, tokens_per_minute=1_000_000_000))  # fmt: skip

    async def scalar(self, query: Any) -> Any:
        assert self.db is not None
        async with self.db.reader() as session:
            return await session.scalar(query)

    async def balance(self) -> int:
        assert self.db is not None and self.world is not None
        async with self.db.reader() as session:
            return await balance_of(session, self.world.acme_id)


def _plugins_toml(tmp_path: Path) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[payments]\nprovider = "fake"\n\n[providers.fake]\nstate_path = "{tmp_path / "fake.json"}"\n'
    )
    return path


async def _flush_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(params=["postgresql+redis", "postgresql", "sqlite"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    """An empty database (migrated by the first server), and Redis when the parameter says so."""
    kind = str(request.param)
    if kind.startswith("postgresql"):
        if postgres_problem():
            if os.environ.get("REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is required: {postgres_problem()}")
            pytest.skip(f"PostgreSQL unavailable: {postgres_problem()}")
        name = f"billing_proc_{os.getpid()}_{next(_databases)}"
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        url = POSTGRES_SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        name, url = "", f"sqlite+aiosqlite:///{tmp_path / 'billing.sqlite3'}"
    redis_url = None
    if kind.endswith("redis"):
        await _flush_redis()
        redis_url = REDIS_URL
    built = Stack(url, server_env(url, _plugins_toml(tmp_path), redis_url), tmp_path)
    yield built
    if built.db is not None:
        await built.db.dispose()
    if name:
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _replicas(stack: Stack) -> int:
    return 1 if stack.url.startswith("sqlite") else 2


async def test_changes_made_by_other_processes_reach_every_replica_within_a_second(stack: Stack) -> None:
    with running(*stack.servers(_replicas(stack))) as servers:
        key = await stack.seed()
        await stack.grant("5.00", expires_in=timedelta(seconds=2))
        async with httpx.AsyncClient(timeout=10) as client:
            for server in servers:  # every replica has Acme cached under PayGo
                assert (await admit(client, server, key)).status_code == 200

            async def refused(server: Server) -> bool:
                return (await admit(client, server, key)).status_code == 402

            async def admitted(server: Server) -> bool:
                return (await admit(client, server, key)).status_code == 200

            await asyncio.sleep(2.5)  # the grant's expiry passes; only the job makes it so
            assert all([await admitted(server) for server in servers])
            assert "1 grant(s) expired" in await asyncio.to_thread(
                run_cli, stack.env, "run-jobs", "credits-expire"
            )
            for server in servers:
                assert await until(lambda s=server: refused(s), within=1.0) < 1.0
            answer = await admit(client, servers[-1], key)
            assert answer.json()["code"] == "payment_required" and "'Acme'" in answer.json()["message"]

            await stack.grant("5.00")  # credits granted by yet another process
            for server in servers:
                assert await until(lambda s=server: admitted(s), within=1.0) < 1.0

            async def plan(server: Server, expected: str) -> bool:
                return (await admit(client, server, key)).json().get("plan") == expected

            subscription_id = await stack.subscribe()  # a subscription started, then ended, elsewhere
            for server in servers:
                assert await until(lambda s=server: plan(s, "subscription"), within=1.0) < 1.0
            await stack.end_subscription(subscription_id)
            for server in servers:
                assert await until(lambda s=server: plan(s, "paygo"), within=1.0) < 1.0


@pytest.mark.parametrize("stack", ["postgresql+redis", "sqlite"], indirect=True)
async def test_usage_admitted_before_a_kill_9_is_billed_after_the_restart(stack: Stack) -> None:
    (server,) = stack.servers(1)
    with running(server):
        key = await stack.seed()
        await stack.grant("50.00")
        async with httpx.AsyncClient(timeout=10) as client:
            admissions = [(await admit(client, server, key)).json()["admission_id"] for _ in range(20)]
            records = [{"request_id": f"r-{n}", "admission_id": admission, "model": "gpt-oss-120b",
                        "input_tokens": 100, "output_tokens": 40} for n, admission in enumerate(admissions)]  # fmt: skip
            first = await report(client, server, records[:10])
            assert [r["status"] for r in first.json()["results"]] == ["accepted"] * 10

            server.kill()
            server.start().wait_ready()

            again = await report(client, server, records[:10])  # an acknowledged batch re-sent
            assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 10
            rest = await report(client, server, records[10:])  # admitted before the crash, reported after
            assert [r["status"] for r in rest.json()["results"]] == ["accepted"] * 10
    assert await stack.scalar(select(func.count()).select_from(UsageRecord)) == 20
    price = 100 * 350 + 40 * 750
    assert await stack.balance() == 50 * 10**9 - 20 * price


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
async def test_a_database_that_stops_answering_gets_503s_in_time_and_the_service_recovers(
    stack: Stack,
) -> None:
    port = int(stack.url.rsplit(":", 1)[1].split("/")[0])
    with proxy_to(port) as proxy:
        through_proxy = stack.url.replace(f":{port}/", f":{proxy.port}/")
        (server,) = stack.servers(
            1, DATABASE_URL=through_proxy, DATABASE_CONNECT_TIMEOUT_SECONDS="1",
            DATABASE_STATEMENT_TIMEOUT_SECONDS="2", FLEET_TIMEOUT_SECONDS="3",
        )  # fmt: skip
        with running(server):
            warm_key = await stack.seed()
            cold_key = await stack.new_key()
            await stack.grant("5.00")
            assert stack.world is not None
            token = stack.world.people["admin"].token
            async with httpx.AsyncClient(timeout=30) as client:
                admitted = (await admit(client, server, warm_key)).json()
                record = {"request_id": "during-outage", "admission_id": admitted["admission_id"],
                          "model": "gpt-oss-120b", "input_tokens": 100, "output_tokens": 10}  # fmt: skip
                proxy.cut()

                async def timed(call: Any) -> tuple[httpx.Response, float]:
                    started = time.monotonic()
                    return await call, time.monotonic() - started

                cold, cold_seconds = await timed(admit(client, server, cold_key))
                usage, usage_seconds = await timed(report(client, server, [record]))
                for answer, seconds in ((cold, cold_seconds), (usage, usage_seconds)):
                    assert answer.status_code == 503 and seconds < 4, (answer.text, seconds)
                    assert answer.json()["type"] == "service_unavailable_error"
                    assert int(answer.headers["retry-after"]) >= 1
                graphql, graphql_seconds = await timed(
                    client.post(
                        f"{server.url}/graphql",
                        json={"query": "{ me { id } }"},
                        headers={"Authorization": f"Bearer {token}"},
                    )  # fmt: skip
                )
                assert graphql.status_code == 503 and graphql_seconds < 5, graphql.text
                error = graphql.json()["errors"][0]
                assert (
                    error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                    and error["extensions"]["correlationId"]
                )
                assert (await client.get(f"{server.url}/readyz")).status_code == 503
                assert (await client.get(f"{server.url}/healthz")).status_code == 200  # alive, not ready

                proxy.restore()

                async def recovered() -> bool:
                    return (await admit(client, server, cold_key)).status_code == 200

                await until(recovered, within=20, interval=0.2)
                again = await report(client, server, [record])
                assert again.json()["results"][0]["status"] == "accepted"
                assert (await client.get(f"{server.url}/readyz")).status_code == 200
    assert await stack.scalar(select(func.count()).select_from(UsageRecord)) == 1


@pytest.mark.parametrize("stack", ["postgresql+redis", "sqlite"], indirect=True)
async def test_sigterm_under_usage_load_loses_no_acknowledged_record(stack: Stack) -> None:
    (server,) = stack.servers(1, LOG_LEVEL="INFO")  # uvicorn's "Application shutdown complete" is INFO
    with running(server):
        key = await stack.seed()
        await stack.grant("50.00")
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            admissions = await asyncio.gather(*(admit(client, server, key) for _ in range(400)))
            records = [{"request_id": f"t-{n}", "admission_id": answer.json()["admission_id"], "model": "gpt-oss-120b",
                        "input_tokens": 100, "output_tokens": 40} for n, answer in enumerate(admissions)]  # fmt: skip

            async def send(record: dict[str, Any]) -> str | None:
                try:
                    answer = await report(client, server, [record])
                except httpx.HTTPError:
                    return None  # refused or cut before an answer: not acknowledged
                if answer.status_code == 200:
                    return str(answer.json()["results"][0]["status"])
                assert answer.status_code == 503, answer.text  # refused before being acknowledged
                return None

            sending = [asyncio.create_task(send(record)) for record in records]
            await asyncio.sleep(0.3)
            server.signal(signal.SIGTERM)
            outcomes = await asyncio.gather(*sending)
        # uvicorn re-raises SIGTERM once its graceful shutdown is done
        assert await asyncio.to_thread(server.wait) == -signal.SIGTERM
        log = server.log.read_text()
        assert "Application shutdown complete" in log
        logged = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert [entry["message"] for entry in logged if entry["level"] == "ERROR"] == []  # a clean shutdown
    acknowledged = {
        record["request_id"] for record, outcome in zip(records, outcomes, strict=True) if outcome
    }
    assert acknowledged and len(acknowledged) < len(records), "SIGTERM should land in the middle of the load"
    assert stack.db is not None
    async with stack.db.reader() as session:
        stored = set((await session.scalars(select(UsageRecord.request_id))).all())
        burned = await session.scalar(
            select(func.sum(CreditLedgerEntry.amount_nanos)).where(CreditLedgerEntry.kind == EntryKind.USAGE)
        )
        pending = await session.scalar(select(func.count()).select_from(UsageRollupPending))
        hourly = await session.scalar(select(func.sum(UsageHour.requests)))
    assert acknowledged <= stored  # every record answered 2xx was committed
    assert -burned == len(stored) * (100 * 350 + 40 * 750)  # and burned once
    assert (pending, hourly) == (0, len(stored))  # and folded into the roll-ups before the process ended


@pytest.mark.parametrize("stack", ["postgresql+redis"], indirect=True)
async def test_concurrent_large_requests_cannot_take_the_balance_below_zero(stack: Stack) -> None:
    with running(*stack.servers(2)) as servers:
        key = await stack.seed()
        await stack.custom_terms()
        await stack.grant("0.10")
        # worst case of each, within the model's context: 31,072 * $0.35/M + 100,000 * $0.75/M = $0.0858752;
        # $0.10 covers one
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(*(
                admit(client, servers[n % 2], key, input_tokens=31_072, max_output_tokens=100_000) for n in range(5)
            ))  # fmt: skip
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [200, 402, 402, 402, 402]
            records = [{"request_id": f"big-{n}", "admission_id": answer.json()["admission_id"], "model": "gpt-oss-120b",
                        "input_tokens": 31_072, "output_tokens": 100_000}
                       for n, answer in enumerate(answers) if answer.status_code == 200]  # fmt: skip
            assert (await report(client, servers[1], records)).status_code == 200
            assert await stack.balance() == 10**8 - 85_875_200
            # what is left ($0.0141248) covers a smaller request ($0.011), on either replica, and no more
            small = await admit(client, servers[0], key, input_tokens=10_000, max_output_tokens=10_000)
            assert small.status_code == 200
            too_much = await admit(client, servers[1], key, input_tokens=10_000, max_output_tokens=10_000)
            assert too_much.status_code == 402
    assert await stack.balance() >= 0


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
async def test_two_replicas_started_at_once_on_an_empty_database_migrate_once_and_serve(stack: Stack) -> None:
    with running(*stack.servers(2)) as servers:
        async with httpx.AsyncClient(timeout=10) as client:
            for server in servers:
                ready = await client.get(f"{server.url}/readyz")
                assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
                assert (
                    await client.post(f"{server.url}/fleet/v1/admissions", json={}, headers=FLEET_HEADERS)
                ).status_code == 400
        db = Database(stack.url)
        try:
            async with db.reader() as session:
                assert (
                    len((await session.execute(text("SELECT version_num FROM alembic_version"))).all()) == 1
                )
        finally:
            await db.dispose()
