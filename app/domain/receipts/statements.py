"""Monthly statements: an organization's billing for one calendar month (UTC), read from the ledger.

Every credit figure is a sum of ledger entries of the month, so the opening balance plus the
month's movements is the closing balance, to the nano-dollar, and the closing balance of the
current month is the account's balance. Usage comes from the hourly roll-ups the graphs read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.actor import Actor
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.models import CreditConsumption, CreditGrant, CreditLedgerEntry, EntryKind
from app.domain.credits.periods import next_month_start
from app.domain.errors import InvalidInput
from app.domain.money import NANOS_PER_CENT, format_amount
from app.domain.orgs.access import require_org_admin
from app.domain.usage.models import UsageHour

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class ModelUsage:
    """One model's usage in the month."""

    model_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_nanos: int  # at list price, whatever paid for it
    billed_nanos: int  # what PayGo credits paid


@dataclass(frozen=True)
class StatementCharge:
    """A succeeded charge of the month: a subscription's or the settlement's."""

    charge_id: str
    purpose: ChargePurpose
    description: str
    amount_nanos: int
    paid_at: datetime


@dataclass
class Statement:
    """The month's figures; credit amounts in nano-dollars, signed as the ledger has them."""

    organization_id: str
    month: str
    starts_at: datetime
    ends_at: datetime
    opening_balance_nanos: int = 0
    closing_balance_nanos: int = 0
    movements: dict[EntryKind, int] = field(default_factory=dict)  # the month's sum per entry kind
    credits_held_nanos: int = 0  # what the grants still held at the end of the month (or now)
    usage: list[ModelUsage] = field(default_factory=list)
    charges: list[StatementCharge] = field(default_factory=list)

    def moved(self, *kinds: EntryKind) -> int:
        return sum(self.movements.get(kind, 0) for kind in kinds)

    @property
    def credits_bought_nanos(self) -> int:
        return self.moved(EntryKind.PURCHASE, EntryKind.AUTO_RECHARGE)

    @property
    def credits_granted_nanos(self) -> int:
        return self.moved(EntryKind.PROMOTIONAL)

    @property
    def credits_used_nanos(self) -> int:
        return -self.moved(EntryKind.USAGE)

    @property
    def credits_expired_nanos(self) -> int:
        return -self.moved(EntryKind.EXPIRY)

    @property
    def credits_refunded_nanos(self) -> int:
        return -self.moved(EntryKind.REFUND)

    @property
    def settlement_nanos(self) -> int:
        return self.moved(EntryKind.SETTLEMENT)

    @property
    def subscription_charges_nanos(self) -> int:
        return sum(c.amount_nanos for c in self.charges if c.purpose is ChargePurpose.SUBSCRIPTION)


def parse_month(text: str, now: datetime) -> datetime:
    """The first instant of a ``YYYY-MM`` month that has begun; InvalidInput otherwise."""
    try:
        start = datetime.strptime(text.strip(), "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("The month must be written YYYY-MM, e.g. 2026-11.", field="month") from None
    if start > now:
        raise InvalidInput("This month has not begun yet.", field="month")
    return start


async def monthly_statement(
    session: AsyncSession, actor: Actor, organization_id: str, *, month: str
) -> Statement:
    """The organization's statement for the month (Org Admins)."""
    await require_org_admin(session, actor, organization_id)
    return await build_statement(session, organization_id, parse_month(month, clock.now()))


async def build_statement(session: AsyncSession, organization_id: str, start: datetime) -> Statement:
    """The statement of the month starting at ``start``, without access checks."""
    end = next_month_start(start)
    statement = Statement(organization_id, f"{start:%Y-%m}", start, end)
    entries = col(CreditLedgerEntry.organization_id) == organization_id
    statement.opening_balance_nanos = await _sum(session, entries, col(CreditLedgerEntry.created_at) < start)
    rows = await session.execute(
        select(col(CreditLedgerEntry.kind), func.sum(CreditLedgerEntry.amount_nanos))
        .where(entries)
        .where(col(CreditLedgerEntry.created_at) >= start)
        .where(col(CreditLedgerEntry.created_at) < end)
        .group_by(col(CreditLedgerEntry.kind))
    )
    statement.movements = {kind: int(total) for kind, total in rows}
    statement.closing_balance_nanos = statement.opening_balance_nanos + sum(statement.movements.values())
    statement.credits_held_nanos = await _held(session, organization_id, end)
    statement.usage = await _usage_by_model(session, organization_id, start, end)
    statement.charges = await _charges(session, organization_id, start, end)
    return statement


async def _sum(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditLedgerEntry.amount_nanos), 0)).where(*conditions)
    )
    return int(total or 0)


