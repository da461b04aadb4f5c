"""Work stuck for too long: charges still pending, auto-recharges that never came back, usage not folded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.models import CreditAccount
from app.domain.usage.pending import PendingRow


@dataclass(frozen=True)
class RechargeInFlight:
    organization_id: str
    since: datetime  # the account's last change: when the recharge was claimed
    charge: Charge | None  # the attempt's charge, if it was made


async def pending_charges(db: Database, older_than: timedelta) -> list[Charge]:
    """Charges whose outcome is still unknown after `older_than`, oldest first."""
    async with db.reader() as session:
        return list(
            await session.scalars(
                select(Charge)
                .where(col(Charge.status) == ChargeStatus.PENDING)
                .where(col(Charge.created_at) <= clock.now() - older_than)
                .order_by(col(Charge.created_at))
            )
        )


async def recharges_in_flight(db: Database, older_than: timedelta = timedelta(0)) -> list[RechargeInFlight]:
    """Accounts holding an auto-recharge claim since at least `older_than`, with the claim's charge."""
    async with db.reader() as session:
        accounts = list(
            await session.scalars(
                select(CreditAccount)
                .where(col(CreditAccount.auto_recharge_in_flight).is_(True))
                .where(col(CreditAccount.updated_at) <= clock.now() - older_than)
                .order_by(col(CreditAccount.updated_at))
            )
        )
        found = []
        for account in accounts:
            key = f"auto-recharge:{account.organization_id}:{account.auto_recharge_seq}"
            charge = await session.scalar(
                select(Charge)
                .where(col(Charge.purpose) == ChargePurpose.AUTO_RECHARGE)
                .where(col(Charge.idempotency_key) == key)
            )
            found.append(RechargeInFlight(account.organization_id, account.updated_at, charge))
    return found


def charge_line(charge: Charge) -> str:
    age = clock.now() - charge.created_at
    return (
        f"{charge.created_at:%Y-%m-%d %H:%M:%S}Z {charge.id} {charge.purpose.value} org={charge.organization_id} "
        f"amount={charge.amount_cents / 100:.2f} {charge.currency.upper()} attempts={charge.attempts} "
        f"pending for {_duration(age)} ref={charge.provider_charge_ref or '-'} key={charge.idempotency_key}"
    )


def recharge_line(found: RechargeInFlight) -> str:
    charge = f"charge {found.charge.id} {found.charge.status.value}" if found.charge else "no charge made yet"
    return f"org={found.organization_id} in flight for {_duration(clock.now() - found.since)}: {charge}"


def pending_usage_line(row: PendingRow, *, set_aside: bool = False) -> str:
    stored = datetime.fromtimestamp(row.minute * 60, UTC)
    held = f"unreadable sums: {row.problem}" if row.problem else f"{row.sums} sums"
    aside = " (the fold just now could not fold it: see the log above)" if set_aside else ""
    return (
        f"{stored:%Y-%m-%d %H:%M}Z row {row.id}, pending for {_duration(clock.now() - stored)}: {held}{aside}"
    )


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    return f"{seconds // 60}m{seconds % 60}s"


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1d` (a bare number is minutes)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "m")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h, 1d)") from None
    if value < 0:
        raise ValueError(f"not a duration: {text!r} (negative)")
    return timedelta(**{units[unit]: value})
