"""The operator's view of the outbox: one message in full, links unsealed, and sending one again."""

from __future__ import annotations

from sqlalchemy import update

from app import clock
from app.db import Database
from app.domain.errors import Conflict, NotFound
from app.domain.notifications.models import OutboxMessage, OutboxState
from app.domain.notifications.service import REDACTED, revealed


async def get_message(db: Database, message_id: str) -> OutboxMessage:
    async with db.reader() as session:
        message = await session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"No outbox message {message_id!r}.")
    return message


def show(message: OutboxMessage) -> str:
    """The message as its recipient reads it (links in clear: for the operator's terminal only)."""
    text, _ = revealed(message)
    facts = [
        f"id:        {message.id}",
        f"state:     {message.state.value}"
        + (f" via {message.delivered_via.value}" if message.delivered_via else ""),
        f"to:        {message.to_address}",
        f"subject:   {message.subject}",
        f"created:   {message.created_at:%Y-%m-%d %H:%M:%S}Z",
        f"attempts:  {message.attempts}",
    ]
    if message.sent_at:
        facts.append(f"sent:      {message.sent_at:%Y-%m-%d %H:%M:%S}Z")
    if message.last_error:
        facts.append(f"error:     {message.last_error}")
    return "\n".join(facts) + "\n\n" + text


async def resend(db: Database, message_id: str) -> OutboxMessage:
    """Queue a sent or failed message again, for the mail worker's next round."""
    message = await get_message(db, message_id)
    if message.state is OutboxState.CANCELLED:
        raise Conflict(f"Message {message_id} was withdrawn ({message.last_error}); it cannot be sent.")
    if message.state is OutboxState.QUEUED:
        raise Conflict(f"Message {message_id} is queued already (attempt {message.attempts + 1} is due).")
    if REDACTED in message.body_text and not message.secrets:
        raise Conflict(
            f"Message {message_id}'s links were forgotten after delivery; send a new one from the product "
            "(e.g. resend the invitation in the console)."
        )
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)  # type: ignore[arg-type]
            .where(OutboxMessage.state == message.state)  # type: ignore[arg-type]
            .values(state=OutboxState.QUEUED, attempts=0, next_attempt_at=clock.now(), last_error=None)
        )
    return await get_message(db, message_id)
