"""POST /webhooks/stripe: signed events settle charges, record refunds and disputes, once each.

The app runs over Stripe (the real SDK against the local stand-in); events are built from the
stand-in's own objects and signed here as Stripe signs them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.billing import charges
from app.domain.billing.accounts import attach_payment_method
from app.domain.billing.errors import PaymentUnavailable
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus, PaymentMethod
from app.domain.notifications.models import OutboxMessage
from app.domain.provider_events.models import ChargeDispute, ChargeRefund, ProcessedWebhookEvent
from app.payments.facade import Payments
from tests.providers.stripe_standin import StripeStandIn, stripe_signature
from tests.support import World, replace_charge_handlers

KEY = "settlement:org:2026-11"


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each run of the SETTLEMENT success handler, by charge key (and "failed:<key>" for the failure handler)."""
    seen: list[str] = []

    async def succeeded(session: AsyncSession, charge: Charge) -> None:
        seen.append(charge.idempotency_key)

    async def failed(session: AsyncSession, charge: Charge) -> None:
        seen.append(f"failed:{charge.idempotency_key}")

    replace_charge_handlers(
        monkeypatch,
        on_success={ChargePurpose.SETTLEMENT: succeeded},
        on_failure={ChargePurpose.SETTLEMENT: failed},
    )
    return seen


async def settle_month(db: Database, payments: Payments, world: World) -> Charge:
    return await charges.charge(
        db,
        payments=payments,
        organization_id=world.acme_id,
        purpose=ChargePurpose.SETTLEMENT,
        amount_cents=1234,
        description="Usage of November 2026",
        idempotency_key=KEY,
    )


async def send(client: httpx.AsyncClient, body: bytes, signature: str | None = None) -> httpx.Response:
    headers = {"Stripe-Signature": signature or stripe_signature(body), "Content-Type": "application/json"}
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def stored_charge(db: Database) -> Charge:
    async with db.reader() as session:
        charge = await session.scalar(select(Charge).where(Charge.idempotency_key == KEY))
    assert charge is not None
    return charge


async def count(db: Database, model: type[Any]) -> int:
    async with db.reader() as session:
        return (await session.scalar(select(func.count()).select_from(model))) or 0


async def lose_the_answer(
    db: Database, payments: Payments, world: World, standin: StripeStandIn
) -> dict[str, Any]:
    """Charge with the answer lost: Stripe did it, the app does not know. Gives the PaymentIntent."""
    standin.fail_next("/v1/payment_intents", "drop")
    with pytest.raises(PaymentUnavailable):
        await settle_month(db, payments, world)
    [intent] = standin.api.payment_intents.values()
    return intent


async def test_a_charge_whose_answer_was_lost_is_settled_by_the_webhook_once(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
    applied: list[str],
) -> None:
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    intent = await lose_the_answer(database, payments, world, stripe_standin)
    pending = await stored_charge(database)
    assert (pending.status, pending.provider_charge_ref, applied) == (ChargeStatus.PENDING, None, [])
    event = stripe_standin.event("payment_intent.succeeded", intent)

    first = await send(client, event)
    again = await send(client, event)

    assert (first.status_code, first.json()["result"]) == (200, "processed")
    assert (again.status_code, again.json()["result"]) == (200, "duplicate")
    settled = await stored_charge(database)
    assert (settled.status, settled.provider_charge_ref) == (ChargeStatus.SUCCEEDED, intent["id"])
    assert applied == [KEY]

    retried = await settle_month(database, payments, world)  # the console's retry, same key

    assert retried.id == settled.id and retried.status is ChargeStatus.SUCCEEDED
    assert applied == [KEY]
    assert len(stripe_standin.requests_to("POST", "/v1/payment_intents")) == 1
    assert await charges.retry_pending(database, payments=payments) == 0


async def test_concurrent_deliveries_of_one_event_apply_it_once(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
    applied: list[str],
) -> None:
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    event = stripe_standin.event(
        "payment_intent.succeeded", await lose_the_answer(database, payments, world, stripe_standin)
    )

    answers = await asyncio.gather(*(send(client, event) for _ in range(4)))

    assert sorted(answer.json()["result"] for answer in answers) == ["duplicate"] * 3 + ["processed"]
    assert applied == [KEY]
    assert await count(database, ProcessedWebhookEvent) == 1


async def test_a_failed_payment_settles_the_pending_charge_as_declined(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
    applied: list[str],
) -> None:
    await attach_payment_method(
        database, world.acme_id, payments=payments, provider_ref="pm_card_chargeDeclinedInsufficientFunds"
    )
    intent = await lose_the_answer(database, payments, world, stripe_standin)

    answer = await send(client, stripe_standin.event("payment_intent.payment_failed", intent))

    assert answer.json()["result"] == "processed"
    declined = await stored_charge(database)
    assert (declined.status, declined.decline_code) == (ChargeStatus.DECLINED, "insufficient_funds")
    assert applied == [f"failed:{KEY}"]


