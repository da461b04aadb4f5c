"""The roll-ups are folded behind the group commit: every group's usage counted once, in its buckets, within seconds."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.db import Database
from app.domain.catalog.loader import load_catalog
from app.domain.usage import pending
from app.domain.usage.models import UsageDay, UsageHour, UsageHourByKey, UsageMinute, UsageRollupPending
from app.domain.usage.rollups import ROLLUPS, SUMMED
from app.fleet.billing import burn
from app.fleet.usage import Committed, UsageWriter
from tests.fleet.conftest import Fleet
from tests.fleet.test_usage_groups import item, organizations, price
from tests.support import GraphQL, World

NEVER = 3600.0  # a fold loop that does not fold while the test runs: only the test's folds do


async def nothing_after(_committed: Committed) -> None:
    return None


def new_writer(db: Database, fold_seconds: float = NEVER) -> UsageWriter:
    return UsageWriter(db, load_catalog(), burn=burn, after_commit=nothing_after, fold_seconds=fold_seconds)


@pytest.fixture
async def writer(database: Database) -> AsyncIterator[UsageWriter]:
    made = new_writer(database)
    yield made
    await made.stop()


async def totals(db: Database, model: Any = UsageMinute) -> dict[str, tuple[int, ...]]:
    """Each organization's figures summed over a roll-up: (requests, input, output, billed, cost)."""
    async with db.reader() as session:
        rows = await session.execute(
            select(model.organization_id, *(func.sum(getattr(model, s)) for s in SUMMED)).group_by(
                model.organization_id
            )
        )
        return {org: tuple(int(v) for v in figures) for org, *figures in rows}


async def pending_groups(db: Database) -> int:
    async with db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(UsageRollupPending)) or 0)


def usage(requests: int, tokens: int = 1000) -> tuple[int, ...]:
    return (requests, requests * tokens, requests * 100, requests * price(tokens), requests * price(tokens))


async def test_a_groups_usage_shows_after_one_fold_and_not_before(
    database: Database, writer: UsageWriter
) -> None:
    await organizations(database, "o-a", "o-b")
    statuses = await writer.submit([item("o-a", "r1"), item("o-a", "r2"), item("o-b", "r3", tokens=2000)])
    assert statuses == ["accepted"] * 3
    assert await totals(database) == {}  # committed and acknowledged, not in the graphs yet
    assert await pending_groups(database) == 1  # the group left one row, whatever its organizations
    assert await writer.fold() == 1
    for rollup in ROLLUPS:
        assert await totals(database, rollup.model) == {"o-a": usage(2), "o-b": usage(1, 2000)}
    assert await pending_groups(database) == 0


async def test_folding_again_counts_nothing_twice(database: Database, writer: UsageWriter) -> None:
    await organizations(database, "o-a")
    await writer.submit([item("o-a", "r1")])
    await writer.submit([item("o-a", "r2"), item("o-a", "r1")])  # a repeat is not summed either
    assert await writer.fold() == 2
    assert await writer.fold() == 0
    assert await totals(database, UsageHour) == {"o-a": usage(2)}


async def test_many_groups_fold_in_bounded_transactions(database: Database, writer: UsageWriter) -> None:
    await organizations(database, "o-a", "o-b")
    for n in range(7):
        await writer.submit([item("o-a", f"a{n}"), item("o-b", f"b{n}")])
    assert await pending.fold_all(database, limit=3) == 7  # 3 + 3 + 1
    assert await totals(database, UsageDay) == {"o-a": usage(7), "o-b": usage(7)}


async def test_concurrent_folds_take_different_rows(database: Database, writer: UsageWriter) -> None:
    await organizations(database, "o-a", "o-b")
    for n in range(12):
        await writer.submit([item("o-a", f"a{n}"), item("o-b", f"b{n}")])
    other = Database(database.url)  # another replica: its own engine and connections
    try:
        folded = await asyncio.gather(
            *(pending.fold_all(db, limit=2) for db in (database, other, database, other))
        )
    finally:
        await other.dispose()
    assert sum(folded) == 12
    assert await totals(database, UsageMinute) == {"o-a": usage(12), "o-b": usage(12)}
    assert await totals(database, UsageHourByKey) == {"o-a": usage(12), "o-b": usage(12)}


