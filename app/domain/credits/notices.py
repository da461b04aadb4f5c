"""Emails to an organization's admins about its credits, queued in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.money import format_amount
from app.domain.notifications import admins

SIGNATURE = "The Inference Cloud console: Billing > Pay as you go."


def dollars(nanos: int) -> str:
    """An amount as an email shows it, e.g. ``$12.50``."""
    text = format_amount(nanos)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


async def email_admins(session: AsyncSession, organization_id: str, *, subject: str, body: str) -> int:
    """Queue one email per Organization Admin about the organization's credits; returns how many."""
    return await admins.email_admins(
        session, organization_id, subject=subject, body=body, signature=SIGNATURE
    )
