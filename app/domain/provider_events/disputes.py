"""Disputes move money: what is left of the disputed charge's credits is held, then given back or gone.

``charge.dispute.created`` holds what is left of the credits that charge bought (a DISPUTE_HOLD
ledger entry, so the balance stays the sum of its entries); ``charge.dispute.closed`` gives them
back when the dispute is won (DISPUTE_RELEASE) and leaves them gone when it is lost. The admins are
emailed at each step. Charges that bought no credits (settlement, subscriptions) are recorded and told.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.billing.models import Charge
from app.domain.credits.ledger import give_back_to_grant, lock_account, take_from_grant
from app.domain.credits.models import CreditGrant, EntryKind, GrantState
from app.domain.credits.notices import dollars, email_admins
from app.domain.money import cents_to_nanos, format_cents
from app.domain.provider_events.models import ChargeDispute

# Stripe's closing statuses that leave the money with the merchant: won, or an inquiry closed with a warning
_DECIDED_FOR_US = {"won", "warning_closed"}


async def dispute_created(session: AsyncSession, charge: Charge, obj: Mapping[str, Any]) -> str:
    """Record the dispute, hold what is left of the credits the charge bought, and tell the admins."""
    ref = str(obj["id"])
    if await _dispute(session, ref) is not None:
        return f"dispute {ref} already recorded"
    dispute = ChargeDispute(
        charge_id=charge.id,
        organization_id=charge.organization_id,
        provider_dispute_ref=ref,
        amount_cents=int(obj.get("amount") or charge.amount_cents),
        currency=str(obj.get("currency") or charge.currency),
        reason=str(obj.get("reason") or "general")[:64],
        status=str(obj.get("status") or "needs_response")[:64],
    )
    await lock_account(session, charge.organization_id)
    grant = await session.scalar(
        select(CreditGrant).where(col(CreditGrant.charge_id) == charge.id).with_for_update()
    )
    if grant is not None:
        dispute.grant_id = grant.id
        dispute.held_nanos = min(grant.remaining_nanos, cents_to_nanos(dispute.amount_cents))
        if dispute.held_nanos > 0:
            await take_from_grant(
                session, grant, dispute.held_nanos, EntryKind.DISPUTE_HOLD, f"dispute {ref}"
            )
    session.add(dispute)
    await session.flush()
    held = (
        f"{dollars(dispute.held_nanos)} of the credits it bought are held until the dispute is resolved."
        if dispute.held_nanos
        else "The amount is held by the bank until the dispute is resolved."
    )
    sent = await email_admins(
        session,
        charge.organization_id,
        subject="a card payment was disputed",
        body=(
            f"The bank of the card that paid {format_cents(dispute.amount_cents, dispute.currency)} "
            f"({charge.description}, charge {charge.id}) disputes the payment; reason: {dispute.reason}.\n"
            f"{held} If you did not ask your bank for it, contact support with what the payment bought."
        ),
        notice=None,  # a security notice: the admins only, always
    )
    return f"charge {charge.id}: dispute {dispute.id} recorded, {dispute.held_nanos} held, {sent} admin(s) emailed"


async def dispute_closed(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """Give the held credits back when the dispute was decided for us; they stay gone when it was lost."""
    dispute = await _dispute(session, str(obj["id"]))
    if dispute is None:
        return "no matching dispute"
    if dispute.closed_at is not None:
        return f"dispute {dispute.id} already closed ({dispute.status})"
    dispute.status, dispute.closed_at = str(obj.get("status") or "lost")[:64], clock.now()
    won = dispute.status in _DECIDED_FOR_US
    released = 0
    if won and dispute.held_nanos and dispute.grant_id:
        await lock_account(session, dispute.organization_id)
        grant = await session.get(CreditGrant, dispute.grant_id, with_for_update=True, populate_existing=True)
        if grant is not None and grant.state is not GrantState.EXPIRED:
            released = dispute.held_nanos
            reference = f"dispute {dispute.provider_dispute_ref}"
            await give_back_to_grant(session, grant, released, EntryKind.DISPUTE_RELEASE, reference)
    session.add(dispute)
    if won:
        outcome = "was decided in your favour"
        detail = f"{dollars(released)} of held credits are usable again." if released else "Nothing was held."
    else:
        outcome = "was lost"
        detail = (
            f"The {dollars(dispute.held_nanos)} of credits held are removed for good."
            if dispute.held_nanos
            else "The bank keeps the disputed amount."
        )
    await email_admins(
        session,
        dispute.organization_id,
        subject=f"a card payment dispute {outcome}",
        body=f"The dispute of {format_cents(dispute.amount_cents, dispute.currency)} {outcome}. {detail}",
        notice=None,  # a security notice: the admins only, always
    )
    return f"dispute {dispute.id} {dispute.status}: {released} released"


async def _dispute(session: AsyncSession, ref: str) -> ChargeDispute | None:
    query = select(ChargeDispute).where(col(ChargeDispute.provider_dispute_ref) == ref).with_for_update()
    return await session.scalar(query)
