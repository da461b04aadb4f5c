"""`python -m app.cli replay-webhook`: a stored event's handler run again, as an operator runs it."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.models import CreditGrant, CreditLedgerEntry
from app.domain.provider_events.models import ProcessedWebhookEvent
from app.payments.facade import Payments
from tests.credits.support import check_ledger
from tests.ops.test_cli import cli
from tests.support import World, replace_charge_handlers

EVENT_ID = "evt_replay_1"


async def pending_purchase(db: Database, world: World) -> Charge:
    """A purchase whose answer was lost: the provider took the money, only its webhook can tell."""
    charge = Charge(
        organization_id=world.acme_id,
        purpose=ChargePurpose.PURCHASE,
        amount_cents=2500,
        description="Credits",
        idempotency_key="purchase:replay",
        provider_charge_ref="pi_replay",
    )
    async with db.transaction() as session:
        session.add(charge)
    return charge


async def deliver_success(client: httpx.AsyncClient, payments: Payments, charge: Charge) -> httpx.Response:
    intent = {
        "id": charge.provider_charge_ref,
        "object": "payment_intent",
        "amount": charge.amount_cents,
        "currency": charge.currency,
        "metadata": {"idempotency_key": charge.idempotency_key},
    }
    body = json.dumps(
        {"id": EVENT_ID, "type": "payment_intent.succeeded", "data": {"object": intent}}
    ).encode()
    headers = {**payments.provider.sign_webhook(body), "content-type": "application/json"}  # type: ignore[attr-defined]
    return await client.post("/webhooks/fake", content=body, headers=headers)


async def money(db: Database, world: World) -> tuple[int, int, int]:
    """Acme's grants, ledger entries and the sum of those entries."""
    async with db.reader() as session:
        grants = await session.scalar(
            select(func.count()).select_from(CreditGrant).where(CreditGrant.organization_id == world.acme_id)  # type: ignore[arg-type]
        )
        entries, total = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(CreditLedgerEntry.amount_nanos), 0)).where(
                    CreditLedgerEntry.organization_id == world.acme_id  # type: ignore[arg-type]
                )
            )
        ).one()
    return grants or 0, entries, int(total)


async def stored_event(db: Database) -> ProcessedWebhookEvent:
    async with db.reader() as session:
        event = await session.get(ProcessedWebhookEvent, EVENT_ID)
    assert event is not None
    return event


async def test_a_failed_event_replayed_grants_once_and_a_handled_one_is_not_applied_again(
    client: httpx.AsyncClient,
    database: Database,
    database_url: str,
    payments: Payments,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    charge = await pending_purchase(database, world)
    nothing = await money(database, world)

    async def broken(session: AsyncSession, charge: Charge) -> None:
        raise RuntimeError("ledger unavailable")

    with monkeypatch.context() as patched:
        replace_charge_handlers(patched, on_success={ChargePurpose.PURCHASE: broken})
        failed = await deliver_success(client, payments, charge)

    assert failed.status_code == 500
    kept = await stored_event(database)
    assert kept.failed and kept.outcome == "failed: RuntimeError: ledger unavailable"
    assert await money(database, world) == nothing

    replayed = await cli(database_url, "replay-webhook", EVENT_ID)

    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"Event {EVENT_ID} (payment_intent.succeeded) had failed" in replayed.stdout
    assert f"charge {charge.id} SUCCEEDED" in replayed.stdout
    handled = await stored_event(database)
    assert not handled.failed and handled.outcome == f"charge {charge.id} SUCCEEDED"
    granted = await money(database, world)
    assert granted[0] == nothing[0] + 1 and granted[2] == nothing[2] + 2500 * 10**7  # $25 in nanos
    async with database.reader() as session:
        settled = await session.get(Charge, charge.id)
    assert settled is not None and settled.status is ChargeStatus.SUCCEEDED

    again = await cli(database_url, "replay-webhook", EVENT_ID)

    assert again.returncode == 0, again.stderr
    assert "was handled already; nothing done" in again.stdout
    assert await money(database, world) == granted

    forced = await cli(database_url, "replay-webhook", EVENT_ID, "--force")

    assert forced.returncode == 0, forced.stderr
    assert "its handler ran again (--force)" in forced.stdout
    assert await money(database, world) == granted  # the handler is idempotent: a second run changes nothing
    assert (await deliver_success(client, payments, charge)).json()["result"] == "duplicate"
    await check_ledger(database)


async def test_an_unknown_event_is_an_error(database: Database, database_url: str) -> None:
    unknown = await cli(database_url, "replay-webhook", "evt_nope")

    assert unknown.returncode == 1
    assert "error: No stored webhook event 'evt_nope'." in unknown.stderr
