"""Every console flow over GraphQL, the app charging through the real SDK against the strict stand-in.

The stand-in refuses any request whose parameters the pinned API version does not declare, so each
flow here proves the provider sends only valid requests; at the end of each test none was refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.db import Database
from app.domain.billing import retries
from app.domain.billing.models import Charge, ChargeStatus, PaymentMethod
from app.domain.credits.ledger import burn_credits
from app.domain.credits.models import RefundRequest
from app.domain.credits.settlement import settle_debts
from app.domain.notifications.models import OutboxMessage
from app.payments import hookimpl
from app.payments.facade import Payments
from app.payments.types import RefundDecision
from app.settings import Settings
from tests.credits.support import check_ledger
from tests.providers.stripe_standin import StripeStandIn, stripe_signature
from tests.webhooks.support import ERROR, Console, grants, send


@pytest.fixture(autouse=True)
def strict(stripe_standin: StripeStandIn) -> Iterator[None]:
    """Every test ends with no request the pinned API version would refuse."""
    yield
    assert stripe_standin.api.invalid_requests == []


async def test_every_console_flow_sends_only_requests_of_the_pinned_api_version(
    console: Console, database: Database, stripe_standin: StripeStandIn
) -> None:
    address = await console.mutate(
        "setBillingAddress",
        "SetBillingAddressInput",
        f"{ERROR} ... on BillingAddressPayload {{ __typename }}",
        organizationId=console.acme,
        name="Acme Inc.",
        line1="1 Main St",
        city="Springfield",
        postalCode="62701",
        state="IL",
        country="US",
    )
    setup = await console.mutate(
        "setUpPaymentMethod",
        "SetUpPaymentMethodInput",
        f"{ERROR} ... on PaymentMethodSetupPayload {{ clientSecret setupRef }}",
        organizationId=console.acme,
    )
    visa = (await console.attach("pm_card_visa"))["paymentMethod"]
    mastercard = (await console.attach("pm_card_mastercard"))["paymentMethod"]
    default = await console.mutate(
        "setDefaultPaymentMethod",
        "PaymentMethodIdInput",
        f"{ERROR} ... on PaymentMethodPayload {{ paymentMethod {{ isDefault }} }}",
        paymentMethodId=mastercard["id"],
    )
    removed = await console.mutate(
        "removePaymentMethod", "PaymentMethodIdInput", ERROR, paymentMethodId=mastercard["id"]
    )
    bought = await console.buy("25", "click-00000001")
    recharge = await console.mutate(
        "configureAutoRecharge",
        "ConfigureAutoRechargeInput",
        f"{ERROR} ... on AutoRechargePayload {{ recharge {{ status }} }}",
        organizationId=console.acme,
        threshold="30",
        rechargeTo="60",
    )
    subscribed = await console.mutate(
        "subscribe",
        "SubscribeInput",
        f"{ERROR} ... on SubscriptionPayload {{ subscription {{ state }} }}",
        organizationId=console.acme,
        model="gpt-oss-120b",
        tier="starter",
    )
    grant = (await grants(database))[0]
    refund = await console.mutate(
        "requestRefund",
        "RequestRefundInput",
        ERROR,
        grantId=console.world.gid("CreditGrant", grant.id),
        reason="changed my mind",
    )
    await console.attach("pm_card_authenticationRequired")
    needs_authentication = await console.buy("10", "click-00000002")

    assert address["__typename"] == "BillingAddressPayload"
    assert setup["clientSecret"].startswith(setup["setupRef"])
    assert visa["isDefault"] and default["paymentMethod"]["isDefault"]
    assert removed["__typename"] == "RemovePaymentMethodPayload"
    assert bought["__typename"] == "AddCreditsPayload" and bought["charge"]["status"] == "SUCCEEDED"
    assert recharge["recharge"]["status"] == "SUCCEEDED"
    assert subscribed["subscription"]["state"] == "ACTIVE"
    assert (refund["__typename"], refund["code"]) == ("ConflictError", "REFUND_REFUSED")
    assert needs_authentication["__typename"] == "PaymentAuthenticationRequired"
    assert stripe_standin.requests_to("POST", "/v1/setup_intents")[0].params[
        "allowed_payment_method_types"
    ] == ["card"]
    assert all("payment_method_types" not in r.params for r in stripe_standin.requests)


async def test_a_purchase_needing_authentication_completes_once_by_webhook(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_authenticationRequired")

    asked = await console.buy("40", "click-3ds-00001")
    again = await console.buy("40", "click-3ds-00001")  # a second click: the same payment, the same secret

    assert (asked["__typename"], asked["code"], asked["paymentStatus"]) == (
        "PaymentAuthenticationRequired",
        "PAYMENT_REQUIRES_ACTION",
        "requires_action",
    )
    [intent] = stripe_standin.api.payment_intents.values()
    assert asked["clientSecret"] == intent["client_secret"] and again["clientSecret"] == asked["clientSecret"]
    assert await grants(database) == []

    authenticated = stripe_standin.api.authenticate(intent["id"])  # in Stripe's UI, in the console
    assert await send(client, stripe_standin.event("payment_intent.succeeded", authenticated)) == "processed"
    completed = await console.complete(asked["chargeId"])  # the console asks too: nothing more happens

    [grant] = await grants(database)
    assert grant.amount_nanos == 40 * 10**9
    assert completed["__typename"] == "CompletePaymentPayload" and completed["balance"]["amount"] == "40.00"
    await check_ledger(database)


async def test_a_purchase_needing_authentication_completes_once_by_the_console_when_the_webhook_is_late(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_authenticationRequired")
    asked = await console.buy("40", "click-3ds-00002")
    [intent] = stripe_standin.api.payment_intents.values()

    early = await console.complete(asked["chargeId"])  # before authenticating: still asked for it
    authenticated = stripe_standin.api.authenticate(intent["id"])
    completed = await console.complete(asked["chargeId"])
    repeated = await console.complete(asked["chargeId"])
    late = await send(client, stripe_standin.event("payment_intent.succeeded", authenticated))

    assert early["__typename"] == "PaymentAuthenticationRequired" and early["clientSecret"]
    assert completed["__typename"] == repeated["__typename"] == "CompletePaymentPayload"
    assert completed["charge"]["status"] == "SUCCEEDED" and late == "processed"
    assert len(await grants(database)) == 1
    await check_ledger(database)


async def test_a_purchase_whose_answer_was_lost_is_one_payment_intent_and_one_grant_25_hours_later(
    console: Console,
    database: Database,
    payments: Payments,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
) -> None:
    await console.attach("pm_card_visa")
    stripe_standin.fail_next("/v1/payment_intents/", "drop")  # the confirmation happened, its answer is lost

    lost = await console.buy("25", "click-lost-0001")
    clock.advance(hours=25)
    stripe_standin.advance(hours=25)  # Stripe has forgotten the idempotency keys
    settled = await retries.retry_pending(database, payments=payments)

    assert (lost["__typename"], lost["code"]) == ("PaymentError", "PAYMENT_PROVIDER_UNAVAILABLE")
    assert settled == 1
    assert len(stripe_standin.api.payment_intents) == 1
    assert [g.amount_nanos for g in await grants(database)] == [25 * 10**9]
    await check_ledger(database)


async def test_a_customer_deleted_at_stripe_is_forgotten_and_nothing_stays_pending(
    console: Console, database: Database, payments: Payments, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    [customer_ref] = list(stripe_standin.api.customers)
    stripe_standin.api.delete_customer(customer_ref)

    refused = await console.buy("25", "click-gone-0001")
    after = await console.buy("25", "click-gone-0002")
    set_up_again = await console.mutate(
        "setUpPaymentMethod",
        "SetUpPaymentMethodInput",
        f"{ERROR} ... on PaymentMethodSetupPayload {{ clientSecret }}",
        organizationId=console.acme,
    )
    await console.attach("pm_card_visa")
    bought = await console.buy("25", "click-gone-0003")

    assert (refused["__typename"], refused["code"]) == ("PaymentError", "PAYMENT_REFUSED")
    assert "no longer knows this customer" in refused["message"] and ".." not in refused["message"]
    assert (after["__typename"], after["code"]) == ("ConflictError", "NO_PAYMENT_METHOD")
    assert set_up_again["clientSecret"] and bought["__typename"] == "AddCreditsPayload"
    assert len([c for c in stripe_standin.api.customers.values() if not c.get("deleted")]) == 1
    async with database.reader() as session:
        statuses = list(await session.scalars(select(Charge.status).order_by(Charge.created_at)))
        open_count = await session.scalar(
            select(func.count()).select_from(Charge).where(Charge.status == ChargeStatus.PENDING)
        )
    assert statuses == [ChargeStatus.FAILED, ChargeStatus.SUCCEEDED] and open_count == 0
    assert await retries.retry_pending(database, payments=payments) == 0  # nothing to retry


async def test_a_dispute_holds_the_credits_and_losing_it_removes_them(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    bought = await console.buy("25", "click-dispute-1")
    [intent] = stripe_standin.api.payment_intents
    dispute = stripe_standin.api.dispute(intent)

    assert await send(client, stripe_standin.event("charge.dispute.created", dispute)) == "processed"
    held = await console.buy("10", "click-dispute-2")  # the balance shows what is usable
    await send(client, stripe_standin.event("charge.dispute.closed", dispute | {"status": "lost"}))

    assert bought["balance"]["amount"] == "25.00" and held["balance"]["amount"] == "10.00"
    grant_amounts = sorted((g.amount_nanos, g.remaining_nanos) for g in await grants(database))
    assert grant_amounts == [(10 * 10**9, 10 * 10**9), (25 * 10**9, 0)]
    await check_ledger(database)
    async with database.reader() as session:
        subjects = list(
            await session.scalars(select(OutboxMessage.subject).order_by(OutboxMessage.created_at))
        )
    assert any("disputed" in s for s in subjects) and any("dispute was lost" in s for s in subjects)


async def test_a_won_dispute_gives_the_held_credits_back(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    await console.buy("25", "click-dispute-3")
    [intent] = stripe_standin.api.payment_intents
    dispute = stripe_standin.api.dispute(intent)

    await send(client, stripe_standin.event("charge.dispute.created", dispute))
    await send(client, stripe_standin.event("charge.dispute.created", dispute))  # redelivered: held once
    await send(client, stripe_standin.event("charge.dispute.closed", dispute | {"status": "won"}))
    again = await send(client, stripe_standin.event("charge.dispute.closed", dispute | {"status": "won"}))

    [grant] = await grants(database)
    assert grant.remaining_nanos == 25 * 10**9 and again == "processed"
    await check_ledger(database)


async def test_a_card_updated_at_stripe_is_refreshed(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    [method] = stripe_standin.api.payment_methods.values()
    method["card"] |= {"exp_month": 3, "exp_year": 2031, "last4": "1881"}

    await send(client, stripe_standin.event("payment_method.automatically_updated", method))

    async with database.reader() as session:
        card = await session.scalar(select(PaymentMethod))
    assert card is not None and (card.last4, card.exp_month, card.exp_year) == ("1881", 3, 2031)
    assert [c["last4"] for c in await console.cards()] == ["1881"]


async def test_an_event_of_the_other_mode_is_refused(
    client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    body = stripe_standin.event("customer.deleted", {"id": "cus_1", "object": "customer"}, livemode=True)

    answer = await client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": stripe_signature(body)}
    )

    assert answer.status_code == 400


async def test_a_charge_never_created_is_asked_again_within_the_day_and_given_up_after_it(
    console: Console,
    database: Database,
    payments: Payments,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
) -> None:
    await console.attach("pm_card_visa")
    stripe_standin.fail_next("/v1/payment_intents", "drop")  # the creation's answer is lost
    await console.buy("25", "click-retry-0001")
    stripe_standin.fail_next("/v1/payment_intents", "drop")
    await console.buy("30", "click-retry-0002")
    clock.advance(hours=2)

    # the same keys: the same PaymentIntents
    assert await retries.retry_pending(database, payments=payments) == 2
    assert len(stripe_standin.api.payment_intents) == 2
    assert sorted(g.amount_nanos for g in await grants(database)) == [25 * 10**9, 30 * 10**9]

    stripe_standin.fail_next("/v1/payment_intents", "error")  # Stripe fails, nothing is created
    failed_to_start = await console.buy("40", "click-retry-0003")
    for hours in (1, 6, 12):  # Stripe stays down all day
        clock.advance(hours=hours)
        stripe_standin.fail_next("/v1/payment_intents", "error")
        await retries.retry_pending(database, payments=payments)
    clock.advance(hours=5)

    assert failed_to_start["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert await retries.retry_pending(database, payments=payments) == 1  # given up: older than the keys live
    async with database.reader() as session:
        given_up = await session.scalar(select(Charge).where(Charge.amount_cents == 4000))
        told = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.subject.contains("could not be completed"))  # type: ignore[attr-defined]
        )
    assert given_up is not None and given_up.status is ChargeStatus.FAILED
    assert given_up.message and "within a day" in given_up.message and told == 1
    assert len(stripe_standin.api.payment_intents) == 2
    await check_ledger(database)


async def test_an_auto_recharge_needing_authentication_waits_and_grants_once_stripe_says_succeeded(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_authenticationRequired")

    enabled = await console.mutate(
        "configureAutoRecharge",
        "ConfigureAutoRechargeInput",
        f"{ERROR} ... on AutoRechargePayload {{ recharge {{ status }} }}",
        organizationId=console.acme,
        threshold="10",
        rechargeTo="30",
    )
    [intent] = stripe_standin.api.payment_intents.values()
    async with database.reader() as session:
        waiting = await session.scalar(select(Charge))
        mail = list(await session.scalars(select(OutboxMessage.body_text)))
    await send(
        client,
        stripe_standin.event("payment_intent.succeeded", stripe_standin.api.authenticate(intent["id"])),
    )

    assert enabled["recharge"]["status"] == "PENDING" and await grants(database) != []
    assert waiting is not None and waiting.status is ChargeStatus.REQUIRES_ACTION
    assert any(f"/#/o/{waiting.organization_id}/billing/overview" in body for body in mail)
    assert intent["status"] == "succeeded"
    [grant] = await grants(database)
    assert grant.amount_nanos == 30 * 10**9
    await check_ledger(database)


async def test_a_processing_payment_is_a_state_and_grants_when_stripe_tells(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    stripe_standin.api.settle_later = True

    processing = await console.buy("25", "click-processing-1")
    [intent] = stripe_standin.api.payment_intents.values()
    before = await grants(database)
    await send(
        client, stripe_standin.event("payment_intent.succeeded", stripe_standin.api.finish(intent["id"]))
    )

    assert (processing["__typename"], processing["code"]) == ("PaymentError", "PAYMENT_PENDING")
    assert before == [] and len(await grants(database)) == 1
    await check_ledger(database)


class ApproveRefunds:
    """A partner's policy plugin approving refunds (the shipped policy refuses them)."""

    @hookimpl
    def refund_decision(self) -> RefundDecision:
        return RefundDecision(approved=True, reason="approved by the partner's policy")