async def test_a_fold_skips_the_rows_another_fold_holds(
    backend: str, database: Database, writer: UsageWriter
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: a second fold waits for the first")
    await organizations(database, "o-a", "o-b")
    for n in range(5):  # (the same roll-up rows would wait for each other: another organization's do not)
        await writer.submit([item("o-a" if n < 2 else "o-b", f"r{n}")])
    other = Database(database.url)
    try:
        async with other.transaction() as session:
            assert await pending.fold(session, limit=2) == 2  # held, uncommitted, by the other replica
            async with asyncio.timeout(5):  # not waiting for the held rows
                assert await pending.fold_all(database) == 3
            assert await totals(database) == {"o-b": usage(3)}
    finally:
        await other.dispose()
    assert await totals(database) == {"o-a": usage(2), "o-b": usage(3)}
    assert await pending_groups(database) == 0


async def test_a_failed_fold_leaves_its_rows_for_the_next(
    database: Database, writer: UsageWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    await organizations(database, "o-a")
    await writer.submit([item("o-a", "r1")])
    await writer.submit([item("o-a", "r2")])
    add_sums = pending.add_sums

    async def refused(session: Any, sums: Any) -> None:
        await add_sums(session, sums)  # the roll-ups written, then the transaction fails
        raise RuntimeError("the database refused a row")

    monkeypatch.setattr(pending, "add_sums", refused)
    with pytest.raises(RuntimeError):
        await writer.fold()
    assert await pending_groups(database) == 2
    assert await totals(database) == {}
    monkeypatch.setattr(pending, "add_sums", add_sums)
    assert await writer.fold() == 2
    assert await totals(database) == {"o-a": usage(2)}


async def test_a_new_writer_folds_what_a_stopped_process_left(database: Database) -> None:
    await organizations(database, "o-a")
    died = new_writer(database)
    await died.submit([item("o-a", "r1")])
    for task in [*died._tasks, died._folding]:  # the process dies: nothing drains, nothing folds
        assert task is not None
        task.cancel()
    assert await pending_groups(database) == 1
    started = new_writer(database, fold_seconds=0.05)
    started.start()
    try:
        waited = time.monotonic()
        while await totals(database) != {"o-a": usage(1)}:  # within a round of its fold loop
            assert time.monotonic() - waited < 5
            await asyncio.sleep(0.02)
    finally:
        await started.stop()
    assert await pending_groups(database) == 0


async def test_stopping_folds_what_is_pending(database: Database) -> None:
    await organizations(database, "o-a")
    writer = new_writer(database)
    await writer.submit([item("o-a", "r1")])
    await writer.stop()
    assert await totals(database, UsageDay) == {"o-a": usage(1)}
    assert await pending_groups(database) == 0


async def test_groups_of_two_minutes_and_two_hours_land_in_their_buckets(
    database: Database, writer: UsageWriter, clock: Any
) -> None:
    await organizations(database, "o-a")
    clock.at = datetime(2026, 11, 23, 10, 59, 30, tzinfo=UTC)
    await writer.submit([item("o-a", "r1"), item("o-a", "r2")])
    clock.advance(seconds=40)  # 11:00:10: the next minute, the next hour, the same day
    await writer.submit([item("o-a", "r3")])
    assert await writer.fold() == 2
    minute = int(datetime(2026, 11, 23, 11, tzinfo=UTC).timestamp()) // 60
    async with database.reader() as session:
        minutes = dict((await session.execute(select(UsageMinute.minute, UsageMinute.requests))).all())
        hours = dict((await session.execute(select(UsageHour.hour, UsageHour.requests))).all())
        days = dict((await session.execute(select(UsageDay.day, UsageDay.requests))).all())
    assert minutes == {minute - 1: 2, minute: 1}
    assert hours == {minute // 60 - 1: 2, minute // 60: 1}
    assert days == {minute // 1440: 3}


async def test_sums_past_two_to_the_53_stay_exact(database: Database) -> None:
    big = [1, 2**53 + 1, 2**60 + 3, 2**62 + 1, 2**62 + 7]
    key = ("o-a", "p", "k", "m")
    async with database.transaction() as session:
        await pending.leave_for_rollups(session, {key: list(big)}, 29_000_000)
    async with database.transaction() as session:
        await pending.leave_for_rollups(session, {key: [1, 1, 1, 1, 1]}, 29_000_000)
    assert await pending.fold_all(database) == 2
    expected = tuple(figure + 1 for figure in big)
    for rollup in ROLLUPS:
        assert await totals(database, rollup.model) == {"o-a": expected}


DAILY = """query($o: ID!, $from: DateTime!, $to: DateTime!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: DAY}) {
    ... on UsageSeries { points { requests inputTokens } } } }"""


async def test_usage_reported_to_the_fleet_shows_in_the_graph_within_seconds(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str, clock: Any
) -> None:
    await fleet.run(acme_key, input_tokens=1000, output_tokens=10)  # the app folds on its own (a second)
    await fleet.run(acme_key, input_tokens=2000, output_tokens=10)
    variables = {"o": world.gid("Organization", world.acme_id), "from": (clock.at - timedelta(days=1)).isoformat(),
                 "to": (clock.at + timedelta(days=1)).isoformat()}  # fmt: skip
    reported, points = time.monotonic(), []
    while time.monotonic() - reported < 5 and not points:
        points = (await gql(DAILY, variables, token=world.token("admin")))["usage"]["points"]
        await asyncio.sleep(0.05)
    assert points == [{"requests": 2, "inputTokens": 3000}]


async def test_a_row_that_cannot_be_folded_is_left_pending_and_holds_no_other_back(
    database: Database, writer: UsageWriter, caplog: pytest.LogCaptureFixture
) -> None:
    await organizations(database, "o-a")
    await writer.submit([item("o-a", "r1")])
    async with database.transaction() as session:  # sums no fold can read: cut short, and of another shape
        session.add_all([UsageRollupPending(minute=29_000_000, deltas='[["o-a", "p"'),
                         UsageRollupPending(minute=29_000_000, deltas='[["o-a", 1]]')])  # fmt: skip
    await writer.submit([item("o-a", "r2")])
    assert await writer.fold() == 2  # the two groups, whatever lies between them
    assert await totals(database) == {"o-a": usage(2)}
    assert await pending_groups(database) == 2  # nothing is deleted: an operator can see and mend them
    refused = [r.getMessage() for r in caplog.records if r.name == pending.__name__]
    assert len(refused) == 2 and all("cannot be folded" in message for message in refused), refused
    await writer.submit([item("o-a", "r3")])
    assert await writer.fold() == 1  # skipped from then on: not tried, not logged again
    assert await totals(database) == {"o-a": usage(3)}
    assert len([r for r in caplog.records if r.name == pending.__name__]) == 2


async def test_a_fold_cut_off_by_an_outage_sets_no_row_aside(
    database: Database, writer: UsageWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    await organizations(database, "o-a")
    await writer.submit([item("o-a", "r1")])
    add_sums = pending.add_sums

    async def away(session: Any, sums: Any) -> None:
        raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(pending, "add_sums", away)
    with pytest.raises(OperationalError):
        await writer.fold()
    monkeypatch.setattr(pending, "add_sums", add_sums)
    assert await writer.fold() == 1  # the row was not taken for the group's own fault
    assert await totals(database) == {"o-a": usage(1)}


async def test_sums_the_database_refuses_are_left_pending_too(
    backend: str, database: Database, writer: UsageWriter
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite stores a text of any length: only PostgreSQL refuses these sums")
    await organizations(database, "o-a")
    async with database.transaction() as session:  # an organization id past the roll-ups' 40 characters
        await pending.leave_for_rollups(session, {("o" * 41, "p", "k", "m"): [1, 1, 1, 1, 1]}, 29_000_000)
    await writer.submit([item("o-a", "r1")])
    assert await writer.fold() == 1
    assert await totals(database) == {"o-a": usage(1)}
    assert await pending_groups(database) == 1


async def test_after_setting_a_row_aside_a_fold_goes_on_with_the_rest(database: Database) -> None:
    await organizations(database, "o-a")
    async with database.transaction() as session:
        session.add(UsageRollupPending(minute=29_000_000, deltas="not sums"))
    for _ in range(5):
        async with database.transaction() as session:
            await pending.leave_for_rollups(session, {("o-a", "p", "k", "m"): [1, 1, 1, 1, 1]}, 29_000_000)
    unfoldable: set[int] = set()
    assert await pending.fold_all(database, limit=2, unfoldable=unfoldable) == 5  # not only the first two
    assert len(unfoldable) == 1 and await pending_groups(database) == 1
