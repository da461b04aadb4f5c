"""Credits expire one year after purchase (promotional ones when staff said): what is left leaves the balance."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.credits.ledger import lock_account, take_from_grant
from app.domain.credits.models import CreditGrant, EntryKind, GrantState


async def expire_grants(db: Database) -> int:
    """Expire every grant past its expiry, with an EXPIRY entry for what remained; returns how many."""
    now = clock.now()
    async with db.reader() as session:
        organizations = list(
            await session.scalars(
                select(col(CreditGrant.organization_id))
                .where(col(CreditGrant.state) == GrantState.ACTIVE)
                .where(col(CreditGrant.expires_at) <= now)
                .distinct()
            )
        )
    expired = 0
    for organization_id in organizations:
        async with db.transaction() as session:
            await lock_account(session, organization_id)  # grants change only under the account's lock
            due = await session.scalars(
                select(CreditGrant)
                .where(col(CreditGrant.organization_id) == organization_id)
                .where(col(CreditGrant.state) == GrantState.ACTIVE)
                .where(col(CreditGrant.expires_at) <= now)
                .order_by(col(CreditGrant.expires_at), col(CreditGrant.id))
                .execution_options(populate_existing=True)
            )
            for grant in due:
                if grant.remaining_nanos > 0:
                    await take_from_grant(
                        session, grant, grant.remaining_nanos, EntryKind.EXPIRY, f"expired {grant.id}"
                    )
                grant.state = GrantState.EXPIRED
                session.add(grant)
                expired += 1
    return expired
