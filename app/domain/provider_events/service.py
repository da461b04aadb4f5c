"""Handling a verified provider event exactly once, and replaying a stored one.

The event's id is inserted in the same transaction as its effect: once both are committed, a
redelivery (or a concurrent duplicate, stopped by the primary key) changes nothing. If the effect
fails, it is rolled back and the event is kept as failed, with its payload, in a transaction of its
own: the provider's redelivery runs the handler again, and so can the operator (``replay_event``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import Database
from app.domain.errors import Conflict, DomainError, NotFound
from app.domain.provider_events.handlers import HANDLERS
from app.domain.provider_events.models import ProcessedWebhookEvent
from app.payments.types import WebhookEvent

logger = logging.getLogger(__name__)


class Handled(StrEnum):
    """What became of an event."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a type nobody handles: nothing to do, nothing to remember


class Replayed(StrEnum):
    """What a replay did."""

    RECOVERED = "recovered"  # its handling had failed: the handler ran and the event is handled now
    SKIPPED = "skipped"  # handled already: nothing done
    RERUN = "rerun"  # handled already, forced: the handler ran again (handlers change nothing twice)


@dataclass(frozen=True)
class Replay:
    result: Replayed
    event_type: str
    outcome: str  # the handler's, or the stored one when nothing ran


class ReplayFailed(DomainError):
    pass


class _AlreadyProcessed(Exception):
    pass


def stored_payload(event: WebhookEvent) -> dict[str, Any]:
    """The verified event as kept for replays: its id, type and data, as plain JSON.

    No secret is kept beyond what the provider sends: Stripe's events carry no card number (a card is
    its brand, last four digits and expiry) and no key of the account. The one credential in them,
    the ``client_secret`` of a PaymentIntent or SetupIntent (it lets a browser confirm the payment),
    is read by no handler, so it is dropped.
    """
    return {"id": event.id, "type": event.type, "data": _plain(event.data)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items() if key != "client_secret"}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


async def handle_event(db: Database, *, provider: str, event: WebhookEvent) -> Handled:
    """Apply a verified event once; a type without a handler is ignored, a failed one is tried again."""
    if event.type not in HANDLERS:
        return Handled.IGNORED
    try:
        async with db.transaction() as session:
            record = await session.get(ProcessedWebhookEvent, event.id, with_for_update=True)
            if record is not None and not record.failed:
                raise _AlreadyProcessed
            if record is None:
                record = ProcessedWebhookEvent(
                    event_id=event.id,
                    provider=provider,
                    event_type=event.type,
                    outcome="",
                    payload=stored_payload(event),
                )
                session.add(record)
                try:
                    await session.flush()  # on PostgreSQL a concurrent delivery of this event stops here
                except IntegrityError as exc:
                    raise _AlreadyProcessed from exc
            await _run_handler(session, record, event)
    except _AlreadyProcessed:
        return Handled.DUPLICATE
    except Exception as exc:
        await _record_failure(db, provider=provider, event=event, error=exc)
        raise
    logger.info("%s event %s (%s): %s", provider, event.id, event.type, record.outcome)
    return Handled.PROCESSED


async def replay_event(db: Database, event_id: str, *, force: bool = False) -> Replay:
    """Run a stored event's handler again: a failed one always, a handled one only when forced."""
    async with db.reader() as session:
        stored = await session.get(ProcessedWebhookEvent, event_id)
    if stored is None:
        raise NotFound(f"No stored webhook event {event_id!r}.")
    if stored.payload is None:
        raise Conflict(
            f"Event {event_id} was handled before payloads were stored ({stored.outcome}); "
            "there is nothing to replay."
        )
    if stored.event_type not in HANDLERS:
        raise Conflict(f"Event {event_id} is a {stored.event_type}, which no handler takes any more.")
    event = WebhookEvent(id=event_id, type=stored.event_type, data=stored.payload.get("data") or {})
    try:
        async with db.transaction() as session:
            record = await session.get(ProcessedWebhookEvent, event_id, with_for_update=True)
            if record is None:
                raise NotFound(f"No stored webhook event {event_id!r}.")
            if record.failed:
                return Replay(Replayed.RECOVERED, event.type, await _run_handler(session, record, event))
            if not force:
                return Replay(Replayed.SKIPPED, event.type, record.outcome)
            # the record keeps the outcome of the handling that counted
            return Replay(Replayed.RERUN, event.type, await _handler_outcome(session, event))
    except DomainError:
        raise
    except Exception as exc:
        await _record_failure(db, provider=stored.provider, event=event, error=exc)  # if it was failed
        raise ReplayFailed(f"Event {event_id}'s handler {_failure(exc)}") from exc


async def _handler_outcome(session: AsyncSession, event: WebhookEvent) -> str:
    return (await HANDLERS[event.type](session, event.data.get("object") or {}))[:300]


async def _run_handler(session: AsyncSession, record: ProcessedWebhookEvent, event: WebhookEvent) -> str:
    """Apply the event in the caller's transaction and mark its record handled."""
    record.outcome = await _handler_outcome(session, event)
    record.failed, record.processed_at = False, clock.now()
    session.add(record)
    return record.outcome


def _failure(error: Exception) -> str:
    return f"failed: {type(error).__name__}: {error}"[:300]


async def _record_failure(db: Database, *, provider: str, event: WebhookEvent, error: Exception) -> None:
    """Keep the event as failed, so that it can be replayed; a handling committed meanwhile stands."""
    outcome = _failure(error)
    logger.warning("%s event %s (%s) %s", provider, event.id, event.type, outcome)
    try:
        async with db.transaction() as session:
            record = await session.get(ProcessedWebhookEvent, event.id, with_for_update=True)
            if record is None:
                session.add(
                    ProcessedWebhookEvent(
                        event_id=event.id,
                        provider=provider,
                        event_type=event.type,
                        outcome=outcome,
                        failed=True,
                        payload=stored_payload(event),
                    )
                )
            elif record.failed:
                record.outcome, record.processed_at = outcome, clock.now()
                session.add(record)
    except Exception:  # the database is what failed, or a concurrent delivery recorded the event: the
        # provider's redelivery tries again either way
        logger.exception("%s event %s: its failure could not be recorded", provider, event.id)
