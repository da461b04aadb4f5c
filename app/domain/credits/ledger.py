"""The ledger's core: balance moves, grants, burns and the debt, each in the caller's transaction.

Every change of an organization's credits starts by locking its account row (`move` or
`lock_account`), so its grants, debt and balance change one transaction at a time, on PostgreSQL as on
SQLite. The balance itself only moves by ``balance = balance + :delta`` in one statement, never by a
read followed by a write, so concurrent writers never lose an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import ColumnElement, and_, any_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.base import new_id, table_of
from app.domain.billing.models import Charge
from app.domain.credits.models import (
    GRANT_ENTRY_KIND,
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantSource,
    GrantState,
)
from app.domain.money import cents_to_nanos
from app.domain.rowsets import INT, TEXT, RowSet, dialect_insert, is_sqlite, json_list, read

ACCOUNT = table_of(CreditAccount)
GRANT = table_of(CreditGrant)
ENTRY = table_of(CreditLedgerEntry)
CONSUMPTION = table_of(CreditConsumption)


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a balance move returns: the figures after it, and what auto-recharge needs to decide."""

    balance_nanos: int
    debt_nanos: int
    settling_nanos: int
    auto_recharge_enabled: bool
    auto_recharge_threshold_nanos: int
    auto_recharge_in_flight: bool
    auto_recharge_paused_until: datetime | None

    def auto_recharge_due(self, now: datetime) -> bool:
        """Below the threshold, enabled, not paused, and no recharge already under way (the SQL form: `auto_recharge_due`)."""
        return (
            self.auto_recharge_enabled
            and not self.auto_recharge_in_flight
            and self.balance_nanos < self.auto_recharge_threshold_nanos
            and (self.auto_recharge_paused_until is None or self.auto_recharge_paused_until <= now)
        )


def auto_recharge_due(now: datetime) -> ColumnElement[bool]:
    """`AccountState.auto_recharge_due` in SQL, over the account table (a test checks they agree)."""
    return and_(
        ACCOUNT.c.auto_recharge_enabled.is_(True),
        ACCOUNT.c.auto_recharge_in_flight.is_(False),
        ACCOUNT.c.balance_nanos < ACCOUNT.c.auto_recharge_threshold_nanos,
        or_(ACCOUNT.c.auto_recharge_paused_until.is_(None), ACCOUNT.c.auto_recharge_paused_until <= now),
    )


STATE_COLUMNS = (
    ACCOUNT.c.balance_nanos,
    ACCOUNT.c.debt_nanos,
    ACCOUNT.c.settling_nanos,
    ACCOUNT.c.auto_recharge_enabled,
    ACCOUNT.c.auto_recharge_threshold_nanos,
    ACCOUNT.c.auto_recharge_in_flight,
    ACCOUNT.c.auto_recharge_paused_until,
)
# session.info: (organization_id, kind, balance_after_nanos) of the ledger entries written by a statement
# whose rows the organizations' version tracking cannot read (an INSERT … SELECT, a driver's executemany)
LEDGER_ROWS = "ledger_rows"
EMPTY = AccountState(0, 0, 0, False, 0, False, None)


@dataclass(frozen=True, slots=True)
class BurnResult:
    """The balance after a burn, and whether `maybe_auto_recharge` should be called after the commit."""

    balance_nanos: int
    auto_recharge_due: bool


def name_ledger_rows(session: AsyncSession, rows: Iterable[tuple[str, EntryKind, int]]) -> None:
    """Name the entries, (organization, kind, balance after), that a set-based statement of this transaction writes.

    The version tracking (fleet.versions) reads them at the commit.
    """
    session.info.setdefault(LEDGER_ROWS, []).extend(rows)


def _insert(session: AsyncSession) -> Any:
    return partial(dialect_insert, is_sqlite(session))


def as_move(statement: Any) -> Any:
    """`statement` (an INSERT of accounts' balance, debt, debt_since, settling) as the upsert that adds them.

    It returns the organization id and the figures after the move (STATE_COLUMNS).
    """
    excluded = statement.excluded
    new_debt = ACCOUNT.c.debt_nanos + excluded.debt_nanos
    return statement.on_conflict_do_update(
        index_elements=[ACCOUNT.c.organization_id],
        set_={
            "balance_nanos": ACCOUNT.c.balance_nanos + excluded.balance_nanos,
            "debt_nanos": new_debt,
            "debt_since": case(
                (new_debt <= 0, None),
                (ACCOUNT.c.debt_since.is_(None), excluded.debt_since),
                else_=ACCOUNT.c.debt_since,
            ),
            "settling_nanos": ACCOUNT.c.settling_nanos + excluded.settling_nanos,
            "updated_at": excluded.updated_at,
        },
    ).returning(ACCOUNT.c.organization_id, *STATE_COLUMNS)


