"""Emails that warn Org Admins in time: a low balance, and credits about to expire (30, then 7 days ahead).

Each is sent once: a conditional UPDATE claims it before the email is queued in the same transaction,
so two replicas running the job at once send it once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.credits.ledger import ACCOUNT, GRANT
from app.domain.credits.models import CreditGrant, GrantState
from app.domain.credits.notices import dollars, email_admins
from app.domain.money import NANOS_PER_CENT
from app.domain.orgs.models import Organization, OrganizationType
from app.settings import Settings

EXPIRY_NOTICE_DAYS = (30, 7)


async def send_low_balance_alerts(db: Database, *, settings: Settings) -> int:
    """Email the admins of each Team organization whose balance fell below the alert level; once per dip."""
    level = settings.credits_low_balance_alert_cents * NANOS_PER_CENT
    async with db.transaction() as session:
        # back above the level: the next dip is announced again
        await session.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.low_balance_notified.is_(True))
            .where(ACCOUNT.c.balance_nanos >= level)
            .values(low_balance_notified=False)
        )
    async with db.reader() as session:
        candidates = list(
            await session.scalars(
                select(ACCOUNT.c.organization_id)
                .join(Organization, col(Organization.id) == ACCOUNT.c.organization_id)
                .where(col(Organization.type) == OrganizationType.TEAM)
                .where(ACCOUNT.c.low_balance_notified.is_(False))
                .where(
                    ACCOUNT.c.auto_recharge_enabled.is_(False)
                )  # auto-recharge tops it up, or emails its failures
                .where(ACCOUNT.c.balance_nanos < level)
                .where(exists().where(GRANT.c.organization_id == ACCOUNT.c.organization_id))
            )
        )
    sent = 0
    for organization_id in candidates:
        async with db.transaction() as session:
            claimed = (
                await session.execute(
                    update(ACCOUNT)
                    .where(ACCOUNT.c.organization_id == organization_id)
                    .where(ACCOUNT.c.low_balance_notified.is_(False))
                    .where(ACCOUNT.c.balance_nanos < level)
                    .values(low_balance_notified=True)
                    .returning(ACCOUNT.c.balance_nanos)
                )
            ).first()
            if claimed is None:
                continue
            await email_admins(
                session,
                organization_id,
                subject="your credit balance is low",
                body=(
                    f"Your PayGo credit balance is {dollars(claimed[0])}, below {dollars(level)}. At zero, "
                    "PayGo requests are refused until credits are added. Add credits or enable auto-recharge."
                ),
            )
            sent += 1
    return sent


async def send_expiry_notices(db: Database) -> int:
    """Email the admins about grants expiring within 30 (then 7) days; each grant and threshold once."""
    now = clock.now()
    longest = max(EXPIRY_NOTICE_DAYS)
    async with db.reader() as session:
        candidates = list(
            await session.execute(
                select(col(CreditGrant.id), col(CreditGrant.organization_id), col(CreditGrant.expires_at))
                .where(col(CreditGrant.state) == GrantState.ACTIVE)
                .where(col(CreditGrant.remaining_nanos) > 0)
                .where(col(CreditGrant.expires_at) > now)
                .where(col(CreditGrant.expires_at) <= now + timedelta(days=longest))
            )
        )
    by_org: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for grant_id, organization_id, expires_at in candidates:
        days = min(d for d in EXPIRY_NOTICE_DAYS if expires_at <= now + timedelta(days=d))
        by_org[organization_id].append((grant_id, days))
    sent = 0
    for organization_id, grants in by_org.items():
        async with db.transaction() as session:
            claimed: list[CreditGrant] = []
            for grant_id, days in grants:
                won = await session.execute(
                    update(CreditGrant)
                    .where(and_(col(CreditGrant.id) == grant_id, col(CreditGrant.state) == GrantState.ACTIVE))
                    .where(
                        or_(
                            col(CreditGrant.expiry_notice_days).is_(None),
                            col(CreditGrant.expiry_notice_days) > days,
                        )
                    )
                    .values(expiry_notice_days=days)
                )
                if won.rowcount:  # type: ignore[attr-defined]
                    grant = await session.get(CreditGrant, grant_id, populate_existing=True)
                    assert grant is not None
                    claimed.append(grant)
            if not claimed:
                continue
            lines = "\n".join(
                f"- {dollars(g.remaining_nanos)} left of {dollars(g.amount_nanos)} ({g.source.value.lower().replace('_', '-')}"
                f" of {g.bought_at:%Y-%m-%d}), expiring on {g.expires_at:%Y-%m-%d %H:%M} UTC"
                for g in claimed
            )
            await email_admins(
                session,
                organization_id,
                subject="credits expire soon",
                body=f"These credits expire soon; what is left then is lost:\n{lines}",
            )
            sent += len(claimed)
    return sent
