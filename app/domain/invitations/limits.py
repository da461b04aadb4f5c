"""Daily limits on invitation emails, so that the service cannot be used as a spam relay.

Every invitation sends an email to an address the sender chose. Within any 24 hours an
organization sends at most INVITATIONS_PER_ORGANIZATION_PER_DAY (first sends and resends), and a
person at most INVITATIONS_PER_SENDER_PER_DAY over all their organizations, or
INVITATIONS_PER_NEW_SENDER_PER_DAY while their account is younger than INVITATION_NEW_SENDER_DAYS
(a fresh account making organizations to send from is what a relay looks like).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.accounts.models import User
from app.domain.base import table_of
from app.domain.errors import Throttled
from app.domain.invitations.models import Invitation
from app.settings import Settings

DAY = timedelta(days=1)


@dataclass
class InvitationBudget:
    """How many invitation emails may go out now, and why not more."""

    left: int
    reason: str
    retry_after_seconds: int

    def take(self) -> bool:
        """Use one if any is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def refusal(self, field: str) -> Throttled:
        return Throttled(self.reason, retry_after_seconds=self.retry_after_seconds, field=field)


async def invitation_budget(
    session: AsyncSession, organization_id: str, sender: User | None, settings: Settings, now: datetime
) -> InvitationBudget:
    """What is left today of the organization's and the sender's invitation limits, the tighter one."""
    since = now - DAY
    table = table_of(Invitation)
    first_sends, oldest_org = (
        await session.execute(
            select(func.count(), func.min(table.c.created_at))
            .where(table.c.organization_id == organization_id)
            .where(table.c.created_at > since)
        )
    ).one()
    resends, oldest_resend = (
        await session.execute(
            select(
                func.coalesce(func.sum(table.c.resends_in_window), 0),
                func.min(table.c.resend_window_started_at),
            )
            .where(table.c.organization_id == organization_id)
            .where(table.c.resend_window_started_at > since)
        )
    ).one()
    org_oldest = min((at for at in (oldest_org, oldest_resend) if at is not None), default=now)
    budgets = [
        _budget(
            settings.invitations_per_organization_per_day,
            first_sends + resends,
            org_oldest,
            now,
            "The organization sent its {limit} invitations of the last 24 hours",
        )
    ]
    if sender is not None:
        sent, oldest = (
            await session.execute(
                select(func.count(), func.min(table.c.created_at))
                .where(table.c.invited_by == sender.id)
                .where(table.c.created_at > since)
            )
        ).one()
        new = now - sender.created_at < timedelta(days=settings.invitation_new_sender_days)
        limit = (
            settings.invitations_per_new_sender_per_day if new else settings.invitations_per_sender_per_day
        )
        what = "A new account may send {limit}" if new else "You sent your {limit}"
        budgets.append(_budget(limit, sent, oldest or now, now, what + " invitations in 24 hours"))
    return min(budgets, key=lambda budget: budget.left)


def _budget(limit: int, used: int, oldest: datetime, now: datetime, sentence: str) -> InvitationBudget:
    wait = max(1, math.ceil((oldest + DAY - now).total_seconds()))
    hours = max(1, round(wait / 3600))
    reason = f"{sentence.format(limit=limit)}; more can be sent in about {hours} hour{'s' * (hours > 1)}."
    return InvitationBudget(max(0, limit - used), reason, wait)
