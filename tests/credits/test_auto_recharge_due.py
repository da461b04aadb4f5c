"""The auto-recharge due condition: its SQL form (the claim, the recharge job) agrees with its Python form (burns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from app.db import Database
from app.domain.credits.ledger import ACCOUNT, AccountState, auto_recharge_due
from app.domain.orgs.models import Organization, OrganizationType

NOW = datetime(2026, 11, 23, 12, 0, 0, 500_000, tzinfo=UTC)
ORGS = [f"org_due_{n}" for n in range(8)]

# amounts near each other, so that "below the threshold" is decided at its edge as often as not
amounts = st.one_of(st.integers(-2, 2), st.integers(-(2**62), 2**62))
moments = st.one_of(
    st.none(),
    st.sampled_from([NOW, NOW - timedelta(microseconds=1), NOW + timedelta(microseconds=1)]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
states = st.builds(
    AccountState,
    balance_nanos=amounts,
    debt_nanos=st.just(0),
    settling_nanos=st.just(0),
    auto_recharge_enabled=st.booleans(),
    auto_recharge_threshold_nanos=amounts,
    auto_recharge_in_flight=st.booleans(),
    auto_recharge_paused_until=moments,
)


@pytest.fixture
async def organizations(database: Database) -> Database:
    async with database.transaction() as session:
        session.add_all(Organization(id=org, name=org, type=OrganizationType.TEAM) for org in ORGS)
    return database


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(accounts=st.lists(states, min_size=1, max_size=len(ORGS)))
async def test_sql_and_python_agree_on_which_accounts_are_due(
    organizations: Database, accounts: list[AccountState]
) -> None:
    expected = {org for org, state in zip(ORGS, accounts, strict=False) if state.auto_recharge_due(NOW)}
    async with organizations.transaction() as session:
        await session.execute(delete(ACCOUNT))
        await session.execute(
            insert(ACCOUNT),
            [
                {
                    "organization_id": org,
                    "balance_nanos": state.balance_nanos,
                    "auto_recharge_enabled": state.auto_recharge_enabled,
                    "auto_recharge_threshold_nanos": state.auto_recharge_threshold_nanos,
                    "auto_recharge_in_flight": state.auto_recharge_in_flight,
                    "auto_recharge_paused_until": state.auto_recharge_paused_until,
                    "updated_at": NOW,
                }
                for org, state in zip(ORGS, accounts, strict=False)
            ],
        )
        due = set(await session.scalars(select(ACCOUNT.c.organization_id).where(auto_recharge_due(NOW))))
    assert due == expected