@pytest.mark.parametrize(
    ("outcome", "status", "balance"), [("succeeded", "REFUNDED", 15), ("failed", "FAILED", 25)]
)
async def test_an_approved_refund_follows_stripes_status_by_its_own_id(
    console: Console,
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    stripe_standin: StripeStandIn,
    outcome: str,
    status: str,
    balance: int,
) -> None:
    payments._manager.register(ApproveRefunds())
    await console.attach("pm_card_visa")
    await console.buy("25", "click-refund-0001")
    [grant] = await grants(database)
    stripe_standin.api.refund_status = "pending"  # the bank takes days

    asked = await console.mutate(
        "requestRefund",
        "RequestRefundInput",
        f"{ERROR} ... on RefundPayload {{ refundRequest {{ status }} }}",
        grantId=console.world.gid("CreditGrant", grant.id),
        reason="unused",
        amount="10",
    )
    [refund] = stripe_standin.api.refunds.values()
    answer = await send(client, stripe_standin.event("charge.refund.updated", refund | {"status": outcome}))

    assert asked["refundRequest"]["status"] == "APPROVED" and answer == "processed"
    async with database.reader() as session:
        request = await session.scalar(select(RefundRequest))
    assert request is not None and (request.refund_ref, request.status.value) == (refund["id"], status)
    assert request.provider_status == outcome
    [after] = await grants(database)
    assert after.remaining_nanos == balance * 10**9
    await check_ledger(database)


