"""Usage groups that span many organizations: each organization billed once, exactly, whatever its neighbours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from app import clock as clock_module
from app.db import Database
from app.domain import rowsets
from app.domain.api_keys.models import ApiKey
from app.domain.catalog.loader import load_catalog
from app.domain.credits.ledger import create_grant, usable_grants
from app.domain.credits.models import (
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantSource,
)
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.usage.models import UsageDay, UsageRecord
from app.fleet import usage
from app.fleet.billing import burn
from app.fleet.tokens import Admission, new_nonce
from app.fleet.usage import Committed, UsageItem, UsageWriter
from tests.credits.support import DOLLAR, check_ledger
from tests.fleet.processes import until
from tests.support import World

PRICE_IN, PRICE_OUT = 350, 750  # gpt-oss-120b, nano-dollars per token


class Writer:
    """The fleet's group commit with the real burns, remembering what each group handed on after its commit."""

    def __init__(self, db: Database) -> None:
        self.committed: list[Committed] = []

        async def after(committed: Committed) -> None:
            self.committed.append(committed)

        self.writer = UsageWriter(db, load_catalog(), burn=burn, after_commit=after)

    async def submit(self, items: list[UsageItem]) -> list[str]:
        return await self.writer.submit(items)


@pytest.fixture
async def writer(database: Database) -> AsyncIterator[Writer]:
    made = Writer(database)
    yield made
    await made.writer.stop()


async def organizations(db: Database, *names: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            insert(Organization), [{"id": n, "name": n, "type": OrganizationType.TEAM} for n in names]
        )


async def grant(db: Database, org: str, source: GrantSource, dollars: int, expires_in_days: int) -> str:
    now = clock_module.now()
    async with db.transaction() as session:
        made = await create_grant(
            session,
            org,
            source=source,
            amount_nanos=dollars * DOLLAR,
            bought_at=now,
            expires_at=now + timedelta(days=expires_in_days),
        )
    return made.id


def item(
    org: str, request_id: str, plan: str = "paygo", tokens: int = 1000, nonce: str | None = None
) -> UsageItem:
    admission = Admission(
        org, f"proj-{org}", f"key-{org}", "gpt-oss-120b", plan, 5000, 0, nonce or new_nonce()
    )
    return UsageItem(request_id, f"adm-{request_id}", admission, tokens, 100)


def price(tokens: int = 1000) -> int:
    return tokens * PRICE_IN + 100 * PRICE_OUT


async def usage_entries(db: Database) -> dict[str, list[tuple[int, str]]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(
                CreditLedgerEntry.organization_id, CreditLedgerEntry.amount_nanos, CreditLedgerEntry.reference
            )
            .where(CreditLedgerEntry.kind == EntryKind.USAGE)
            .order_by(CreditLedgerEntry.organization_id)
        )
        entries: dict[str, list[tuple[int, str]]] = {}
        for org, amount, reference in rows:
            entries.setdefault(org, []).append((amount, reference))
        return entries