async def test_an_effect_that_fails_is_not_remembered_and_the_redelivery_applies_it(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
    applied: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    event = stripe_standin.event(
        "payment_intent.succeeded", await lose_the_answer(database, payments, world, stripe_standin)
    )

    async def broken(session: AsyncSession, charge: Charge) -> None:
        raise RuntimeError("ledger unavailable")

    with monkeypatch.context() as patched:
        replace_charge_handlers(patched, on_success={ChargePurpose.SETTLEMENT: broken})
        failed = await send(client, event)
    redelivered = await send(client, event)

    assert failed.status_code == 500  # Stripe retries it later
    assert redelivered.json()["result"] == "processed"
    assert applied == [KEY] and (await stored_charge(database)).status is ChargeStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("signature", "status"),
    [
        pytest.param(lambda body: stripe_signature(body, "whsec_not_ours"), 400, id="wrong secret"),
        pytest.param(lambda body: stripe_signature(body + b" "), 400, id="tampered body"),
        pytest.param(lambda body: stripe_signature(body, timestamp=1_700_000_000), 400, id="stale"),
    ],
)
async def test_a_bad_signature_is_refused_with_400_and_changes_nothing(
    client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn, signature: Any, status: int
) -> None:
    body = stripe_standin.event("payment_method.detached", {"id": "pm_1", "object": "payment_method"})

    answer = await send(client, body, signature(body))

    assert answer.status_code == status
    assert await count(database, ProcessedWebhookEvent) == 0


async def test_requests_not_from_the_active_provider_are_refused(
    client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    body = stripe_standin.event("payment_method.detached", {"id": "pm_1", "object": "payment_method"})

    unsigned = await client.post("/webhooks/stripe", content=body)
    other = await client.post(
        "/webhooks/fake", content=body, headers={"Stripe-Signature": stripe_signature(body)}
    )

    assert unsigned.status_code == 400
    assert other.status_code == 404


async def test_an_event_type_nobody_handles_is_acknowledged_and_ignored(
    client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    answer = await send(
        client, stripe_standin.event("customer.created", {"id": "cus_1", "object": "customer"})
    )

    assert (answer.status_code, answer.json()["result"]) == (200, "ignored")
    assert await count(database, ProcessedWebhookEvent) == 0


async def test_a_refund_is_recorded_once_from_the_charges_refunded_total(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
    applied: list[str],
) -> None:
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    charge = await settle_month(database, payments, world)
    assert charge.provider_charge_ref is not None
    await payments.refund(
        charge_ref=charge.provider_charge_ref, amount=234, idempotency_key="refund:1", reason="duplicate"
    )
    refunded = stripe_standin.api.charge_of(charge.provider_charge_ref)

    await send(client, stripe_standin.event("charge.refunded", refunded))
    await send(client, stripe_standin.event("charge.refunded", refunded))  # another event, same total

    async with database.reader() as session:
        rows = list(await session.scalars(select(ChargeRefund)))
    assert [(row.charge_id, row.amount_cents, row.currency) for row in rows] == [(charge.id, 234, "usd")]


async def test_a_dispute_is_recorded_and_the_org_admins_are_emailed(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
    applied: list[str],
) -> None:
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    charge = await settle_month(database, payments, world)
    intent = stripe_standin.api.payment_intents[charge.provider_charge_ref or ""]
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 1234,
        "currency": "usd",
        "charge": intent["latest_charge"],
        "payment_intent": intent["id"],
        "reason": "fraudulent",
        "status": "needs_response",
    }

    answer = await send(client, stripe_standin.event("charge.dispute.created", dispute))

    assert answer.json()["result"] == "processed"
    async with database.reader() as session:
        recorded = list(await session.scalars(select(ChargeDispute)))
        disputed = OutboxMessage.subject.contains("disputed")  # type: ignore[attr-defined]
        mail = list(await session.scalars(select(OutboxMessage).where(disputed)))
    assert [(d.charge_id, d.provider_dispute_ref, d.amount_cents, d.reason) for d in recorded] == [
        (charge.id, "dp_1", 1234, "fraudulent")
    ]
    assert [message.to_address for message in mail] == [world.people["admin"].email]
    assert "12.34 USD" in mail[0].body_text and "fraudulent" in mail[0].body_text


async def test_a_card_detached_at_stripe_is_marked_removed(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    stripe_standin: StripeStandIn,
) -> None:
    card = await attach_payment_method(
        database, world.acme_id, payments=payments, provider_ref="pm_card_visa"
    )
    customer_ref = stripe_standin.api.payment_methods[card.provider_ref]["customer"]
    detached = await payments.detach_payment_method(
        customer_ref=customer_ref, payment_method_ref=card.provider_ref
    )
    body = stripe_standin.api.payment_methods[detached.ref]

    answer = await send(
        client,
        stripe_standin.event("payment_method.detached", body, previous_attributes={"customer": customer_ref}),
    )

    assert json.loads(answer.content)["result"] == "processed"
    async with database.reader() as session:
        stored = await session.get(PaymentMethod, card.id)
    assert stored is not None and stored.removed_at is not None and not stored.is_default
