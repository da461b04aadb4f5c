"""Spend alerts: amounts per calendar month (UTC) whose crossing the billing recipients hear of once.

Month-to-date spend is PayGo usage billed to credits plus succeeded subscription charges. The job
claims a firing by inserting its (alert, month) row, whose primary key lets one replica win, and
queues the email in the same transaction: each alert fires at most once a month, in order of amount.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.periods import month_start, next_month_start, period_of
from app.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from app.domain.money import NANOS_PER_CENT
from app.domain.notifications.models import Notice, SpendAlert, SpendAlertFiring
from app.domain.notifications.recipients import notify
from app.domain.orgs.access import require_org_admin
from app.domain.usage.models import UsageHour

MAX_ALERTS = 10
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class SpendAlertState:
    """An alert as the console shows it: its amount, and when it fired this month (None: not yet)."""

    alert: SpendAlert
    fired_at: datetime | None


async def month_to_date_spend(session: AsyncSession, organization_id: str, now: datetime) -> int:
    """PayGo usage billed plus subscription charges paid since the start of the moment's month (nanos)."""
    start = month_start(now)
    first_hour = int(start.timestamp()) // SECONDS_PER_HOUR
    usage = await session.scalar(
        select(func.coalesce(func.sum(UsageHour.billed_nanos), 0))
        .where(col(UsageHour.organization_id) == organization_id)
        .where(col(UsageHour.hour) >= first_hour)
    )
    subscriptions = await session.scalar(
        select(func.coalesce(func.sum(Charge.amount_cents), 0))
        .where(col(Charge.organization_id) == organization_id)
        .where(col(Charge.purpose) == ChargePurpose.SUBSCRIPTION)
        .where(col(Charge.status) == ChargeStatus.SUCCEEDED)
        .where(col(Charge.settled_at) >= start)
        .where(col(Charge.settled_at) < next_month_start(now))
    )
    return int(usage or 0) + int(subscriptions or 0) * NANOS_PER_CENT


async def list_spend_alerts(
    session: AsyncSession, organization_id: str, now: datetime
) -> list[SpendAlertState]:
    """The organization's alerts, smallest first, each with its firing of this month."""
    rows = await session.execute(
        select(SpendAlert, col(SpendAlertFiring.fired_at))
        .outerjoin(
            SpendAlertFiring,
            and_(
                col(SpendAlertFiring.alert_id) == col(SpendAlert.id),
                col(SpendAlertFiring.month) == period_of(now),
            ),
        )
        .where(col(SpendAlert.organization_id) == organization_id)
        .order_by(col(SpendAlert.amount_nanos))
    )
    return [SpendAlertState(alert, fired_at) for alert, fired_at in rows]


async def add_spend_alert(
    session: AsyncSession, actor: Actor, organization_id: str, *, amount_nanos: int
) -> SpendAlert:
    """A new alert at this monthly amount (Org Admins)."""
    await require_org_admin(session, actor, organization_id)
    if amount_nanos <= 0:
        raise InvalidInput("The alert amount must be more than zero.", field="amount")
    existing = list(
        await session.scalars(
            select(col(SpendAlert.amount_nanos)).where(col(SpendAlert.organization_id) == organization_id)
        )
    )
    if amount_nanos in existing:
        raise Conflict(
            "There is an alert at this amount already.", code=ErrorCode.DUPLICATE_ADDRESS, field="amount"
        )
    if len(existing) >= MAX_ALERTS:
        raise InvalidInput(f"An organization has at most {MAX_ALERTS} spend alerts.", field="amount")
    alert = SpendAlert(organization_id=organization_id, amount_nanos=amount_nanos, created_by=actor.user_id)
    session.add(alert)
    await session.flush()
    return alert


async def remove_spend_alert(session: AsyncSession, actor: Actor, alert_id: str) -> SpendAlert:
    """Delete an alert (Org Admins of its organization); NotFound for anyone else."""
    alert = await session.get(SpendAlert, alert_id)
    if alert is None:
        raise NotFound("No spend alert with this ID is visible to you.", field="alertId")
    try:
        await require_org_admin(session, actor, alert.organization_id)
    except NotFound:
        raise NotFound("No spend alert with this ID is visible to you.", field="alertId") from None
    await session.delete(alert)
    return alert


async def send_spend_alerts(db: Database) -> int:
    """Fire every alert that this month's spend has crossed and that has not fired this month."""
    now = clock.now()
    month = period_of(now)
    async with db.reader() as session:
        pending = await session.execute(
            select(col(SpendAlert.organization_id), col(SpendAlert.id), col(SpendAlert.amount_nanos))
            .outerjoin(
                SpendAlertFiring,
                and_(
                    col(SpendAlertFiring.alert_id) == col(SpendAlert.id), col(SpendAlertFiring.month) == month
                ),
            )
            .where(col(SpendAlertFiring.alert_id).is_(None))
            .order_by(col(SpendAlert.organization_id), col(SpendAlert.amount_nanos))
        )
        by_org: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for organization_id, alert_id, amount in pending:
            by_org[organization_id].append((alert_id, amount))
    fired = 0
    for organization_id, alerts in by_org.items():
        async with db.transaction() as session:
            spend = await month_to_date_spend(session, organization_id, now)
            for alert_id, amount in alerts:  # smallest first: emails go out in the order crossed
                if spend < amount or not await _claim(session, alert_id, organization_id, month, spend):
                    continue
                await notify(
                    session,
                    organization_id,
                    notice=Notice.SPEND_ALERTS,
                    template="spend_alert",
                    amount_nanos=amount,
                    spend_nanos=spend,
                    month=month,
                    console_path="Billing > Settings",
                )
                fired += 1
    return fired


async def _claim(session: AsyncSession, alert_id: str, organization_id: str, month: str, spend: int) -> bool:
    """Record the firing; False when another replica recorded it first."""
    try:
        async with session.begin_nested():
            session.add(
                SpendAlertFiring(
                    alert_id=alert_id, month=month, organization_id=organization_id, spend_nanos=spend
                )
            )
    except IntegrityError:
        return False
    return True
