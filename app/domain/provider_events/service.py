"""Handling a verified provider event exactly once.

The event's id is inserted in the same transaction as its effect: if the effect fails, neither is
kept and the provider's redelivery tries again; once both are committed, a redelivery (or a
concurrent duplicate, stopped by the primary key) changes nothing.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.domain.provider_events.handlers import HANDLERS
from app.domain.provider_events.models import ProcessedWebhookEvent
from app.payments.types import WebhookEvent

logger = logging.getLogger(__name__)


class Handled(StrEnum):
    """What became of an event."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a type nobody handles: nothing to do, nothing to remember


class _AlreadyProcessed(Exception):
    pass


async def handle_event(db: Database, *, provider: str, event: WebhookEvent) -> Handled:
    """Apply a verified event once; a type without a handler is ignored."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return Handled.IGNORED
    try:
        async with db.transaction() as session:
            if await session.get(ProcessedWebhookEvent, event.id) is not None:
                raise _AlreadyProcessed
            record = ProcessedWebhookEvent(
                event_id=event.id, provider=provider, event_type=event.type, outcome=""
            )
            session.add(record)
            try:
                await session.flush()  # on PostgreSQL a concurrent delivery of this event stops here
            except IntegrityError as exc:
                raise _AlreadyProcessed from exc
            record.outcome = (await handler(session, event.data.get("object") or {}))[:300]
    except _AlreadyProcessed:
        return Handled.DUPLICATE
    logger.info("%s event %s (%s): %s", provider, event.id, event.type, record.outcome)
    return Handled.PROCESSED
