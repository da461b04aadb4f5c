"""Refund requests: the payment plugins decide; the shipped policy refuses ("All purchases are final").

Every request is recorded with the decision. When a partner's policy approves, the credits are taken
back from the grant first (never more than it has left), then the provider refunds them under the key
``refund:{request}``; if the provider does not answer, the retry job asks again with the same key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.errors import PaymentUnavailable
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.credits.amounts import parse_nanos
from app.domain.credits.errors import RefundRefused
from app.domain.credits.ledger import lock_account, take_from_grant
from app.domain.credits.models import CreditGrant, EntryKind, GrantSource, RefundRequest, RefundStatus
from app.domain.errors import Conflict, NotFound
from app.domain.money import NANOS_PER_CENT
from app.domain.orgs.access import require_org_admin
from app.domain.validation import clean_name
from app.payments.errors import PaymentProviderError
from app.payments.facade import Payments

logger = logging.getLogger(__name__)
GRANT_NOT_FOUND = "No credit grant with this ID is visible to you."


@dataclass(frozen=True, slots=True)
class _Asked:
    organization_id: str
    grant_id: str
    charge_id: str
    charge_ref: str
    cents: int


async def request_refund(
    db: Database, actor: Actor, grant_id: str, *, payments: Payments, reason: str, amount: str | None = None
) -> RefundRequest:
    """Ask for a purchase's remaining credits (or part of them) back; refused requests raise RefundRefused."""
    reason = clean_name(reason, field="reason", max_length=500)
    async with db.reader() as session:
        asked = await _asked(session, actor, grant_id, amount)
    decision = await payments.refund_decision(
        org_id=asked.organization_id, charge_ref=asked.charge_ref, amount=asked.cents, reason=reason
    )
    async with db.transaction() as session:
        request = RefundRequest(
            organization_id=asked.organization_id,
            grant_id=asked.grant_id,
            charge_id=asked.charge_id,
            requested_by=actor.user_id,
            amount_nanos=asked.cents * NANOS_PER_CENT,
            reason=reason,
            status=RefundStatus.REFUSED,
            decision_reason=decision.reason[:500],
        )
        session.add(request)
        if decision.approved:
            await lock_account(session, asked.organization_id)
            grant = await session.get(CreditGrant, asked.grant_id, populate_existing=True)
            assert grant is not None
            # what is left now, in whole cents: usage since the request is not given back
            taken = min(asked.cents, grant.remaining_nanos // NANOS_PER_CENT) * NANOS_PER_CENT
            if taken > 0:
                await take_from_grant(session, grant, taken, EntryKind.REFUND, f"refund {request.id}")
                request.status, request.refunded_nanos = RefundStatus.APPROVED, taken
            else:
                request.decision_reason = "Approved, but nothing is left of these credits to refund."
    if request.status is RefundStatus.REFUSED:
        raise RefundRefused(f"The refund was refused: {request.decision_reason}")
    return await _refund(db, payments, request.id)


async def retry_refunds(db: Database, *, payments: Payments) -> int:
    """Ask the provider again for approved refunds it has not confirmed; returns how many completed."""
    async with db.reader() as session:
        approved = list(
            await session.scalars(
                select(col(RefundRequest.id)).where(col(RefundRequest.status) == RefundStatus.APPROVED)
            )
        )
    done = 0
    for request_id in approved:
        try:
            done += (await _refund(db, payments, request_id)).status is RefundStatus.REFUNDED
        except PaymentUnavailable:
            continue
    return done


async def _asked(session: AsyncSession, actor: Actor, grant_id: str, amount: str | None) -> _Asked:
    grant = await session.get(CreditGrant, grant_id)
    if grant is None:
        raise NotFound(GRANT_NOT_FOUND, field="grantId")
    await require_org_admin(session, actor, grant.organization_id)
    charge = await session.get(Charge, grant.charge_id) if grant.charge_id else None
    if grant.source is GrantSource.PROMOTIONAL or charge is None or charge.provider_charge_ref is None:
        raise Conflict("Only purchased credits can be refunded.", field="grantId")
    assert charge.status is ChargeStatus.SUCCEEDED
    left = grant.remaining_nanos // NANOS_PER_CENT
    cents = left if amount is None else parse_nanos(amount, field="amount", minimum_cents=1) // NANOS_PER_CENT
    if left == 0:
        raise Conflict("Nothing is left of these credits to refund.", field="grantId")
    return _Asked(grant.organization_id, grant.id, charge.id, charge.provider_charge_ref, min(cents, left))


async def _refund(db: Database, payments: Payments, request_id: str) -> RefundRequest:
    async with db.reader() as session:
        request = await session.get(RefundRequest, request_id)
        assert request is not None
        charge = await session.get(Charge, request.charge_id)
        assert charge is not None and charge.provider_charge_ref is not None
    if request.status is not RefundStatus.APPROVED:
        return request
    try:
        result = await payments.refund(
            charge_ref=charge.provider_charge_ref,
            amount=request.refunded_nanos // NANOS_PER_CENT,
            idempotency_key=f"refund:{request.id}",
            reason=request.reason,
        )
    except PaymentProviderError as exc:
        logger.warning("refund %s not confirmed: %s", request.id, exc)
        raise PaymentUnavailable(
            "The refund is approved and the credits were taken back; the provider did not answer yet, "
            "the refund is retried (never twice)."
        ) from exc
    async with db.transaction() as session:
        stored = await session.get(RefundRequest, request_id, with_for_update=True)
        assert stored is not None
        stored.status, stored.refund_ref = RefundStatus.REFUNDED, result.refund_ref
        session.add(stored)
    return stored
