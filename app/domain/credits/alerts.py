"""Emails that warn the billing recipients in time: a low balance, and credits about to expire (30, then 7 days ahead).

Each is sent once: a conditional UPDATE claims it before the email is queued in the same transaction,
so two replicas running the job at once send it once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.credits.ledger import ACCOUNT, GRANT
from app.domain.credits.models import CreditGrant, GrantState
from app.domain.credits.notices import CONSOLE_PATH
from app.domain.money import NANOS_PER_CENT
from app.domain.notifications.models import AlertSettings, Notice
from app.domain.notifications.recipients import notify
from app.domain.orgs.models import Organization, OrganizationType
from app.settings import Settings

EXPIRY_NOTICE_DAYS = (30, 7)


def alert_level(settings: Settings) -> Any:
    """SQL: each organization's low-balance level, its own or the service's default (outer-join AlertSettings)."""
    default = settings.credits_low_balance_alert_cents * NANOS_PER_CENT
    return func.coalesce(AlertSettings.low_balance_alert_nanos, default)


async def send_low_balance_alerts(db: Database, *, settings: Settings) -> int:
    """Email the recipients of each Team organization whose balance fell below its alert level; once per dip."""
    level = alert_level(settings)
    has_own_level = ACCOUNT.c.organization_id == AlertSettings.organization_id
    async with db.transaction() as session:
        # back above the level: the next dip is announced again
        recovered = (
            select(ACCOUNT.c.organization_id)
            .outerjoin(AlertSettings, has_own_level)
            .where(ACCOUNT.c.low_balance_notified.is_(True))
            .where(ACCOUNT.c.balance_nanos >= level)
        )
        await session.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.organization_id.in_(recovered.scalar_subquery()))
            .values(low_balance_notified=False)
        )
    async with db.reader() as session:
        candidates = list(
            await session.execute(
                select(ACCOUNT.c.organization_id, level)
                .join(Organization, col(Organization.id) == ACCOUNT.c.organization_id)
                .outerjoin(AlertSettings, has_own_level)
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
    for organization_id, org_level in candidates:
        async with db.transaction() as session:
            claimed = (
                await session.execute(
                    update(ACCOUNT)
                    .where(ACCOUNT.c.organization_id == organization_id)
                    .where(ACCOUNT.c.low_balance_notified.is_(False))
                    .where(ACCOUNT.c.balance_nanos < org_level)
                    .values(low_balance_notified=True)
                    .returning(ACCOUNT.c.balance_nanos)
                )
            ).first()
            if claimed is None:
                continue
            await notify(
                session,
                organization_id,
                notice=Notice.LOW_BALANCE,
                template="low_balance",
                balance_nanos=claimed[0],
                level_nanos=org_level,
                console_path=CONSOLE_PATH,
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
            await notify(
                session,
                organization_id,
                notice=Notice.CREDITS_EXPIRING,
                template="credits_expiring",
                grants=[_expiring(g) for g in claimed],
                console_path=CONSOLE_PATH,
            )
            sent += len(claimed)
    return sent


def _expiring(grant: CreditGrant) -> dict[str, Any]:
    return {
        "remaining_nanos": grant.remaining_nanos,
        "amount_nanos": grant.amount_nanos,
        "source": grant.source.value.lower().replace("_", "-"),
        "bought_at": grant.bought_at,
        "expires_at": grant.expires_at,
    }