async def test_a_customer_whose_creation_answer_was_lost_is_created_after_a_rename_without_a_key_conflict(
    console: Console, database: Database, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.fail_next("/v1/customers", "drop")
    lost = await console.mutate(
        "setUpPaymentMethod", "SetUpPaymentMethodInput", ERROR, organizationId=console.acme
    )
    renamed = await console.mutate(
        "renameOrganization",
        "RenameOrganizationInput",
        "__typename",
        organizationId=console.acme,
        name="Acme Two",
    )
    attached = await console.attach("pm_card_visa")

    assert lost["code"] == "PAYMENT_PROVIDER_UNAVAILABLE" and renamed["__typename"] != "ConflictError"
    assert attached["paymentMethod"]["last4"] == "4242"
    first, second = stripe_standin.requests_to("POST", "/v1/customers")[:2]
    assert first.idempotency_key != second.idempotency_key  # the key names the customer's details
    assert second.params["name"] == "Acme Two"


async def test_a_customer_deleted_at_stripe_gets_the_address_again_on_a_new_customer(
    console: Console, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    address = {
        "name": "Acme GmbH",
        "line1": "Hauptstr. 1",
        "city": "Berlin",
        "postalCode": "10115",
        "country": "DE",
    }
    selection = f"{ERROR} ... on BillingAddressPayload {{ __typename }}"
    await console.mutate(
        "setBillingAddress", "SetBillingAddressInput", selection, organizationId=console.acme, **address
    )
    [old] = list(stripe_standin.api.customers)
    deleted = stripe_standin.api.delete_customer(old)
    await send(client, stripe_standin.event("customer.deleted", deleted))

    again = await console.mutate(
        "setBillingAddress",
        "SetBillingAddressInput",
        selection,
        organizationId=console.acme,
        **(address | {"line1": "Hauptstr. 2"}),
    )

    assert again["__typename"] == "BillingAddressPayload"
    [new] = [ref for ref, c in stripe_standin.api.customers.items() if not c.get("deleted")]
    assert new != old and stripe_standin.api.customers[new]["address"]["line1"] == "Hauptstr. 2"


async def test_a_set_up_for_a_customer_deleted_unannounced_is_made_for_a_new_one(
    console: Console, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    [old] = list(stripe_standin.api.customers)
    stripe_standin.api.delete_customer(old)  # the webhook never came

    setup = await console.mutate(
        "setUpPaymentMethod",
        "SetUpPaymentMethodInput",
        f"{ERROR} ... on PaymentMethodSetupPayload {{ setupRef }}",
        organizationId=console.acme,
    )

    intent = stripe_standin.api.setup_intents[setup["setupRef"]]
    assert intent["customer"] != old and not stripe_standin.api.customers[intent["customer"]].get("deleted")
    assert await console.cards() == []  # the deleted customer's card went with it


async def test_a_settlement_needing_authentication_waits_and_is_completed_from_the_console_link(
    console: Console,
    database: Database,
    payments: Payments,
    settings: Settings,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
) -> None:
    await console.attach("pm_card_authenticationRequired")
    async with database.transaction() as session:
        await burn_credits(session, console.world.acme_id, 12 * 10**9, "usage beyond credits")
    clock.at = datetime(2026, 12, 1, 2, tzinfo=UTC)

    await settle_debts(database, payments=payments, settings=settings, retry=False)
    async with database.reader() as session:
        waiting = await session.scalar(select(Charge))
        mail = list(await session.scalars(select(OutboxMessage.body_text)))
    assert waiting is not None and waiting.status is ChargeStatus.REQUIRES_ACTION
    assert any(f"/#/o/{waiting.organization_id}/billing/overview" in body for body in mail)
    stripe_standin.api.authenticate(waiting.provider_charge_ref or "")
    completed = await console.complete(console.world.gid("Charge", waiting.id))

    assert (completed["__typename"], completed["grant"]) == ("CompletePaymentPayload", None)
    assert completed["charge"]["status"] == "SUCCEEDED" and completed["balance"]["amount"] == "0.00"
    await check_ledger(database)