async def _held(session: AsyncSession, organization_id: str, at: datetime) -> int:
    """What the grants held just before ``at``: granted, less what usage consumed, expired or was refunded."""
    granted = await session.scalar(
        select(func.coalesce(func.sum(CreditGrant.amount_nanos), 0))
        .where(col(CreditGrant.organization_id) == organization_id)
        .where(col(CreditGrant.bought_at) < at)
    )
    consumed = await session.scalar(
        select(func.coalesce(func.sum(CreditConsumption.amount_nanos), 0))
        .where(col(CreditConsumption.organization_id) == organization_id)
        .where(col(CreditConsumption.created_at) < at)
    )
    taken = await _sum(
        session,
        col(CreditLedgerEntry.organization_id) == organization_id,
        col(CreditLedgerEntry.kind).in_([EntryKind.EXPIRY, EntryKind.REFUND]),
        col(CreditLedgerEntry.created_at) < at,
    )
    return int(granted or 0) - int(consumed or 0) + taken


def _hours(start: datetime, end: datetime) -> tuple[int, int]:
    return int(start.timestamp()) // 3600, int(end.timestamp()) // 3600


async def _usage_by_model(
    session: AsyncSession, organization_id: str, start: datetime, end: datetime
) -> list[ModelUsage]:
    first, last = _hours(start, end)
    rows = await session.execute(
        select(
            col(UsageHour.model_id),
            func.sum(UsageHour.requests),
            func.sum(UsageHour.input_tokens),
            func.sum(UsageHour.output_tokens),
            func.sum(UsageHour.cost_nanos),
            func.sum(UsageHour.billed_nanos),
        )
        .where(col(UsageHour.organization_id) == organization_id)
        .where(col(UsageHour.hour) >= first)
        .where(col(UsageHour.hour) < last)
        .group_by(UsageHour.model_id)
        .order_by(UsageHour.model_id)
    )
    return [ModelUsage(model, *(int(v) for v in figures)) for model, *figures in rows]


async def _charges(
    session: AsyncSession, organization_id: str, start: datetime, end: datetime
) -> list[StatementCharge]:
    rows = await session.scalars(
        select(Charge)
        .where(col(Charge.organization_id) == organization_id)
        .where(col(Charge.status) == ChargeStatus.SUCCEEDED)
        .where(col(Charge.purpose).in_([ChargePurpose.SUBSCRIPTION, ChargePurpose.SETTLEMENT]))
        .where(col(Charge.settled_at) >= start)
        .where(col(Charge.settled_at) < end)
        .order_by(col(Charge.settled_at), col(Charge.id))
    )
    return [
        StatementCharge(
            c.id, c.purpose, c.description, c.amount_cents * NANOS_PER_CENT, c.settled_at or start
        )
        for c in rows
    ]


def statement_csv(statement: Statement) -> str:
    """The statement as CSV: one line per figure, then one per model's usage and per charge."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "item", "requests", "input_tokens", "output_tokens", "amount_usd"])
    for item, nanos in [
        ("opening_balance", statement.opening_balance_nanos),
        ("credits_bought", statement.credits_bought_nanos),
        ("credits_granted", statement.credits_granted_nanos),
        ("credits_used", -statement.credits_used_nanos),
        ("credits_expired", -statement.credits_expired_nanos),
        ("credits_refunded", -statement.credits_refunded_nanos),
        ("settlement", statement.settlement_nanos),
        ("closing_balance", statement.closing_balance_nanos),
        ("credits_held", statement.credits_held_nanos),
    ]:
        writer.writerow(["balance", item, "", "", "", format_amount(nanos)])
    for usage in statement.usage:
        writer.writerow(
            [
                "usage",
                usage.model_id,
                usage.requests,
                usage.input_tokens,
                usage.output_tokens,
                format_amount(usage.billed_nanos),
            ]
        )
    for charge in statement.charges:
        writer.writerow(
            [charge.purpose.value.lower(), charge.description, "", "", "", format_amount(charge.amount_nanos)]
        )
    return out.getvalue()


async def daily_usage_csv(session: AsyncSession, organization_id: str, start: datetime) -> str:
    """Usage of the month by day × model × project, as CSV."""
    first, last = _hours(start, next_month_start(start))
    day = col(UsageHour.hour) / HOURS_PER_DAY  # integer columns: integer division on both databases
    rows = await session.execute(
        select(
            day,
            col(UsageHour.model_id),
            col(UsageHour.project_id),
            func.sum(UsageHour.requests),
            func.sum(UsageHour.input_tokens),
            func.sum(UsageHour.output_tokens),
            func.sum(UsageHour.cost_nanos),
            func.sum(UsageHour.billed_nanos),
        )
        .where(col(UsageHour.organization_id) == organization_id)
        .where(col(UsageHour.hour) >= first)
        .where(col(UsageHour.hour) < last)
        .group_by(day, UsageHour.model_id, UsageHour.project_id)
        .order_by(day, UsageHour.model_id, UsageHour.project_id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["date", "model", "project_id", "requests", "input_tokens", "output_tokens", "cost_usd", "billed_usd"]
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for day_no, model, project, requests, tokens_in, tokens_out, cost, billed in rows:
        date = (epoch + timedelta(days=int(day_no))).date().isoformat()
        writer.writerow(
            [
                date,
                model,
                project,
                requests,
                tokens_in,
                tokens_out,
                format_amount(int(cost)),
                format_amount(int(billed)),
            ]
        )
    return out.getvalue()
