"""Reads for the console: the account's figures and the histories, newest first (paged by the caller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.credits.auto_recharge import spent_this_month
from app.domain.credits.models import (
    AutoRechargeAttempt,
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantState,
    RefundRequest,
)


@dataclass(frozen=True, slots=True)
class CreditSummary:
    """An organization's credit figures and auto-recharge settings as the console shows them."""

    balance_nanos: int
    debt_nanos: int
    auto_recharge_enabled: bool
    auto_recharge_threshold_nanos: int
    auto_recharge_to_nanos: int
    auto_recharge_monthly_cap_nanos: int | None
    auto_recharge_spent_this_month_nanos: int
    auto_recharge_failures: int
    auto_recharge_paused_until: datetime | None


async def credit_summary(session: AsyncSession, organization_id: str) -> CreditSummary:
    """The figures of the organization's credit account (all zero before its first credits)."""
    account = await session.get(CreditAccount, organization_id) or CreditAccount(
        organization_id=organization_id
    )
    return CreditSummary(
        balance_nanos=account.balance_nanos,
        debt_nanos=account.debt_nanos,
        auto_recharge_enabled=account.auto_recharge_enabled,
        auto_recharge_threshold_nanos=account.auto_recharge_threshold_nanos,
        auto_recharge_to_nanos=account.auto_recharge_to_nanos,
        auto_recharge_monthly_cap_nanos=account.auto_recharge_monthly_cap_nanos,
        auto_recharge_spent_this_month_nanos=await spent_this_month(session, organization_id, clock.now()),
        auto_recharge_failures=account.auto_recharge_failures,
        auto_recharge_paused_until=account.auto_recharge_paused_until,
    )


def grants(organization_id: str, state: GrantState | None = None) -> Select[Any]:
    """The grant history, newest first, optionally of one state."""
    query = select(CreditGrant).where(col(CreditGrant.organization_id) == organization_id)
    if state is not None:
        query = query.where(col(CreditGrant.state) == state)
    return query.order_by(col(CreditGrant.bought_at).desc(), col(CreditGrant.id).desc())


def ledger(organization_id: str, kind: EntryKind | None = None) -> Select[Any]:
    """The ledger entries, newest first, optionally of one kind."""
    query = select(CreditLedgerEntry).where(col(CreditLedgerEntry.organization_id) == organization_id)
    if kind is not None:
        query = query.where(col(CreditLedgerEntry.kind) == kind)
    return query.order_by(col(CreditLedgerEntry.created_at).desc(), col(CreditLedgerEntry.id).desc())


def auto_recharge_attempts(organization_id: str) -> Select[Any]:
    """The auto-recharge attempts, newest first."""
    return (
        select(AutoRechargeAttempt)
        .where(col(AutoRechargeAttempt.organization_id) == organization_id)
        .order_by(col(AutoRechargeAttempt.attempt_no).desc())
    )


def refund_requests(organization_id: str) -> Select[Any]:
    """The refund requests and their decisions, newest first."""
    return (
        select(RefundRequest)
        .where(col(RefundRequest.organization_id) == organization_id)
        .order_by(col(RefundRequest.created_at).desc(), col(RefundRequest.id).desc())
    )


async def consumptions_of_entry(session: AsyncSession, entry_id: str) -> list[CreditConsumption]:
    """Which grants a debit used, and how much of each."""
    rows = await session.scalars(
        select(CreditConsumption)
        .where(col(CreditConsumption.entry_id) == entry_id)
        .order_by(col(CreditConsumption.id))
    )
    return list(rows)
