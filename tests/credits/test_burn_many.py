"""Burning many organizations at once (the usage group commit) leaves exactly what burning each in turn leaves."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, insert, select

from app import clock as clock_module
from app.db import Database
from app.domain.credits.burns import burn_many
from app.domain.credits.ledger import burn_credits
from app.domain.credits.models import (
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    GrantSource,
    GrantState,
)
from app.domain.orgs.models import Organization, OrganizationType
from tests.credits.support import DOLLAR

_runs = itertools.count()

# a grant: (promotional?, amount in cents, remaining share in %, expires in days (<= 0: expired), bought days ago,
# state)
GRANTS = st.tuples(
    st.booleans(),
    st.integers(1, 500),
    st.integers(0, 100),
    st.integers(-1, 5),
    st.integers(0, 3),
    st.sampled_from([GrantState.ACTIVE, GrantState.ACTIVE, GrantState.ACTIVE, GrantState.EXPIRED]),
)
# an organization: its grants, the cost it burns (cents; 0 burns nothing), its debt, and auto-recharge
ORGANIZATIONS = st.lists(
    st.tuples(
        st.lists(GRANTS, max_size=5),
        st.integers(0, 1_000),
        st.integers(0, 300),
        st.booleans(),
        st.integers(0, 500),
    ),
    min_size=1,
    max_size=6,
)


async def _create(db: Database, org: str, spec: Any, now: datetime) -> None:
    grants, _, debt, recharging, threshold = spec
    async with db.transaction() as session:
        await session.execute(insert(Organization).values(id=org, name=org, type=OrganizationType.TEAM))
        rows = []
        for index, (promotional, cents, share, expires, bought, state) in enumerate(grants):
            amount = cents * DOLLAR // 100
            rows.append({
                "id": f"{org}-g{index}", "organization_id": org, "amount_nanos": amount,
                "source": GrantSource.PROMOTIONAL if promotional else GrantSource.PURCHASE,
                "remaining_nanos": amount * share // 100, "state": state,
                "bought_at": now - timedelta(days=bought), "expires_at": now + timedelta(days=expires),
            })  # fmt: skip
        if rows:
            await session.execute(insert(CreditGrant), rows)
        balance = sum(row["remaining_nanos"] for row in rows) - debt * DOLLAR // 100
        await session.execute(insert(CreditAccount).values(
            organization_id=org, balance_nanos=balance, debt_nanos=debt * DOLLAR // 100,
            debt_since=now - timedelta(days=1) if debt else None, auto_recharge_enabled=recharging,
            auto_recharge_threshold_nanos=threshold * DOLLAR // 100, updated_at=now,
        ))  # fmt: skip


async def _state(db: Database, org: str) -> Any:
    """What a burn leaves of an organization, with its ids made relative to it."""
    async with db.reader() as session:
        account = await session.get(CreditAccount, org)
        assert account is not None
        grants = (await session.scalars(select(CreditGrant).where(CreditGrant.organization_id == org))).all()
        entries = (
            await session.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.organization_id == org))
        ).all()
        uses = (
            await session.scalars(select(CreditConsumption).where(CreditConsumption.organization_id == org))
        ).all()
    entry_of = {entry.id: n for n, entry in enumerate(entries)}
    return (
        (account.balance_nanos, account.debt_nanos, account.debt_since, account.settling_nanos),
        sorted((g.id.removeprefix(org), g.remaining_nanos, g.state) for g in grants),
        [(e.kind, e.amount_nanos, e.balance_after_nanos, e.uncovered_nanos, e.reference) for e in entries],
        sorted((u.grant_id.removeprefix(org), u.amount_nanos, entry_of.get(u.entry_id or "")) for u in uses),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(organizations=ORGANIZATIONS)
async def test_burning_many_at_once_equals_burning_each_in_turn(
    database: Database, clock: clock_module.FrozenClock, organizations: list[Any]
) -> None:
    run = next(_runs)
    now = clock.now()
    one_by_one = [f"r{run}-{n}-a" for n in range(len(organizations))]
    together = [f"r{run}-{n}-b" for n in range(len(organizations))]
    for a, b, spec in zip(one_by_one, together, organizations, strict=True):
        await _create(database, a, spec, now)
        await _create(database, b, spec, now)
    costs = [spec[1] * DOLLAR // 100 for spec in organizations]
    expected = {}
    async with database.transaction() as session:
        for org, cost in zip(one_by_one, costs, strict=True):
            expected[org] = await burn_credits(session, org, cost, "usage:req-1+9")
    async with database.transaction() as session:
        results = await burn_many(session, dict(zip(together, costs, strict=True)), "usage:req-1+9")
    for a, b in zip(one_by_one, together, strict=True):
        assert results[b] == expected[a]
        assert await _state(database, b) == await _state(database, a)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_on_postgresql_the_same_three_statements_burn_any_number_of_organizations(
    database: Database, clock: clock_module.FrozenClock
) -> None:
    """The account upsert, the grants' read and one write of entries, grants and consumptions: the round
    trips and the prepared statements are the same for 1 organization as for 12."""
    now = clock.now()
    spec = ([(False, 100, 100, 5, 1, GrantState.ACTIVE), (True, 100, 100, 5, 1, GrantState.ACTIVE)], 0, 0,
            False, 0)  # fmt: skip
    orgs = [f"round-trips-{n}" for n in range(13)]
    for org in orgs:
        await _create(database, org, spec, now)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "SELECT", "UPDATE", "WITH")):
            statements.append(statement)

    engine = database.write_engine.sync_engine
    seen = []
    for group in (orgs[:1], orgs[1:]):
        event.listen(engine, "before_cursor_execute", record)
        try:
            async with database.transaction() as session:
                await burn_many(session, dict.fromkeys(group, 150 * DOLLAR // 100), "usage:x")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        seen.append(statements[:])
        statements.clear()
    assert len(seen[0]) == 3, seen[0]
    assert seen[0] == seen[1]


async def test_a_negative_cost_is_refused_and_nothing_burns(database: Database) -> None:
    async with database.transaction() as session:
        with pytest.raises(ValueError, match="zero or more"):
            await burn_many(session, {"org-a": 5, "org-b": -1}, "usage:x")
        assert await session.scalar(select(CreditLedgerEntry.id)) is None
