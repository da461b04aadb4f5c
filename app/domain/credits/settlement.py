"""Month-end settlement: usage that no grant covered (a debt, the negative balance) is charged once a month.

After a calendar month (UTC) ends, each organization that has owed since before it, at least the
providers' smallest charge, is charged the debt's whole cents under the key ``settlement:{org}:{YYYY-MM}``; a failed
settlement is retried after a pause under ``…:retry-{n}``, a few times a month at most. The amount is
decided under the account's lock and marked as settling, so that a purchase made meanwhile does not
pay the same debt again; the debt is cleared only when the charge succeeds (the SETTLEMENT handler).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database, organization_changed
from app.domain.billing import charges
from app.domain.billing.accounts import default_payment_method
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.ledger import ACCOUNT, append_entry, cover_debt, lock_account, move
from app.domain.credits.models import EntryKind
from app.domain.credits.notices import dollars, email_admins
from app.domain.credits.periods import month_start, previous_period
from app.domain.errors import Conflict
from app.domain.money import NANOS_PER_CENT, cents_to_nanos
from app.payments.facade import Payments
from app.settings import Settings

logger = logging.getLogger(__name__)


async def settle_debts(db: Database, *, payments: Payments, settings: Settings, retry: bool = False) -> int:
    """Charge each due organization's debt for the month that ended (or retry a failed one); returns how many charged."""
    minimum = settings.credits_min_charge_cents * NANOS_PER_CENT
    async with db.reader() as session:
        owing = list(
            await session.scalars(
                select(ACCOUNT.c.organization_id)
                .where(ACCOUNT.c.debt_nanos - ACCOUNT.c.settling_nanos >= minimum)
                .where(ACCOUNT.c.debt_since < month_start(clock.now()))  # owed since a month that ended
            )
        )
    charged = 0
    for organization_id in owing:
        try:
            charge_id = await _start(db, organization_id, settings=settings, retry=retry)
            if charge_id is not None:
                await charges.collect(db, charge_id, payments=payments)
                charged += 1
        except Exception:  # noqa: BLE001  (one organization's trouble must not stop the others)
            logger.exception("settlement of %s failed", organization_id)
    return charged


async def _start(db: Database, organization_id: str, *, settings: Settings, retry: bool) -> str | None:
    """Record the settlement charge under the account's lock, or None when none is due now."""
    now = clock.now()
    period = previous_period(now)
    key = f"settlement:{organization_id}:{period}"
    async with db.transaction() as session:
        account = await lock_account(session, organization_id)
        if account.settling_nanos or account.debt_since is None or account.debt_since >= month_start(now):
            return None  # one settlement at a time, for debt owed since a month that ended
        earlier = list(
            await session.scalars(
                select(Charge)
                .where(col(Charge.organization_id) == organization_id)
                .where(col(Charge.purpose) == ChargePurpose.SETTLEMENT)
                .where(col(Charge.idempotency_key).startswith(key, autoescape=True))
                .order_by(col(Charge.created_at))
            )
        )
        if retry:
            last = earlier[-1] if earlier else None
            due = (
                last is not None
                and last.status not in (ChargeStatus.SUCCEEDED, ChargeStatus.PENDING)
                and last.settled_at is not None
                and last.settled_at <= now - timedelta(hours=settings.credits_settlement_retry_hours)
                and len(earlier) < settings.credits_settlement_max_attempts
            )
            if not due:
                return None
            key = f"{key}:retry-{len(earlier)}"
        elif earlier:
            return None  # this month's settlement was made; retries are the retry job's
        cents = (account.debt_nanos - account.settling_nanos) // NANOS_PER_CENT
        if cents < settings.credits_min_charge_cents:
            return None
        try:
            await default_payment_method(session, organization_id)
        except Conflict:
            logger.warning("settlement of %s waits for a payment method", organization_id)
            return None
        charge = await charges.record(
            session,
            organization_id=organization_id,
            purpose=ChargePurpose.SETTLEMENT,
            amount_cents=cents,
            description=f"Inference usage beyond credits, {period}",
            idempotency_key=key,
            details={"period": period},
        )
        await move(session, organization_id, settling=cents_to_nanos(cents))
        return charge.id


async def settled(session: AsyncSession, charge: Charge) -> None:
    """The SETTLEMENT success handler: the debt paid, with its ledger entry."""
    amount = cents_to_nanos(charge.amount_cents)
    state = await move(session, charge.organization_id, amount, debt=-amount, settling=-amount)
    await append_entry(
        session,
        charge.organization_id,
        EntryKind.SETTLEMENT,
        amount,
        state.balance_nanos,
        reference=charge.idempotency_key,
        charge_id=charge.id,
    )
    organization_changed(session, charge.organization_id)  # the balance is back up: the fleet's view too


async def settlement_failed(session: AsyncSession, charge: Charge) -> None:
    """The SETTLEMENT failure handler: the debt stays (less what credits pay now), the admins told."""
    amount = cents_to_nanos(charge.amount_cents)
    state = await move(session, charge.organization_id, settling=-amount)
    # credits bought while the charge was pending pay the debt now
    state = await cover_debt(session, charge.organization_id, state)
    if state.debt_nanos <= 0:
        return
    await email_admins(
        session,
        charge.organization_id,
        subject="usage beyond your credits could not be charged",
        body=(
            f"Usage beyond your credits of {dollars(state.debt_nanos)} could not be charged to your card: "
            f"{charge.message or 'the payment failed'}\nUpdate the payment method or add credits; "
            "the charge is tried again later."
        ),
    )