async def test_a_group_over_mixed_organizations_bills_each_once(
    database: Database, writer: Writer, clock: Any
) -> None:
    await organizations(database, "o-grants", "o-debt", "o-recharge", "o-subscribed")
    middle = await grant(database, "o-grants", GrantSource.PROMOTIONAL, 1, 300)
    late = await grant(database, "o-grants", GrantSource.PROMOTIONAL, 1, 365)
    soon = await grant(database, "o-grants", GrantSource.PROMOTIONAL, 1, 30)
    await grant(database, "o-recharge", GrantSource.PROMOTIONAL, 10, 365)
    async with database.transaction() as session:
        await session.execute(
            update(CreditAccount)
            .where(CreditAccount.organization_id == "o-recharge")  # type: ignore[arg-type]
            .values(auto_recharge_enabled=True, auto_recharge_threshold_nanos=9 * DOLLAR + DOLLAR // 2)
        )
    shared = new_nonce()
    items = [
        *(item("o-grants", f"g-{n}", tokens=1_000_000) for n in range(8)),  # $0.35 and a little, each
        item("o-debt", "d-1"),
        item("o-debt", "d-1"),  # the same request reported twice in one group
        item("o-recharge", "r-1", tokens=1_000_000),
        item("o-recharge", "r-2", tokens=1_000_000, nonce=shared),
        item("o-recharge", "r-3", tokens=1_000_000, nonce=shared),  # a second request on one admission
        item("o-subscribed", "s-1", plan="subscription"),
    ]
    statuses = await writer.submit(items)
    assert statuses == ["accepted"] * 9 + ["duplicate", "accepted", "accepted", "refused", "accepted"]
    assert items[12].refusal is not None and items[12].refusal[0] == "admission_already_used"
    assert (await writer.submit([item("o-debt", "d-1")])) == ["duplicate"]  # a repeat in a later group

    big = price(1_000_000)
    entries = await usage_entries(database)
    assert {org: [amount for amount, _ in found] for org, found in entries.items()} == {
        "o-grants": [-8 * big], "o-debt": [-price()], "o-recharge": [-2 * big],
    }  # fmt: skip
    assert len({reference for found in entries.values() for _, reference in found}) == 1  # one group
    assert writer.committed[0].recharge == {"o-recharge"}  # crossed $9.50; o-debt has no auto-recharge
    assert [
        i.billed_nanos for i in writer.committed[0].items if i.admission.organization_id == "o-subscribed"
    ] == [0]
    async with database.reader() as session:
        taken = dict(
            (await session.execute(select(CreditConsumption.grant_id, CreditConsumption.amount_nanos))).all()
        )
        debt = await session.scalar(
            select(CreditAccount.debt_nanos).where(CreditAccount.organization_id == "o-debt")  # type: ignore[arg-type]
        )
        left = await session.scalar(select(CreditGrant.remaining_nanos).where(CreditGrant.id == late))  # type: ignore[arg-type]
    # the grant that expires first goes first (promotional ones before bought ones: tests/credits)
    assert taken[middle] == DOLLAR and taken[soon] == DOLLAR and taken[late] == 8 * big - 2 * DOLLAR
    assert left == 3 * DOLLAR - 8 * big
    assert debt == price()
    await check_ledger(database)  # every balance is the sum of its ledger entries


async def test_a_bad_record_among_500_organizations_fails_no_neighbour(
    database: Database, writer: Writer, clock: Any
) -> None:
    names = [f"org-{n:03d}" for n in range(500)]
    await organizations(database, *names)
    for name in names[::50]:
        await grant(database, name, GrantSource.PROMOTIONAL, 1, 365)
    items = [item(name, f"req-{name}") for name in names]
    items.insert(321, item(names[123], "bad\x00id"))
    statuses = await writer.submit(items)
    if database.is_sqlite:  # SQLite stores a NUL
        assert statuses == ["accepted"] * 501
        return
    assert statuses[321] == "refused" and statuses.count("accepted") == 500
    assert items[321].refusal is not None and "0x00" in items[321].refusal[1]
    entries = await usage_entries(database)
    assert sorted(entries) == names and all(found == [(-price(), found[0][1])] for found in entries.values())
    await writer.writer.fold()
    async with database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 500
        assert await session.scalar(select(func.sum(UsageDay.requests))) == 500
    await check_ledger(database)


def used(world: World, request_id: str) -> UsageItem:
    """A free record on the key key_a, with an admission of its own."""
    admission = Admission(world.acme_id, world.project_a_id, world.key_a_id, "gpt-oss-120b", "free", 500, 0,
                          new_nonce())  # fmt: skip
    return UsageItem(request_id, f"adm-{request_id}", admission, 10, 5)


async def last_use(database: Database, world: World) -> Any:
    async with database.reader() as session:
        return await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == world.key_a_id))  # type: ignore[arg-type]


async def test_a_keys_last_use_is_kept_to_the_minute(
    database: Database, writer: Writer, world: World, clock: Any
) -> None:
    first = clock.at
    await writer.submit([used(world, "k-1")])
    assert await last_use(database, world) == first
    clock.at = first + timedelta(seconds=40)  # a busy key is not rewritten by every group
    await writer.submit([used(world, "k-2")])
    assert await last_use(database, world) == first
    clock.at = first + timedelta(seconds=61)
    await writer.submit([used(world, "k-3")])
    assert await last_use(database, world) == clock.at


async def test_a_key_another_writer_used_is_still_written_to_the_minute(
    database: Database, world: World, clock: Any
) -> None:
    """Each writer skips the keys it wrote itself within the minute, never the ones another one wrote."""
    one, other = Writer(database), Writer(database)  # two replicas

    first = clock.at
    try:
        await one.submit([used(world, "w-1")])
        clock.at = first + timedelta(seconds=30)
        await other.submit(
            [used(world, "w-2")]
        )  # the key is fresh: `other` writes nothing, and remembers nothing
        assert await last_use(database, world) == first
        clock.at = first + timedelta(seconds=61)
        await other.submit([used(world, "w-3")])
        assert await last_use(database, world) == clock.at
    finally:
        await one.writer.stop()
        await other.writer.stop()


