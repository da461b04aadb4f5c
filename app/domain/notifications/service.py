"""Queue email inside a business transaction; list the outbox for the operator.

``enqueue_email`` only adds a row to the caller's session: the message is committed with the
change that caused it (or rolled back with it), and the mail worker delivers it afterwards,
outside any request. After the commit the local worker is woken at once; other replicas find
the message on their next poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.notifications.models import OutboxMessage, OutboxState

REDACTED = "[redacted]"
_ENQUEUED = "outbox_enqueued"


class Wakeup:
    """Events of the mail workers running in this process, set when a commit queued mail."""

    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def register(self, waiter: asyncio.Event) -> None:
        self._waiters.add((asyncio.get_running_loop(), waiter))

    def unregister(self, waiter: asyncio.Event) -> None:
        self._waiters = {(loop, w) for loop, w in self._waiters if w is not waiter}

    def notify(self) -> None:
        for loop, waiter in list(self._waiters):
            if not loop.is_closed():
                loop.call_soon_threadsafe(waiter.set)


wakeup = Wakeup()


@event.listens_for(Session, "after_commit")
def _poke_after_commit(session: Session) -> None:
    # poked only after the commit: a worker woken earlier would not yet see the message
    if session.info.pop(_ENQUEUED, False):
        wakeup.notify()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_ENQUEUED, None)


async def enqueue_email(
    session: AsyncSession,
    *,
    to: str,
    subject: str,
    body: str,
    html: str | None = None,
    secrets: Sequence[str] = (),
) -> OutboxMessage:
    """Queue an email in the caller's transaction; ``secrets`` in the body are redacted once it is done."""
    message = OutboxMessage(
        to_address=to,
        subject=subject,
        body_text=body,
        body_html=html,
        secrets=list(secrets) or None,
        next_attempt_at=clock.now(),
    )
    session.add(message)  # written with the caller's next flush; the id is known already
    session.info[_ENQUEUED] = True
    return message


async def cancel_email(session: AsyncSession, message_id: str | None, *, reason: str) -> bool:
    """Withdraw a message that is still queued (a worker holding it may still send it); True if withdrawn."""
    if message_id is None:
        return False
    message = await session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.state is not OutboxState.QUEUED:
        return False
    for column, value in redacted(message).items():
        setattr(message, column, value)
    message.state, message.last_error = OutboxState.CANCELLED, reason[:1000]
    session.add(message)
    return True


def redacted(message: OutboxMessage) -> dict[str, Any]:
    """Column values that replace the message's secrets by REDACTED and forget them."""
    text, html = message.body_text, message.body_html
    for secret in message.secrets or ():
        text = text.replace(secret, REDACTED)
        html = html.replace(secret, REDACTED) if html is not None else None
    return {"body_text": text, "body_html": html, "secrets": None}


async def list_outbox(
    db: Database, *, state: OutboxState | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """The newest messages of the outbox (optionally in one state), for the operator."""
    query = (
        select(OutboxMessage)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id))
        .limit(limit)
    )
    if state is not None:
        query = query.where(col(OutboxMessage.state) == state)
    async with db.reader() as session:
        return list(await session.scalars(query))


def outbox_line(message: OutboxMessage) -> str:
    """One line per message for a terminal: when, state, attempts, recipient, subject, last error."""
    via = f" via {message.delivered_via.value}" if message.delivered_via else ""
    error = f"  last error: {message.last_error}" if message.last_error else ""
    return (
        f"{message.created_at:%Y-%m-%d %H:%M:%S}Z {message.id} {message.state.value}{via} "
        f"attempts={message.attempts} to={message.to_address} subject={message.subject!r}{error}"
    )
