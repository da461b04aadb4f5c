"""Burning the usage of many organizations at once: the usage group commit's burns, set-based.

`burn_many` gives each organization exactly what `ledger.burn_credits` would (the same balance, ledger
entry, grants taken in the same order, debt and auto-recharge answer), but in a fixed number of
statements whatever the number of organizations: one upsert moves every balance (and locks the accounts,
in the order of their ids, so concurrent writers never deadlock), one query reads every usable grant,
then one statement writes the ledger entries, the grants and their consumptions (on SQLite one each),
and one the debts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import func, literal, select
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
    as_move,
    consumption_insert,
    grant_update,
    name_ledger_rows,
    plan_rows,
    usable_grants,
)
from app.domain.credits.models import EntryKind
from app.domain.rowsets import INT, TEXT, RowSet, is_sqlite


async def move_many(
    session: AsyncSession, amounts: Sequence[tuple[str, int]], now: datetime, *, debt: bool = False
) -> dict[str, AccountState]:
    """`ledger.move` for many organizations in one statement: (organization, nanos) each once.

    The nanos add to the balance, or with `debt` (then each is positive) to the debt.
    """
    if not amounts:
        return {}
    added, statement = _move(is_sqlite(session), debt)
    constants = {"debt_nanos" if not debt else "balance_nanos": 0, "debt_since": now if debt else None,
                 "settling_nanos": 0, "updated_at": now}  # fmt: skip
    rows = await added.execute(session, statement, sorted(amounts), constants)
    return {row[0]: AccountState(*row[1:]) for row in rows}


@cache
def _move(is_sqlite: bool, debt: bool) -> tuple[RowSet, Any]:
    moved = "debt_nanos" if debt else "balance_nanos"
    added = RowSet(is_sqlite, "moves", [("organization_id", TEXT), (moved, INT)])
    constants = ["debt_nanos" if not debt else "balance_nanos", "debt_since", "settling_nanos", "updated_at"]
    # accounts locked in one order: concurrent groups never deadlock
    return added, as_move(added.insert(ACCOUNT, constants, order_by=["organization_id"]))


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
    states = await move_many(session, [(org, -costs[org]) for org in burning], now)
    grants: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for org, grant_id, remaining in await usable_grants(session, burning, now):
        grants[org].append((grant_id, remaining))
    plans: list[tuple[str, GrantPlan, str | None]] = []
    entries = []
    debts = []
    for org in burning:
        plan = allocate(grants[org], costs[org])
        uncovered = costs[org] - plan.covered
        entry_id = new_id("cle")
        plans.append((org, plan, entry_id))
        entries.append((entry_id, org, -costs[org], states[org].balance_nanos, uncovered))
        if uncovered:
            debts.append((org, uncovered))
    await _write_burns(session, entries, plans, reference, now)
    states.update(await move_many(session, debts, now, debt=True))
    results.update(
        (org, BurnResult(states[org].balance_nanos, states[org].auto_recharge_due(now))) for org in burning
    )
    return results


async def _write_burns(
    session: AsyncSession,
    entries: list[tuple[str, str, int, int, int]],
    plans: list[tuple[str, GrantPlan, str | None]],
    reference: str,
    now: datetime,
) -> None:
    """The burns' ledger entries, (id, organization, amount, balance after, uncovered), and their grants' plans.

    On PostgreSQL the entries, the grants' update and the consumptions are one statement (one round trip);
    on SQLite, where a statement costs none, three executemanys.
    """
    constants = {"kind": EntryKind.USAGE, "reference": reference[:200], "created_at": now}
    # the version tracking (fleet.versions) sees neither an INSERT … SELECT's rows nor a driver's executemany
    name_ledger_rows(session, [(org, EntryKind.USAGE, balance) for _, org, _, balance, _ in entries])
    if is_sqlite(session):
        added, statement = _entries(True)
        await added.execute(session, statement, entries, constants)
        await apply_plans(session, plans, now)
        return
    (added, taken, consumed), statement = _writes()
    remaining, uses = plan_rows(plans)
    parameters: dict[str, Any] = {
        **added.document(entries),
        **taken.document(remaining),
        **consumed.document(uses),
    }
    parameters |= {added.constant_name(name): value for name, value in constants.items()}
    parameters[consumed.constant_name("created_at")] = now
    await session.execute(statement, parameters)


@cache
def _entries(is_sqlite: bool) -> tuple[RowSet, Any]:
    columns = [
        ("id", TEXT),
        ("organization_id", TEXT),
        ("amount_nanos", INT),
        ("balance_after_nanos", INT),
        ("uncovered_nanos", INT),
    ]
    added = RowSet(is_sqlite, "entries", columns)
    return added, added.insert(ENTRY, ["kind", "reference", "created_at"])


@cache
def _writes() -> tuple[tuple[RowSet, RowSet, RowSet], Any]:
    """PostgreSQL: the entries' INSERT, the grants' UPDATE and the consumptions' INSERT as the CTEs of one statement.

    The consumptions' foreign key to their entry is checked at the end of the statement, when the entries
    are in. The accounts are locked already (`move_many`), so no other writer waits on these grants.
    """
    writes = [_entries(False), grant_update(False), consumption_insert(False)]
    ctes = [
        statement.returning(literal(1)).cte(f"to_{name}")
        for name, (_, statement) in zip(("entries", "grants", "consumptions"), writes, strict=True)
    ]
    counts = select(*(select(func.count()).select_from(cte).scalar_subquery() for cte in ctes))
    added, taken, consumed = (rows for rows, _ in writes)
    return (added, taken, consumed), counts
