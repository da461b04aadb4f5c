"""Buying credits, and staff's promotional grants: credits only ever come from a succeeded charge or staff.

A purchase is charged first under an idempotency key naming it (the console's own key, or one made
here), so a retried click never charges twice; the grant is created by the PURCHASE handler in the
transaction that records the charge's success, so it exists exactly when the charge succeeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.base import new_id
from app.domain.billing import charges
from app.domain.billing.models import Charge, ChargePurpose
from app.domain.credits.access import require_team_admin
from app.domain.credits.amounts import parse_nanos
from app.domain.credits.auto_recharge import AutoRechargeConfig, configure_auto_recharge
from app.domain.credits.ledger import balance_of, create_grant, grant_paid
from app.domain.credits.models import AutoRechargeAttempt, CreditGrant, GrantSource
from app.domain.credits.notices import dollars
from app.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from app.domain.money import NANOS_PER_CENT, cents_to_nanos
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.validation import clean_name
from app.payments.facade import Payments
from app.settings import Settings

_CLIENT_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,100}")
PROMOTION_MAX_LIFETIME = timedelta(days=5 * 366)


@dataclass(frozen=True, slots=True)
class Purchase:
    """A completed purchase: the charge, the grant it bought, the balance after, and any auto-recharge set up."""

    charge: Charge
    grant: CreditGrant
    balance_nanos: int
    recharge: AutoRechargeAttempt | None = None


def purchase_key(organization_id: str, client_key: str | None) -> str:
    """The charge's idempotency key: the console's key for this click, or a fresh purchase id."""
    if client_key is None:
        return f"purchase:{organization_id}:{new_id('buy')}"
    if not _CLIENT_KEY.fullmatch(client_key):
        raise InvalidInput(
            "The idempotency key must be 8 to 100 letters, digits or `_.:-` (a UUID will do).",
            field="idempotencyKey",
        )
    return f"purchase:{organization_id}:{client_key}"


def purchase_amount(amount: str, settings: Settings) -> int:
    """The cents of a purchase amount within the configured minimum and maximum."""
    nanos = parse_nanos(
        amount,
        field="amount",
        minimum_cents=settings.credits_purchase_min_cents,
        maximum_cents=settings.credits_purchase_max_cents,
    )
    return nanos // NANOS_PER_CENT


async def add_credits(
    db: Database,
    actor: Actor,
    organization_id: str,
    *,
    payments: Payments,
    amount: str,
    idempotency_key: str | None,
    settings: Settings,
    auto_recharge: AutoRechargeConfig | None = None,
) -> Purchase:
    """Charge the organization's card and grant the credits; a decline raises PaymentFailed, granting nothing.

    With ``auto_recharge``, auto-recharge is enabled once the purchase succeeded.
    """
    amount_cents = purchase_amount(amount, settings)
    async with db.reader() as session:
        await require_team_admin(session, actor, organization_id)
    key = purchase_key(organization_id, idempotency_key)
    settled = await charges.charge(
        db,
        payments=payments,
        organization_id=organization_id,
        purpose=ChargePurpose.PURCHASE,
        amount_cents=amount_cents,
        description=f"Inference credits {dollars(cents_to_nanos(amount_cents))}",
        idempotency_key=key,
        details={"requested_by": actor.user_id},
    )
    if settled.amount_cents != amount_cents:
        raise Conflict(
            "This idempotency key was used for a purchase of another amount: use a new key.",
            field="idempotencyKey",
        )
    charges.require_success(settled)
    recharge = None
    if auto_recharge is not None:
        recharge = await configure_auto_recharge(
            db, actor, organization_id, auto_recharge, payments=payments, settings=settings
        )
    async with db.reader() as session:
        grant = await session.scalar(select(CreditGrant).where(col(CreditGrant.charge_id) == settled.id))
        balance = await balance_of(session, organization_id)
    assert grant is not None, "a succeeded purchase has its grant"
    return Purchase(settled, grant, balance, recharge)


async def grant_purchase(session: AsyncSession, charge: Charge) -> None:
    """The PURCHASE success handler: the credits bought."""
    await grant_paid(session, charge, GrantSource.PURCHASE)


async def grant_promotional_credits(
    session: AsyncSession,
    actor: Actor,
    organization_id: str,
    *,
    amount: str,
    expires_at: datetime,
    note: str,
    settings: Settings,
) -> CreditGrant:
    """Staff only: credits with their own expiry, burned before paid ones; no charge behind them."""
    if not actor.is_staff:
        raise Forbidden("Only platform staff grant promotional credits.")
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("No organization with this ID.", field="organizationId")
    if organization.type is not OrganizationType.TEAM:
        raise Conflict(
            "Promotional credits are for Team organizations; Personal ones have free usage.",
            code=ErrorCode.PERSONAL_ORGANIZATION,
        )
    nanos = parse_nanos(
        amount, field="amount", minimum_cents=1, maximum_cents=settings.credits_purchase_max_cents
    )
    now = clock.now()
    expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if not now < expires_at <= now + PROMOTION_MAX_LIFETIME:
        raise InvalidInput(
            "The expiry must be in the future, at most five years from now.", field="expiresAt"
        )
    return await create_grant(
        session,
        organization_id,
        source=GrantSource.PROMOTIONAL,
        amount_nanos=nanos,
        bought_at=now,
        expires_at=expires_at,
        granted_by=actor.user_id,
        note=clean_name(note, field="note", max_length=200),
        reference=f"promotional:{actor.user_id}",
    )