async def move(
    session: AsyncSession, organization_id: str, balance: int = 0, *, debt: int = 0, settling: int = 0
) -> AccountState:
    """Add to the balance (and debt, settling) in one atomic statement; creates the account and locks it."""
    now = clock.now()
    statement = _insert(session)(ACCOUNT).values(
        organization_id=organization_id,
        balance_nanos=balance,
        debt_nanos=debt,
        debt_since=now if debt > 0 else None,
        settling_nanos=settling,
        updated_at=now,
    )
    row = (await session.execute(as_move(statement))).one()
    return AccountState(*row[1:])


async def lock_account(session: AsyncSession, organization_id: str) -> CreditAccount:
    """The organization's account, created if needed, locked for the rest of the transaction."""
    await session.execute(
        _insert(session)(ACCOUNT)
        .values(organization_id=organization_id, updated_at=clock.now())
        .on_conflict_do_nothing()
    )
    query = (
        select(CreditAccount)
        .where(col(CreditAccount.organization_id) == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).one()


async def account_state(session: AsyncSession, organization_id: str) -> AccountState:
    """The account's figures without locking it (zero for an organization that never had credits)."""
    row = (
        await session.execute(select(*STATE_COLUMNS).where(ACCOUNT.c.organization_id == organization_id))
    ).first()
    return EMPTY if row is None else AccountState(*row)


async def balance_of(session: AsyncSession, organization_id: str) -> int:
    """The organization's balance in nanos (negative: a debt); 0 when it never had credits."""
    return (await account_state(session, organization_id)).balance_nanos


async def append_entry(
    session: AsyncSession,
    organization_id: str,
    kind: EntryKind,
    amount_nanos: int,
    balance_after_nanos: int,
    *,
    reference: str = "",
    grant_id: str | None = None,
    charge_id: str | None = None,
    uncovered_nanos: int = 0,
    entry_id: str | None = None,
) -> str:
    """Append one ledger entry (the balance must have moved by the same amount in this transaction)."""
    entry_id = entry_id or new_id("cle")
    await session.execute(
        insert(ENTRY).values(
            id=entry_id,
            organization_id=organization_id,
            kind=kind,
            amount_nanos=amount_nanos,
            balance_after_nanos=balance_after_nanos,
            uncovered_nanos=uncovered_nanos,
            grant_id=grant_id,
            charge_id=charge_id,
            reference=reference[:200],
            created_at=clock.now(),
        )
    )
    return entry_id


@dataclass
class GrantPlan:
    """Which grants pay an amount, decided from one read of the usable grants."""

    covered: int
    remaining: list[tuple[str, int]]  # (grant, what it keeps): at 0 it is depleted
    uses: list[tuple[str, int]]  # (grant, what it pays)


async def usable_grants(
    session: AsyncSession, organization_ids: Sequence[str], now: datetime
) -> list[tuple[str, str, int]]:
    """The grants that can pay usage now, (organization, grant, remaining), by organization and then in burn order.

    Burn order: promotional first, then the grant that expires first, then the oldest. On PostgreSQL the
    organizations travel as one JSON value (a RowSet), so the statement and its plan are one whatever
    their number (an IN list is a new statement for every count).
    """
    wanted, query = _usable(is_sqlite(session))
    if wanted is None:  # SQLite: the organizations as one JSON value too, read in one trip to the driver
        return await read(session, query, {"organizations": json_list(organization_ids), "now": now})
    return await wanted.execute(session, query, [(org,) for org in organization_ids], {"now": now})


@cache
def _usable(is_sqlite: bool) -> tuple[RowSet | None, Any]:
    query = (
        select(GRANT.c.organization_id, GRANT.c.id, GRANT.c.remaining_nanos)
        .where(GRANT.c.state == GrantState.ACTIVE)
        .where(GRANT.c.remaining_nanos > 0)
        .where(GRANT.c.expires_at > bindparam("now", type_=GRANT.c.expires_at.type))
        .order_by(
            GRANT.c.organization_id,
            case((GRANT.c.source == GrantSource.PROMOTIONAL, 0), else_=1),
            GRANT.c.expires_at,
            GRANT.c.bought_at,
            GRANT.c.id,
        )
    )
    if is_sqlite:  # a RowSet's rows are an executemany there: the ids are a JSON array (json_each)
        listed = func.json_each(bindparam("organizations", type_=TEXT)).table_valued("value")
        return None, query.where(GRANT.c.organization_id.in_(select(listed.c.value)))
    wanted = RowSet(False, "wanted", [("organization_id", TEXT)])
    # = ANY(ARRAY(…)): the ids are an index condition, read once; as a join the planner, misled by the
    # unknown number of JSON rows, compared every grant with every id (126 ms instead of 5 for 500)
    ids = func.array(select(wanted.c.organization_id).scalar_subquery())
    return wanted, query.where(GRANT.c.organization_id == any_(ids))


def allocate(grants: Iterable[tuple[str, int]], amount: int) -> GrantPlan:
    """Which of the usable grants, (id, remaining) in burn order, pay `amount`, and how much each."""
    plan, left = GrantPlan(0, [], []), amount
    for grant_id, remaining in grants:
        if left == 0:
            break
        take = min(left, remaining)
        left -= take
        plan.covered += take
        plan.uses.append((grant_id, take))
        plan.remaining.append((grant_id, remaining - take))
    return plan


async def _plan(session: AsyncSession, organization_id: str, amount: int, now: datetime) -> GrantPlan:
    rows = await usable_grants(session, [organization_id], now)
    return allocate(((grant_id, remaining) for _, grant_id, remaining in rows), amount)


def plan_rows(
    plans: Sequence[tuple[str, GrantPlan, str | None]],
) -> tuple[list[tuple[str, int]], list[tuple[str, str, str, str | None, int]]]:
    """What `apply_plans` writes: the grants' rows (grant, what it keeps) and the consumptions' rows."""
    remaining = [pair for _, plan, _ in plans for pair in plan.remaining]
    uses = [
        (new_id("ccon"), organization_id, grant_id, entry_id, amount)
        for organization_id, plan, entry_id in plans
        for grant_id, amount in plan.uses
    ]
    return remaining, uses


async def apply_plans(
    session: AsyncSession, plans: Sequence[tuple[str, GrantPlan, str | None]], now: datetime
) -> None:
    """Take what each plan uses from its grants and record it: (organization, plan, ledger entry).

    Two statements however many plans: the grants' rows and the consumptions are each one bound set.
    """
    remaining, uses = plan_rows(plans)
    if not remaining:
        return
    taken, update_grants = grant_update(is_sqlite(session))
    await taken.execute(session, update_grants, remaining)
    consumed, insert_uses = consumption_insert(is_sqlite(session))
    await consumed.execute(session, insert_uses, uses, {"created_at": now})


@cache
def grant_update(is_sqlite: bool) -> tuple[RowSet, Any]:
    """The UPDATE that sets the grants' remaining (and depletes those at 0): rows (grant, remaining)."""
    taken = RowSet(is_sqlite, "taken", [("grant_id", TEXT), ("remaining", INT)])
    depleted = literal(GrantState.DEPLETED, GRANT.c.state.type)
    return taken, (
        update(GRANT)
        .values(
            remaining_nanos=taken.c.remaining,
            state=case((taken.c.remaining == 0, depleted), else_=GRANT.c.state),
        )
        .where(GRANT.c.id == taken.c.grant_id)
    )


@cache
def consumption_insert(is_sqlite: bool) -> tuple[RowSet, Any]:
    """The INSERT of the consumptions, rows as `plan_rows` makes them, `created_at` a constant."""
    columns = [
        ("id", TEXT),
        ("organization_id", TEXT),
        ("grant_id", TEXT),
        ("entry_id", TEXT),
        ("amount_nanos", INT),
    ]
    uses = RowSet(is_sqlite, "uses", columns)
    return uses, uses.insert(CONSUMPTION, ["created_at"])


async def _apply(
    session: AsyncSession, organization_id: str, plan: GrantPlan, entry_id: str | None, now: datetime
) -> None:
    await apply_plans(session, [(organization_id, plan, entry_id)], now)


async def burn_credits(
    session: AsyncSession, organization_id: str, cost_nanos: int, reference: str
) -> BurnResult:
    """Debit usage from the organization's credits in the caller's transaction; no provider is called.

    Promotional grants go first, then the one that expires first, then the oldest; every grant used
    is recorded. What no grant covers becomes debt (the balance goes below zero: admitted requests
    finish). When `auto_recharge_due` is true, call `maybe_auto_recharge` after the commit.
    """
    if cost_nanos < 0:
        raise ValueError(f"a burn takes a cost of zero or more nanos, got {cost_nanos}")
    now = clock.now()
    if cost_nanos == 0:
        state = await account_state(session, organization_id)
        return BurnResult(state.balance_nanos, state.auto_recharge_due(now))
    state = await move(session, organization_id, -cost_nanos)  # locks the account: burns are serial per org
    plan = await _plan(session, organization_id, cost_nanos, now)
    uncovered = cost_nanos - plan.covered
    entry_id = await append_entry(
        session,
        organization_id,
        EntryKind.USAGE,
        -cost_nanos,
        state.balance_nanos,
        reference=reference,
        uncovered_nanos=uncovered,
    )
    await _apply(session, organization_id, plan, entry_id, now)
    if uncovered:
        state = await move(session, organization_id, debt=uncovered)
    return BurnResult(state.balance_nanos, state.auto_recharge_due(now))


async def cover_debt(session: AsyncSession, organization_id: str, state: AccountState) -> AccountState:
    """Let usable grants pay the debt that no pending settlement is collecting (the account is locked)."""
    owed = state.debt_nanos - state.settling_nanos
    if owed <= 0:
        return state
    now = clock.now()
    plan = await _plan(session, organization_id, owed, now)
    if plan.covered == 0:
        return state
    await _apply(session, organization_id, plan, None, now)
    return await move(session, organization_id, debt=-plan.covered)


def one_year_after(moment: datetime) -> datetime:
    """The same instant a calendar year later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:
        return moment.replace(year=moment.year + 1, day=28)


async def create_grant(
    session: AsyncSession,
    organization_id: str,
    *,
    source: GrantSource,
    amount_nanos: int,
    bought_at: datetime,
    expires_at: datetime,
    charge_id: str | None = None,
    granted_by: str | None = None,
    note: str | None = None,
    reference: str = "",
) -> CreditGrant:
    """Grant credits with their ledger entry; they pay any outstanding debt first."""
    if amount_nanos <= 0:
        raise ValueError(f"a grant is of a positive amount, got {amount_nanos}")
    state = await move(session, organization_id, amount_nanos)
    grant = CreditGrant(
        organization_id=organization_id,
        source=source,
        amount_nanos=amount_nanos,
        remaining_nanos=amount_nanos,
        bought_at=bought_at,
        expires_at=expires_at,
        charge_id=charge_id,
        granted_by=granted_by,
        note=note,
    )
    session.add(grant)
    await session.flush()
    await append_entry(
        session,
        organization_id,
        GRANT_ENTRY_KIND[source],
        amount_nanos,
        state.balance_nanos,
        reference=reference,
        grant_id=grant.id,
        charge_id=charge_id,
    )
    if state.debt_nanos > state.settling_nanos:
        await cover_debt(session, organization_id, state)
        await session.refresh(grant)
    return grant


async def grant_paid(session: AsyncSession, charge: Charge, source: GrantSource) -> CreditGrant:
    """The credits a succeeded charge bought: its amount, valid for a year from its success."""
    bought_at = charge.settled_at or clock.now()
    return await create_grant(
        session,
        charge.organization_id,
        source=source,
        amount_nanos=cents_to_nanos(charge.amount_cents),
        bought_at=bought_at,
        expires_at=one_year_after(bought_at),
        charge_id=charge.id,
        reference=charge.idempotency_key,
    )


async def take_from_grant(
    session: AsyncSession, grant: CreditGrant, amount_nanos: int, kind: EntryKind, reference: str = ""
) -> int:
    """Remove part of one grant's remaining (expiry, refund) with its ledger entry; returns the balance after."""
    assert 0 < amount_nanos <= grant.remaining_nanos
    state = await move(session, grant.organization_id, -amount_nanos)
    grant.remaining_nanos -= amount_nanos
    if grant.remaining_nanos == 0 and grant.state is GrantState.ACTIVE:
        grant.state = GrantState.DEPLETED
    session.add(grant)
    await session.flush()
    await append_entry(
        session,
        grant.organization_id,
        kind,
        -amount_nanos,
        state.balance_nanos,
        reference=reference,
        grant_id=grant.id,
        charge_id=grant.charge_id,
    )
    return state.balance_nanos


async def give_back_to_grant(
    session: AsyncSession, grant: CreditGrant, amount_nanos: int, kind: EntryKind, reference: str = ""
) -> int:
    """Return credits a ``take_from_grant`` held (a won dispute) to their grant, with the entry; returns the balance."""
    assert amount_nanos > 0 and grant.remaining_nanos + amount_nanos <= grant.amount_nanos
    assert grant.state is not GrantState.EXPIRED, "expired credits are not given back"
    state = await move(session, grant.organization_id, amount_nanos)
    grant.remaining_nanos += amount_nanos
    grant.state = GrantState.ACTIVE  # past its expiry, the expiry job takes them at its next run
    session.add(grant)
    await session.flush()
    await append_entry(
        session,
        grant.organization_id,
        kind,
        amount_nanos,
        state.balance_nanos,
        reference=reference,
        grant_id=grant.id,
        charge_id=grant.charge_id,
    )
    if state.debt_nanos > state.settling_nanos:
        await cover_debt(session, grant.organization_id, state)
    return state.balance_nanos
