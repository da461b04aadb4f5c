"""Staff's custom terms: set or remove an organization's own PayGo limits for a model."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import organization_changed
from app.domain.actor import Actor
from app.domain.catalog.models import Catalog, RateLimits
from app.domain.errors import ErrorCode, Forbidden, InvalidInput, NotFound
from app.domain.orgs.access import ORG_NOT_FOUND
from app.domain.orgs.models import Organization
from app.domain.plans.models import ModelLimitOverride

MAX_LIMIT = 10**12


def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("Only platform staff set custom limits; customers contact support.")


async def _organization(session: AsyncSession, organization_id: str) -> Organization:
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(ORG_NOT_FOUND, field="organizationId")
    return organization


async def set_limit_override(
    session: AsyncSession,
    actor: Actor,
    organization_id: str,
    *,
    catalog: Catalog,
    model_id: str,
    limits: RateLimits,
) -> ModelLimitOverride:
    """Staff: replace the model's PayGo limits for this organization (recorded with who and when)."""
    _require_staff(actor)
    await _organization(session, organization_id)
    if catalog.model(model_id) is None:
        raise NotFound(f"No model '{model_id}' in the catalog.", code=ErrorCode.UNKNOWN_MODEL, field="model")
    if limits.requests_per_minute is None or limits.tokens_per_minute is None:
        raise InvalidInput("Requests and tokens per minute are required.", code=ErrorCode.REQUIRED)
    for window in fields(limits):
        value = getattr(limits, window.name)
        if value is not None and not 1 <= value <= MAX_LIMIT:
            name = "".join(part.title() if i else part for i, part in enumerate(window.name.split("_")))
            raise InvalidInput(f"A limit must be between 1 and {MAX_LIMIT:,}.", field=name)
    row = await session.get(ModelLimitOverride, (organization_id, model_id), with_for_update=True)
    if row is None:
        row = ModelLimitOverride(
            organization_id=organization_id,
            model_id=model_id,
            requests_per_minute=limits.requests_per_minute,
            tokens_per_minute=limits.tokens_per_minute,
            set_by=actor.user_id,
        )
    for window in fields(limits):
        setattr(row, window.name, getattr(limits, window.name))
    row.set_by, row.set_at = actor.user_id, clock.now()
    session.add(row)
    await session.flush()
    organization_changed(session, organization_id)
    return row


async def remove_limit_override(
    session: AsyncSession, actor: Actor, organization_id: str, *, model_id: str
) -> bool:
    """Staff: back to the model's PayGo limits; False when there was no override."""
    _require_staff(actor)
    await _organization(session, organization_id)
    row = await session.get(ModelLimitOverride, (organization_id, model_id), with_for_update=True)
    if row is None:
        return False
    await session.delete(row)
    organization_changed(session, organization_id)
    return True
