"""Emails to an organization's billing recipients about its credits, queued in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.notifications.models import Notice
from app.domain.notifications.recipients import email_notice
from app.domain.notifications.templates import dollars

__all__ = ["CONSOLE_PATH", "dollars", "email_admins"]

CONSOLE_PATH = "Billing > Pay as you go"


async def email_admins(
    session: AsyncSession,
    organization_id: str,
    *,
    subject: str,
    body: str,
    notice: Notice | None,
    security: bool = False,
) -> int:
    """Queue the notice to its recipients (the admins, and contacts who chose it); returns how many."""
    return await email_notice(
        session,
        organization_id,
        subject=subject,
        body=body,
        console_path=CONSOLE_PATH,
        notice=notice,
        security=security,
    )
