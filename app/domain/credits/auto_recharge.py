"""Auto-recharge: when usage takes the balance below the threshold, one charge up to the recharge-to amount.

However many burns cross the threshold together, one caller claims the recharge with a conditional
UPDATE of the account row (enabled, below the threshold, not paused, none in flight): it takes the
next attempt number, and ``auto-recharge:{org}:{n}`` names the charge. The charge is made after that
transaction commits, outside it, and its outcome is applied by the AUTO_RECHARGE handlers in the
transaction that settles it (see app.domain.charge_handlers): a grant on success; on failure a recorded attempt, an email to the admins,
an hour's pause, and after three failures in a row auto-recharge switched off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing import charges
from app.domain.billing.accounts import default_payment_method
from app.domain.billing.models import Charge, ChargePurpose
from app.domain.credits.access import require_team_admin
from app.domain.credits.amounts import parse_nanos
from app.domain.credits.ledger import ACCOUNT, auto_recharge_due, balance_of, grant_paid, lock_account
from app.domain.credits.models import AttemptStatus, AutoRechargeAttempt, CreditAccount, GrantSource
from app.domain.credits.notices import dollars, email_admins
from app.domain.credits.periods import month_start, next_month_start
from app.domain.errors import Conflict, InvalidInput
from app.domain.money import NANOS_PER_CENT, cents_to_nanos, nanos_to_cents_up
from app.payments.facade import Payments
from app.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MAX_FAILURES = 3
RETRY_AFTER = timedelta(hours=1)  # a declined card is not asked again at every burn


@dataclass(frozen=True, slots=True)
class AutoRechargeConfig:
    """Checked auto-recharge settings, in nanos."""

    threshold_nanos: int
    recharge_to_nanos: int
    monthly_cap_nanos: int | None


def auto_recharge_config(
    *, threshold: str, recharge_to: str, monthly_cap: str | None, settings: Settings
) -> AutoRechargeConfig:
    """Parse and check the settings: recharge-to above the threshold, amounts in whole cents, within limits."""
    top = settings.credits_purchase_max_cents
    threshold_nanos = parse_nanos(threshold, field="threshold", maximum_cents=top)
    recharge_to_nanos = parse_nanos(
        recharge_to, field="rechargeTo", minimum_cents=settings.credits_min_charge_cents, maximum_cents=top
    )
    if recharge_to_nanos <= threshold_nanos:
        raise InvalidInput("The recharge-to amount must be greater than the threshold.", field="rechargeTo")
    cap = None
    if monthly_cap is not None and monthly_cap.strip():
        cap = parse_nanos(monthly_cap, field="monthlyCap", minimum_cents=settings.credits_min_charge_cents)
    return AutoRechargeConfig(threshold_nanos, recharge_to_nanos, cap)


async def configure_auto_recharge(
    db: Database,
    actor: Actor,
    organization_id: str,
    config: AutoRechargeConfig,
    *,
    payments: Payments,
    settings: Settings,
) -> AutoRechargeAttempt | None:
    """Enable (or change) auto-recharge; below the threshold already, it recharges at once (the attempt is returned)."""
    async with db.transaction() as session:
        await require_team_admin(session, actor, organization_id)
        account = await lock_account(session, organization_id)
        account.auto_recharge_enabled = True
        account.auto_recharge_threshold_nanos = config.threshold_nanos
        account.auto_recharge_to_nanos = config.recharge_to_nanos
        account.auto_recharge_monthly_cap_nanos = config.monthly_cap_nanos
        account.auto_recharge_failures = 0
        account.auto_recharge_paused_until = None
        account.updated_at = clock.now()
        session.add(account)
    return await maybe_auto_recharge(db, organization_id, payments=payments, settings=settings)


async def disable_auto_recharge(session: AsyncSession, actor: Actor, organization_id: str) -> CreditAccount:
    """Switch auto-recharge off; a recharge already at the provider still completes."""
    await require_team_admin(session, actor, organization_id)
    account = await lock_account(session, organization_id)
    account.auto_recharge_enabled = False
    account.updated_at = clock.now()
    session.add(account)
    return account


async def maybe_auto_recharge(
    db: Database, organization_id: str, *, payments: Payments, settings: Settings | None = None
) -> AutoRechargeAttempt | None:
    """Recharge once if the balance is below the threshold; call it after the burning transaction commits.

    Returns the attempt made (SUCCEEDED, FAILED, SKIPPED by the monthly cap, or PENDING when the
    provider did not answer), or None when nothing is due or another caller already holds the recharge.
    """
    settings = settings or get_settings()
    now = clock.now()
    async with db.transaction() as session:
        claimed = (
            await session.execute(
                update(ACCOUNT)
                .where(ACCOUNT.c.organization_id == organization_id)
                .where(auto_recharge_due(now))
                .values(
                    auto_recharge_in_flight=True,
                    auto_recharge_seq=ACCOUNT.c.auto_recharge_seq + 1,
                    updated_at=now,
                )
                .returning(
                    ACCOUNT.c.auto_recharge_seq,
                    ACCOUNT.c.balance_nanos,
                    ACCOUNT.c.auto_recharge_to_nanos,
                    ACCOUNT.c.auto_recharge_monthly_cap_nanos,
                )
            )
        ).first()
        if claimed is None:
            return None
        attempt_no, balance, recharge_to, cap = claimed
        attempt = AutoRechargeAttempt(
            organization_id=organization_id, attempt_no=attempt_no, balance_before_nanos=balance
        )
        session.add(attempt)
        cents = max(nanos_to_cents_up(recharge_to - balance), settings.credits_min_charge_cents)
        if cap is not None:
            room = (cap - await spent_this_month(session, organization_id, now)) // NANOS_PER_CENT
            if room < settings.credits_min_charge_cents:
                _end(attempt, AttemptStatus.SKIPPED, f"The monthly cap of {dollars(cap)} is reached.")
                await _release(session, organization_id, paused_until=next_month_start(now))
                return attempt
            cents = min(cents, room)
        try:
            await default_payment_method(session, organization_id)
        except Conflict as exc:
            _end(attempt, AttemptStatus.FAILED, exc.message)
            await _record_failure(session, attempt)
            return attempt
        attempt.amount_nanos = cents_to_nanos(cents)
        charge = await charges.record(
            session,
            organization_id=organization_id,
            purpose=ChargePurpose.AUTO_RECHARGE,
            amount_cents=cents,
            description=f"Inference credits auto-recharge {dollars(attempt.amount_nanos)}",
            idempotency_key=f"auto-recharge:{organization_id}:{attempt_no}",
            details={"attempt_no": attempt_no},
        )
        attempt.charge_id = charge.id
    await charges.collect(db, charge.id, payments=payments)
    async with db.reader() as session:
        return await session.get(AutoRechargeAttempt, attempt.id)


async def recharge_due_accounts(db: Database, *, payments: Payments, settings: Settings | None = None) -> int:
    """Recharge every account that is due (a crash after a burn, a pause that ended); returns the attempts made."""
    now = clock.now()
    async with db.reader() as session:
        due = list(await session.scalars(select(ACCOUNT.c.organization_id).where(auto_recharge_due(now))))
    made = 0
    for organization_id in due:
        try:
            made += (
                await maybe_auto_recharge(db, organization_id, payments=payments, settings=settings)
                is not None
            )
        except Exception:  # noqa: BLE001  (one organization's trouble must not stop the others)
            logger.exception("auto-recharge of %s failed", organization_id)
    return made


async def spent_this_month(session: AsyncSession, organization_id: str, now: datetime) -> int:
    """What auto-recharge charged (or is charging) this calendar month."""
    spent = await session.scalar(
        select(func.coalesce(func.sum(col(AutoRechargeAttempt.amount_nanos)), 0))
        .where(col(AutoRechargeAttempt.organization_id) == organization_id)
        .where(col(AutoRechargeAttempt.status).in_([AttemptStatus.PENDING, AttemptStatus.SUCCEEDED]))
        .where(col(AutoRechargeAttempt.created_at) >= month_start(now))
    )
    return int(spent or 0)


def _end(attempt: AutoRechargeAttempt, status: AttemptStatus, message: str | None = None) -> None:
    attempt.status, attempt.message, attempt.settled_at = status, message, clock.now()


async def _release(
    session: AsyncSession, organization_id: str, *, paused_until: datetime | None, **values: object
) -> None:
    await session.execute(
        update(ACCOUNT)
        .where(ACCOUNT.c.organization_id == organization_id)
        .values(auto_recharge_in_flight=False, auto_recharge_paused_until=paused_until, **values)
    )


async def _attempt_of(session: AsyncSession, charge: Charge) -> AutoRechargeAttempt | None:
    return await session.scalar(
        select(AutoRechargeAttempt).where(col(AutoRechargeAttempt.charge_id) == charge.id)
    )


async def _record_failure(session: AsyncSession, attempt: AutoRechargeAttempt) -> None:
    """Count a failure in a row, pause, switch off at the third, and tell the admins."""
    organization_id = attempt.organization_id
    await session.flush()
    failures = (
        await session.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.organization_id == organization_id)
            .values(
                auto_recharge_in_flight=False,
                auto_recharge_failures=ACCOUNT.c.auto_recharge_failures + 1,
                auto_recharge_paused_until=clock.now() + RETRY_AFTER,
            )
            .returning(ACCOUNT.c.auto_recharge_failures)
        )
    ).scalar_one()
    switched_off = failures >= MAX_FAILURES
    if switched_off:
        await session.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.organization_id == organization_id)
            .values(auto_recharge_enabled=False)
        )
    balance = await balance_of(session, organization_id)
    what = (
        f"Auto-recharge could not add {dollars(attempt.amount_nanos)} of credits"
        if attempt.amount_nanos
        else ("Auto-recharge could not add credits")
    )
    body = f"{what}: {attempt.message or 'the payment failed'}\nYour balance is {dollars(balance)}.\n\n"
    if switched_off:
        body += (
            f"After {MAX_FAILURES} failed recharges in a row, auto-recharge is now off. Update the payment "
            "method, then enable auto-recharge again."
        )
    else:
        body += f"It is tried again in an hour; after {MAX_FAILURES} failures in a row it switches off."
    subject = "auto-recharge failed and was switched off" if switched_off else "auto-recharge failed"
    await email_admins(session, organization_id, subject=subject, body=body)


async def recharged(session: AsyncSession, charge: Charge) -> None:
    """The AUTO_RECHARGE success handler: the credits, the attempt succeeded, the account released."""
    await grant_paid(session, charge, GrantSource.AUTO_RECHARGE)
    attempt = await _attempt_of(session, charge)
    if attempt is not None:
        _end(attempt, AttemptStatus.SUCCEEDED)
        session.add(attempt)
    await _release(session, charge.organization_id, paused_until=None, auto_recharge_failures=0)


async def recharge_failed(session: AsyncSession, charge: Charge) -> None:
    """The AUTO_RECHARGE failure handler: the attempt failed, counted, the admins told."""
    attempt = await _attempt_of(session, charge)
    if attempt is None:
        return
    _end(attempt, AttemptStatus.FAILED, charge.message or "The payment failed.")
    attempt.decline_code = charge.decline_code
    session.add(attempt)
    await _record_failure(session, attempt)
