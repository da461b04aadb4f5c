"""A replica warms up at start, reads concurrent misses together, and reads a changed organization again alone."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from app.db import Database
from app.domain.actor import Actor
from app.domain.api_keys.service import create_api_key, revoke_api_key
from app.fleet.service import Fleet, build_fleet
from app.services import Services
from app.settings import Settings
from tests.fleet.conftest import buy_credits
from tests.support import World


@pytest.fixture
async def keys(
    database: Database, world: World, services: Services, settings: Settings
) -> dict[str, list[str]]:
    """Four keys in each of Acme's projects (Acme has credits: PayGo) and three in the outsider's Evil."""
    await buy_credits(database, services.payments, settings, world, "100.00")
    made: dict[str, list[str]] = {"acme": [], "evil": []}
    async with database.transaction() as session:
        for project_id in (world.project_a_id, world.project_b_id) * 4:
            created = await create_api_key(
                session, Actor(world.people["admin"].user_id), project_id, name="k"
            )
            made["acme"].append(created.secret)
        for _ in range(3):
            outsider = Actor(world.people["outsider"].user_id)
            made["evil"].append(
                (await create_api_key(session, outsider, world.evil_project_id, name="k")).secret
            )
    return made


@pytest.fixture
async def replica(
    database_url: str, database: Database, services: Services, settings: Settings
) -> AsyncIterator[tuple[Database, Fleet]]:
    """A replica started anew on the database (its own engines, its own cache), not yet warmed."""
    db = Database(database_url)
    fleet = build_fleet(db, services, settings)
    yield db, fleet
    await fleet.stop()
    await db.dispose()


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the replica sends while the block runs."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = db.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def warmed(fleet: Fleet) -> None:
    for _ in range(200):
        if fleet.directory.warmed_at is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the directory did not warm up")


async def test_a_started_replica_admits_every_known_key_without_reading_the_database(
    replica: tuple[Database, Fleet], keys: dict[str, list[str]]
) -> None:
    db, fleet = replica
    await fleet.start()
    await warmed(fleet)
    assert fleet.directory.sizes() == {"key": 11 + 2, "organization": 2}  # and the world's own two keys
    with statements(db) as sent:
        answers = [
            await fleet.admissions.admit(key, "gpt-oss-120b", 10, 10) for key in keys["acme"] + keys["evil"]
        ]
    assert [answer.status for answer in answers] == [200] * 8 + [402] * 3  # Evil has no credit
    assert sent == []


async def test_concurrent_misses_are_read_together(
    replica: tuple[Database, Fleet], keys: dict[str, list[str]]
) -> None:
    db, fleet = replica  # not started: nothing is warm, every key and organization is a miss
    with statements(db) as sent:
        answers = await asyncio.gather(
            *(fleet.admissions.admit(key, "gpt-oss-120b", 10, 10) for key in keys["acme"] + keys["evil"])
        )
    assert [answer.status for answer in answers] == [200] * 8 + [402] * 3
    # one read of the eleven keys, then one of the two organizations with their plans and project limits:
    # not one of each per request
    reads = [statement for statement in sent if statement.lstrip().startswith("SELECT")]
    assert len([statement for statement in reads if "api_key.secret_hash IN" in statement]) == 1
    assert len(reads) <= 6, reads
    with statements(db) as sent:
        await fleet.admissions.admit(keys["acme"][0], "gpt-oss-120b", 10, 10)
    assert sent == []  # and kept


async def test_a_changed_organization_is_dropped_at_once_and_read_again_in_the_background(
    replica: tuple[Database, Fleet], keys: dict[str, list[str]], world: World
) -> None:
    db, fleet = replica
    await fleet.start()
    await warmed(fleet)
    found = await fleet.directory.key(keys["acme"][0])
    assert found is not None
    heard = asyncio.Event()  # the change also comes back through the database's feed: wait for that too
    forget = fleet.feed._forget

    def forget_and_tell(organization_ids: Any) -> None:
        forget(organization_ids)
        heard.set()

    fleet.feed._forget = forget_and_tell
    async with db.transaction() as session:
        await revoke_api_key(session, Actor(world.people["admin"].user_id), found.api_key_id)
    # never the dropped entry: the revoked key is refused on the very next request
    assert (await fleet.admissions.admit(keys["acme"][0], "gpt-oss-120b", 10, 10)).status == 401
    await asyncio.wait_for(heard.wait(), 5)
    for _ in range(100):  # Acme and its keys come back without anyone asking
        if fleet.directory.sizes() == {"key": 13, "organization": 2}:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"not read again: {fleet.directory.sizes()}")
    with statements(db) as sent:
        assert (await fleet.admissions.admit(keys["acme"][1], "gpt-oss-120b", 10, 10)).status == 200
        assert (await fleet.admissions.admit(keys["acme"][0], "gpt-oss-120b", 10, 10)).status == 401
        assert (await fleet.admissions.admit(keys["evil"][0], "gpt-oss-120b", 10, 10)).status == 402
    assert sent == []


async def test_a_warm_up_that_read_before_a_change_keeps_nothing_of_that_organization(
    replica: tuple[Database, Fleet], keys: dict[str, list[str]], world: World, database: Database
) -> None:
    db, fleet = replica
    directory = fleet.directory
    read = directory._open_session

    def slow_session() -> Any:  # the warm-up's reads, with a change committed right after the keys were read
        session = read()
        original = session.execute

        async def execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
            result = await original(statement, *args, **kwargs)
            if "revoked_at IS NULL" in str(statement) and not revoked:
                revoked.append(True)
                async with database.transaction() as writing:
                    await revoke_api_key(writing, Actor(world.people["admin"].user_id), world.key_a_id)
                directory.forget({world.acme_id})  # what the feed tells this replica
            return result

        session.execute = execute  # type: ignore[method-assign]
        return session

    revoked: list[bool] = []
    directory._open_session = slow_session  # type: ignore[method-assign]
    directory.start()
    await warmed(fleet)
    directory._open_session = read  # type: ignore[method-assign]
    assert revoked
    # Evil's keys were kept; none of Acme's, read before the change: each is read on its first use
    with statements(db) as sent:
        assert (await fleet.admissions.admit(keys["evil"][0], "gpt-oss-120b", 10, 10)).status == 402
    assert sent == []
    assert (await fleet.admissions.admit(keys["acme"][0], "gpt-oss-120b", 10, 10)).status == 200


async def test_warm_ups_started_one_after_the_other_leave_the_garbage_collector_on(
    replica: tuple[Database, Fleet], keys: dict[str, list[str]]
) -> None:
    _, fleet = replica
    assert gc.isenabled()
    for _ in range(3):  # as news missed three times in a row (forget_all) would
        fleet.directory.start()
        await asyncio.sleep(0)
    await warmed(fleet)
    await asyncio.sleep(0.05)
    assert gc.isenabled()
