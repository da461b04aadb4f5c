"""Burning the usage of many organizations at once: the usage group commit's burns, set-based.

`burn_many` gives each organization exactly what `ledger.burn_credits` would (the same balance, ledger
entry, grants taken in the same order, debt and auto-recharge answer), but in a fixed number of
statements whatever the number of organizations: one upsert moves every balance (and locks the accounts,
in the order of their ids, so concurrent writers never deadlock), one query reads every usable grant,
then one statement each writes the ledger entries, the grants, their consumptions and the debts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.domain.base import new_id
from app.domain.credits.ledger import (
    ACCOUNT,
    EMPTY,
    ENTRY,
    STATE_COLUMNS,
    AccountState,
    BurnResult,
    GrantPlan,
    allocate,
    apply_plans,
    move_parameters,
    move_statement,
    usable_grants,
)
from app.domain.credits.models import EntryKind


async def move_many(
    session: AsyncSession, moves: Sequence[tuple[str, int, int]], now: datetime
) -> dict[str, AccountState]:
    """`ledger.move` for many organizations in one statement: (organization, balance, debt), each once."""
    if not moves:
        return {}
    rows = await session.execute(
        move_statement(session),
        [move_parameters(org, balance, debt, 0, now) for org, balance, debt in sorted(moves)],
    )
    return {row[0]: AccountState(*row[1:]) for row in rows}


async def account_states(session: AsyncSession, organization_ids: Sequence[str]) -> dict[str, AccountState]:
    """`ledger.account_state` of many organizations, read together (without locking them)."""
    if not organization_ids:
        return {}
    rows = await session.execute(
        select(ACCOUNT.c.organization_id, *STATE_COLUMNS).where(
            ACCOUNT.c.organization_id.in_(organization_ids)
        )
    )
    found = {row[0]: AccountState(*row[1:]) for row in rows}
    return {org: found.get(org, EMPTY) for org in organization_ids}


async def burn_many(session: AsyncSession, costs: Mapping[str, int], reference: str) -> dict[str, BurnResult]:
    """`ledger.burn_credits` of each organization's cost, in the caller's transaction, set-based."""
    if any(cost < 0 for cost in costs.values()):
        raise ValueError(f"a burn takes a cost of zero or more nanos, got {min(costs.values())}")
    now = clock.now()
    burning = sorted(org for org, cost in costs.items() if cost > 0)
    free = await account_states(session, sorted(org for org, cost in costs.items() if cost == 0))
    results = {
        org: BurnResult(state.balance_nanos, state.auto_recharge_due(now)) for org, state in free.items()
    }
    if not burning:
        return results
    states = await move_many(session, [(org, -costs[org], 0) for org in burning], now)
    grants: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for org, grant_id, remaining in await session.execute(usable_grants(burning, now)):
        grants[org].append((grant_id, remaining))
    plans: list[tuple[str, GrantPlan, str | None]] = []
    entries = []
    debts = []
    for org in burning:
        plan = allocate(grants[org], costs[org])
        uncovered = costs[org] - plan.covered
        entry_id = new_id("cle")
        plans.append((org, plan, entry_id))
        entries.append(
            {
                "id": entry_id,
                "organization_id": org,
                "kind": EntryKind.USAGE,
                "amount_nanos": -costs[org],
                "balance_after_nanos": states[org].balance_nanos,
                "uncovered_nanos": uncovered,
                "grant_id": None,
                "charge_id": None,
                "reference": reference[:200],
                "created_at": now,
            }
        )
        if uncovered:
            debts.append((org, 0, uncovered))
    # one parameter set per row: the version tracking (fleet.versions) sees each entry's balance
    await session.execute(insert(ENTRY), entries)
    await apply_plans(session, plans, now)
    states.update(await move_many(session, debts, now))
    results.update(
        (org, BurnResult(states[org].balance_nanos, states[org].auto_recharge_due(now))) for org in burning
    )
    return results
