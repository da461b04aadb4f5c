"""Whatever changes what admission depends on bumps the organization's version in the same transaction."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from app.db import Database
from app.domain.actor import Actor
from app.domain.api_keys.models import ApiKey
from app.domain.api_keys.service import create_api_key, revoke_api_key
from app.domain.billing.accounts import attach_payment_method
from app.domain.projects.service import archive_project
from app.domain.subscriptions.service import cancel, subscribe
from app.fleet import feed as feeds
from app.fleet.billing import burn
from app.fleet.feed import ChangeFeed
from app.fleet.models import OrganizationVersion
from app.payments.facade import Payments
from app.services import Services
from app.settings import Settings
from tests.fleet.conftest import buy_credits
from tests.fleet.processes import proxy_to, until
from tests.support import World


async def version(database: Database, organization_id: str) -> int:
    async with database.reader() as session:
        found = await session.scalar(
            select(OrganizationVersion.version).where(OrganizationVersion.organization_id == organization_id)
        )
    return found or 0


async def test_revoking_a_key_or_archiving_a_project_bumps_the_version(
    database: Database, world: World
) -> None:
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="k")
    before, evil = await version(database, world.acme_id), await version(database, world.evil_id)
    async with database.transaction() as session:
        await revoke_api_key(session, admin, created.api_key.id)
    revoked = await version(database, world.acme_id)
    async with database.transaction() as session:
        await archive_project(session, admin, world.project_b_id)
    assert before < revoked < await version(database, world.acme_id)
    assert await version(database, world.evil_id) == evil  # nobody else's


async def test_a_key_used_or_a_rolled_back_change_bumps_nothing(database: Database, world: World) -> None:
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        created = await create_api_key(session, admin, world.project_a_id, name="k")
    before = await version(database, world.acme_id)
    async with database.transaction() as session:  # what the usage writer does with every group
        await session.execute(update(ApiKey).where(ApiKey.id == created.api_key.id).values(last_used_at=None))
    try:
        async with database.transaction() as session:
            await revoke_api_key(session, admin, created.api_key.id)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert await version(database, world.acme_id) == before


async def test_a_burn_bumps_only_when_the_balance_reaches_zero(
    database: Database, payments: Payments, settings: Settings, world: World
) -> None:
    await buy_credits(database, payments, settings, world, "10.00")
    before = await version(database, world.acme_id)
    async with database.transaction() as session:  # the fleet counts this burn itself (fleet.credit)
        await burn(session, {world.acme_id: 4 * 10**9}, "usage:a")
    assert await version(database, world.acme_id) == before
    async with database.transaction() as session:  # out of credit: every replica must hear it
        await burn(session, {world.acme_id: 6 * 10**9}, "usage:b")
    at_zero = await version(database, world.acme_id)
    async with database.transaction() as session:  # already below: again, whatever the order of events
        await burn(session, {world.acme_id: 1}, "usage:c")
    assert before < at_zero < await version(database, world.acme_id)


async def test_the_feed_hears_changes_committed_by_another_process(database_url: str, world: World) -> None:
    heard: list[str] = []
    listener = Database(database_url)  # the replica
    feed = ChangeFeed(listener, heard.extend, lambda: None, poll_seconds=0.05)
    feed.start()
    try:
        await asyncio.sleep(0.3)  # listening (PostgreSQL) or past the first poll (SQLite)
        admin = Actor(world.people["admin"].user_id)
        writer = Database(database_url)  # another process, e.g. app.cli
        try:
            async with writer.transaction() as session:
                await archive_project(session, admin, world.project_b_id)
        finally:
            await writer.dispose()
        for _ in range(50):
            if world.acme_id in heard:
                break
            await asyncio.sleep(0.02)
        assert world.acme_id in heard
    finally:
        await feed.stop()
        await listener.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_listening_connection_lost_for_a_while_is_logged_once_and_so_is_its_return(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(feeds, "KEEPALIVE_SECONDS", 0.05)
    monkeypatch.setattr(feeds, "RETRY_SECONDS", 0.05)
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    listened: list[int] = []  # each (re)connection drops the whole cache: news may have been missed

    async def listening(times: int) -> bool:
        return len(listened) == times

    with proxy_to(port) as proxy:
        listener = Database(database_url.replace(f":{port}/", f":{proxy.port}/"), connect_timeout=0.2)
        feed = ChangeFeed(listener, lambda _ids: None, lambda: listened.append(1))
        feed.start()
        try:
            await until(lambda: listening(1), 5)
            proxy.cut()  # the keep-alive times out, then every reconnection does for a second
            await asyncio.sleep(1)
            proxy.restore()
            await until(lambda: listening(2), 5)
        finally:
            await feed.stop()
            await listener.dispose()
    logged = [
        (r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records if r.name == feeds.logger.name
    ]
    assert [(level, message.split(" (")[0], traced) for level, message, traced in logged] == [
        ("WARNING", "Connections listening for organization changes fail", False),
        ("WARNING", "Connections listening for organization changes succeed again", False),
    ]


async def test_subscribing_and_canceling_bump_the_version(
    database: Database, payments: Payments, services: Services, world: World
) -> None:
    admin = Actor(world.people["admin"].user_id)
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    before = await version(database, world.acme_id)
    subscription = await subscribe(database, admin, world.acme_id, payments=payments, catalog=services.catalog,
                                   model_id="gpt-oss-120b", tier_id="starter", retries=3)  # fmt: skip
    subscribed = await version(database, world.acme_id)
    await cancel(database, admin, subscription.id)
    assert before < subscribed < await version(database, world.acme_id)