async def test_a_group_larger_than_one_sqlite_statement_takes(
    database: Database, writer: Writer, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the records' INSERT … RETURNING lists its rows in VALUES cut to the variables SQLite takes."""
    monkeypatch.setattr(
        rowsets, "SQLITE_MAX_VARIABLES", 999
    )  # SQLite's limit before 3.32: 83 records a statement
    names = [f"org-{n:02d}" for n in range(30)]
    await organizations(database, *names)
    items = [item(name, f"req-{name}-{n}") for name in names for n in range(100)]  # 3,000 x 12 values
    assert await writer.submit(items) == ["accepted"] * 3000
    again = [item(name, f"req-{name}-{n}") for name in names for n in range(99, 101)]
    assert await writer.submit(again) == ["duplicate", "accepted"] * 30
    await writer.writer.fold()
    async with database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 3030
        assert await session.scalar(select(func.sum(UsageDay.requests))) == 3030
    entries = await usage_entries(database)
    assert {org: sorted(amount for amount, _ in found) for org, found in entries.items()} == {
        name: [-100 * price(), -price()] for name in names
    }
    await check_ledger(database)


async def test_concurrent_groups_over_the_same_organizations_never_deadlock(
    database: Database, writer: Writer, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "MAX_GROUP", 40)  # one report per group: PostgreSQL's writers run side by side
    names = [f"org-{n:02d}" for n in range(40)]
    await organizations(database, *names)
    for name in names[::3]:
        await grant(database, name, GrantSource.PROMOTIONAL, 1, 365)

    def report(n: int) -> list[UsageItem]:  # each report lists the organizations in its own order
        order = names[n % 40 :] + names[: n % 40]
        return [item(name, f"c{n}-{name}") for name in (order if n % 2 else order[::-1])]

    answers = await asyncio.gather(*(writer.submit(report(n)) for n in range(12)))
    assert all(statuses == ["accepted"] * 40 for statuses in answers)
    async with database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 480
        billed = await session.scalar(
            select(func.sum(CreditLedgerEntry.amount_nanos)).where(CreditLedgerEntry.kind == EntryKind.USAGE)
        )
    assert billed == -480 * price()
    await check_ledger(database)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_group_held_up_by_the_database_holds_back_only_itself(
    database: Database, writer: Writer, clock: Any
) -> None:
    """PostgreSQL commits groups side by side: one waiting on a lock (or a hung connection) stops no other."""
    await organizations(database, "o-locked", "o-free")
    assert await writer.submit([item("o-locked", "first"), item("o-free", "first")]) == ["accepted"] * 2
    async with database.transaction() as elsewhere:  # a long transaction holds o-locked's account
        await elsewhere.execute(
            select(CreditAccount.balance_nanos)
            .where(CreditAccount.organization_id == "o-locked")
            .with_for_update()
        )
        held = asyncio.create_task(writer.submit([item("o-locked", "held")]))

        async def waiting_for_the_lock() -> bool:  # a transaction of its own: the view is read once in each
            async with database.reader() as session:
                waiting = text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                return bool(await session.scalar(waiting))

        await until(waiting_for_the_lock, within=10)
        async with asyncio.timeout(10):
            assert await writer.submit([item("o-free", "meanwhile")]) == ["accepted"]
        assert not held.done()
    assert await held == ["accepted"]
    assert {org: len(found) for org, found in (await usage_entries(database)).items()} == {
        "o-locked": 2,
        "o-free": 2,
    }
    await check_ledger(database)


async def test_the_next_group_commits_while_the_previous_one_settles(database: Database, clock: Any) -> None:
    """The settlement (Redis) holds no commit back; a report is answered only after its own settlement."""
    await organizations(database, "o-a")
    release = asyncio.Event()
    settled: list[list[str]] = []

    async def after(committed: Committed) -> None:
        if not settled:
            await release.wait()  # the first group's settlement hangs (Redis far away)
        settled.append([i.request_id for i in committed.items])

    writer = UsageWriter(database, load_catalog(), burn=burn, after_commit=after, writers=1)

    async def stored(count: int) -> None:
        async with asyncio.timeout(5):
            while True:
                async with database.reader() as session:
                    if await session.scalar(select(func.count()).select_from(UsageRecord)) == count:
                        return
                await asyncio.sleep(0.01)

    first = asyncio.create_task(writer.submit([item("o-a", "first")]))
    await stored(1)
    second = asyncio.create_task(writer.submit([item("o-a", "second")]))
    await stored(2)  # committed while the first group settles
    assert not first.done() and not second.done()  # neither answered before its settlement
    stopping = asyncio.create_task(writer.stop(grace_seconds=5))  # the drain waits for both
    await asyncio.sleep(0.05)
    assert not stopping.done()
    release.set()
    assert await first == ["accepted"] and await second == ["accepted"]
    await stopping
    assert settled == [["first"], ["second"]]  # once each, in the order of the commits
    with pytest.raises(usage.ShuttingDown):
        await writer.submit([item("o-a", "late")])


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What runs on aiosqlite's thread from now on, one name per trip (each waits for a turn of the event loop)."""
    made: list[str] = []
    to_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, function: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(function, "__name__", repr(function)))
        return await to_thread(self, function, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_on_sqlite_a_group_of_free_records_is_four_trips_to_the_driver(
    database: Database, world: World, clock: Any, trips: list[str]
) -> None:
    """BEGIN, the records, their sums left for the roll-ups, COMMIT (there were 30 trips)."""

    async def nothing_after(_committed: Committed) -> None:
        return None

    writer = UsageWriter(database, load_catalog(), burn=burn, after_commit=nothing_after, fold_seconds=3600)
    try:
        await writer.submit([used(world, "t-1")])  # the key's last use written, the connection pooled
        trips.clear()
        assert await writer.submit([used(world, f"t-{n}") for n in range(2, 5)]) == ["accepted"] * 3
        assert trips == ["execute", "_execute_fetchall", "executemany", "commit"]
    finally:
        await writer.stop()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_on_sqlite_a_statement_of_rows_is_one_trip_to_the_driver(
    database: Database, trips: list[str]
) -> None:
    """A trip to aiosqlite's thread waits for a turn of the event loop: a RowSet's statement is one trip, and so
    are a transaction's BEGIN and the burns' read of grants (through SQLAlchemy: four, three and four). Listeners still see every statement, and
    the driver's errors are SQLAlchemy's."""
    seen: list[str] = []

    def listened(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement.split()[0])

    async with database.transaction() as session:  # the connection made and pooled
        await session.connection()
    trips.clear()
    table = Organization.__table__  # type: ignore[attr-defined]
    named = rowsets.RowSet(True, "named", [("id", rowsets.TEXT), ("name", rowsets.TEXT)])
    added = named.insert(table, ["type", "created_at"])
    returning = added.returning(table.c.id)  # before `added` is compiled (SQLAlchemy memoizes its columns)
    constants = {"type": OrganizationType.TEAM, "created_at": clock_module.now()}
    event.listen(database.write_engine.sync_engine, "after_cursor_execute", listened)
    try:
        async with database.transaction() as session:
            await session.connection()
            assert len(trips) == 1  # BEGIN IMMEDIATE
            await named.execute(session, added, [("org-a", "A"), ("org-b", "B")], constants)
            returned = await named.execute(session, returning, [("org-c", "C")], constants)
            assert returned == [("org-c",)] and len(trips) == 3
            assert await usable_grants(session, ["org-a", "org-c"], clock_module.now()) == []
            assert len(trips) == 4  # a query, its organizations one JSON value
            with pytest.raises(IntegrityError):  # what callers catch (the usage group isolates a bad record)
                await named.execute(session, added, [("org-a", "again")], constants)
            raise LookupError  # roll back
    except LookupError:
        pass
    finally:
        event.remove(database.write_engine.sync_engine, "after_cursor_execute", listened)
    assert seen == ["INSERT", "INSERT", "SELECT", "INSERT"]
    async with database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_on_sqlite_a_connection_back_in_the_pool_is_rolled_back_only_in_a_transaction(
    database: Database, trips: list[str]
) -> None:
    """After a commit the pool's reset makes no trip to the driver; a transaction left open is rolled back."""
    async with database.transaction() as session:  # the connection made and pooled
        await session.connection()
    trips.clear()
    async with database.transaction() as session:
        await session.execute(
            insert(Organization), [{"id": "org-kept", "name": "K", "type": OrganizationType.TEAM}]
        )
    assert trips[-1] == "commit"  # and no rollback after it
    async with database.write_engine.connect() as connection:  # a transaction SQLAlchemy does not know of
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute(
            "INSERT INTO organization (id, name, type, created_at) VALUES ('org-lost', 'L', 'TEAM', '2026-01-01')"
        )
    assert trips[-1] == "rollback"
    async with database.transaction() as session:  # the connection is usable: no transaction left open
        names = set((await session.scalars(select(Organization.id))).all())
    assert names == {"org-kept"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_on_sqlite_a_timestamp_written_by_rows_is_stored_as_sqlalchemy_stores_it(
    database: Database, writer: Writer, clock: Any
) -> None:
    """sqlite3's own adapter writes a whole second without its '.000000', which sorts before the same moment
    written by SQLAlchemy: the record would fall out of a range that starts at its own second."""
    clock.at = clock.at.replace(microsecond=0)
    await organizations(database, "org-a")
    assert await writer.submit([item("org-a", "r-1", plan="free")]) == ["accepted"]
    async with database.reader() as session:
        stored = await session.scalar(text("SELECT recorded_at FROM usage_record"))
        at_or_after = select(func.count()).where(UsageRecord.recorded_at >= clock.at)  # type: ignore[operator]
        assert (stored, await session.scalar(at_or_after)) == (
            clock.at.strftime("%Y-%m-%d %H:%M:%S.000000"),
            1,
        )
