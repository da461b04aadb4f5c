"""Subscription charges that need 3-D Secure, over GraphQL and the strict Stripe stand-in, mail over real SMTP.

A renewal is charged off-session: live Stripe declines a card that wants authentication
(``authentication_required``, the intent left ``requires_payment_method``); the stand-in can also
answer ``requires_action``. Either way the renewal waits for the cardholder: nothing is applied, the
subscription is past due, the admins get an email with a link to the console, and the renewal applies
once when Stripe says succeeded, whoever reports it first (the webhook, a replay, completePayment).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.billing import retries
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.notifications.mailer import deliver_due
from app.domain.notifications.models import OutboxMessage
from app.domain.notifications.recipients import admin_emails
from app.domain.subscriptions.models import Subscription, SubscriptionState
from app.domain.subscriptions.renewal import run_renewals
from app.services import Services
from app.settings import Settings
from tests.mail_server import SmtpServer, text_of
from tests.providers.stripe_standin import StripeStandIn
from tests.webhooks.support import ERROR, Console, send, sign_in_again

SUBSCRIBE = (
    f"{ERROR} ... on SubscriptionPayload {{ subscription {{ id state tierId currentPeriodEnd }} }}"
    " ... on PaymentAuthenticationRequired { chargeId clientSecret paymentStatus }"
)


@pytest.fixture(autouse=True)
def strict(stripe_standin: StripeStandIn) -> Iterator[None]:
    """Every test ends with no request the pinned API version would refuse."""
    yield
    assert stripe_standin.api.invalid_requests == []


async def subscribe(console: Console) -> dict[str, object]:
    return await console.mutate(
        "subscribe",
        "SubscribeInput",
        SUBSCRIBE,
        organizationId=console.acme,
        model="gpt-oss-120b",
        tier="starter",
    )


async def the_subscription(database: Database) -> Subscription:
    async with database.reader() as session:
        found = await session.scalar(select(Subscription))
    assert found is not None
    return found


async def subscription_charges(database: Database) -> list[Charge]:
    async with database.reader() as session:
        rows = await session.scalars(
            select(Charge).where(Charge.purpose == ChargePurpose.SUBSCRIPTION).order_by(Charge.created_at)  # type: ignore[arg-type]
        )
        return list(rows)


async def renew(database: Database, services: Services) -> dict[str, int]:
    return await run_renewals(database, payments=services.payments, catalog=services.catalog, retries=3)


async def mail(database: Database, settings: Settings, smtp_server: SmtpServer) -> list[tuple[str, str, str]]:
    """Deliver the outbox over SMTP; (to, subject, text) of every message the server has received."""
    await deliver_due(database, settings)
    return [(str(m["To"]), str(m["Subject"]), text_of(m)) for m in smtp_server.inbox.messages]


async def renewal_waiting(
    console: Console,
    database: Database,
    services: Services,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
    *,
    declined: bool,
) -> Charge:
    """Acme subscribed with a good card, then put a 3-D Secure card on file; the renewal came due."""
    await console.attach("pm_card_visa")
    subscribed = await subscribe(console)
    assert subscribed["__typename"] == "SubscriptionPayload", subscribed
    await console.attach("pm_card_authenticationRequired")
    stripe_standin.api.authentication_as_decline = declined
    clock.at = datetime.fromisoformat(str(subscribed["subscription"]["currentPeriodEnd"]))  # type: ignore[index]
    assert await renew(database, services) == {"awaiting authentication": 1}
    await sign_in_again(database, services.settings, console.world)
    return (await subscription_charges(database))[-1]


@pytest.mark.parametrize("declined", [True, False], ids=["declined-off-session", "requires-action"])
async def test_a_renewal_needing_authentication_waits_emails_the_admins_and_applies_once_when_it_succeeds(
    console: Console,
    client: httpx.AsyncClient,
    database: Database,
    services: Services,
    smtp_settings: Settings,
    smtp_server: SmtpServer,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
    declined: bool,
) -> None:
    renewal = await renewal_waiting(console, database, services, stripe_standin, clock, declined=declined)
    waiting = await the_subscription(database)
    sent = await mail(database, smtp_settings, smtp_server)
    assert renewal.status is ChargeStatus.REQUIRES_ACTION and renewal.provider_charge_ref
    assert (waiting.state, waiting.period_number) == (SubscriptionState.PAST_DUE, 1)  # nothing new unpaid
    async with database.reader() as session:
        admins = [address for _, address in await admin_emails(session, console.world.acme_id)]
    assert [to for to, _, _ in sent] == admins and len(admins) == 1  # only an admin can authenticate it
    [(_, subject, text)] = sent
    assert "authentication" in subject and f"/#/o/{renewal.organization_id}/billing/overview" in text
    clock.advance(hours=3)
    assert await retries.retry_pending(database, payments=services.payments) == 0  # read back: still waiting
    assert await renew(database, services) == {"pending": 1}

    charge_id = console.world.gid("Charge", renewal.id)
    asked = await console.complete(charge_id)  # the admin follows the link: the console gets the secret
    authenticated = stripe_standin.api.authenticate(renewal.provider_charge_ref)  # in Stripe's UI
    event = stripe_standin.event("payment_intent.succeeded", authenticated)
    delivered, completed = await asyncio.gather(send(client, event), console.complete(charge_id))
    replayed = await send(client, event)
    another = await send(client, stripe_standin.event("payment_intent.succeeded", authenticated))

    renewed = await the_subscription(database)
    intent = stripe_standin.api.payment_intents[renewal.provider_charge_ref]
    assert (asked["__typename"], asked["clientSecret"]) == (
        "PaymentAuthenticationRequired",
        intent["client_secret"],
    )
    assert (delivered, replayed, another) == ("processed", "duplicate", "processed")
    assert (
        completed["__typename"] == "CompletePaymentPayload" and completed["charge"]["status"] == "SUCCEEDED"
    )
    assert (renewed.state, renewed.period_number, renewed.failed_renewals) == (SubscriptionState.ACTIVE, 2, 0)
    assert renewed.current_period_start == waiting.current_period_end
    assert [c.status for c in await subscription_charges(database)] == [ChargeStatus.SUCCEEDED] * 2
    assert len(stripe_standin.api.payment_intents) == 2  # the first month and the renewal
    subjects = [subject for _, subject, _ in await mail(database, smtp_settings, smtp_server)]
    assert sum("renewed" in s for s in subjects) == 1 and len(subjects) == 2
    assert await renew(database, services) == {}


async def test_a_renewal_never_authenticated_is_given_up_and_the_decline_path_runs_once(
    console: Console,
    database: Database,
    services: Services,
    smtp_settings: Settings,
    smtp_server: SmtpServer,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
) -> None:
    renewal = await renewal_waiting(console, database, services, stripe_standin, clock, declined=True)
    clock.advance(days=1, minutes=1)

    assert await retries.retry_pending(database, payments=services.payments) == 1
    assert await renew(database, services) == {"payment failed": 1}
    assert await renew(database, services) == {}
    assert await retries.retry_pending(database, payments=services.payments) == 0

    past_due = await the_subscription(database)
    [given_up] = [c for c in await subscription_charges(database) if c.id == renewal.id]
    assert (given_up.status, given_up.decline_code) == (ChargeStatus.FAILED, "expired")
    assert (past_due.state, past_due.failed_renewals, past_due.period_number) == (
        SubscriptionState.PAST_DUE,
        1,
        1,
    )
    subjects = [subject for _, subject, _ in await mail(database, smtp_settings, smtp_server)]
    assert sorted(s.split(": ", 1)[1] for s in subjects) == [
        "a payment could not be completed",
        "a payment needs your card's authentication",
        "subscription to gpt-oss-120b past due: payment failed",
    ]
    assert len(stripe_standin.api.payment_intents) == 2  # nothing charged again meanwhile
    intent = stripe_standin.api.payment_intents[renewal.provider_charge_ref or ""]
    assert (intent["status"], intent["cancellation_reason"]) == ("canceled", "abandoned")  # no late payment


async def test_a_renewal_authenticated_as_it_is_given_up_is_applied_not_canceled(
    console: Console,
    database: Database,
    services: Services,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
) -> None:
    renewal = await renewal_waiting(console, database, services, stripe_standin, clock, declined=True)
    clock.advance(days=1, minutes=1)
    stripe_standin.api.authenticate(renewal.provider_charge_ref or "")  # just after the job read it

    settled = await retries.abandon(database, renewal, payments=services.payments)

    renewed = await the_subscription(database)
    assert settled.status is ChargeStatus.SUCCEEDED
    assert (renewed.state, renewed.period_number) == (SubscriptionState.ACTIVE, 2)
    assert stripe_standin.api.payment_intents[renewal.provider_charge_ref or ""]["status"] == "succeeded"


async def test_subscribing_from_the_console_with_a_card_needing_authentication(
    console: Console,
    client: httpx.AsyncClient,
    database: Database,
    smtp_settings: Settings,
    smtp_server: SmtpServer,
    stripe_standin: StripeStandIn,
) -> None:
    await console.attach("pm_card_authenticationRequired")

    asked = await subscribe(console)
    again = await subscribe(console)  # a second click: the same payment
    incomplete = await the_subscription(database)
    [intent] = stripe_standin.api.payment_intents.values()
    authenticated = stripe_standin.api.authenticate(intent["id"])
    completed = await console.complete(str(asked["chargeId"]))
    late = await send(client, stripe_standin.event("payment_intent.succeeded", authenticated))
    subscribed = await subscribe(console)

    assert (asked["__typename"], asked["paymentStatus"]) == (
        "PaymentAuthenticationRequired",
        "requires_action",
    )
    assert asked["clientSecret"] == intent["client_secret"] and again["chargeId"] == asked["chargeId"]
    assert incomplete.state is SubscriptionState.INCOMPLETE
    assert completed["__typename"] == "CompletePaymentPayload" and late == "processed"
    assert (await the_subscription(database)).state is SubscriptionState.ACTIVE
    assert (subscribed["__typename"], subscribed["code"]) == ("ConflictError", "ALREADY_SUBSCRIBED")
    assert await mail(database, smtp_settings, smtp_server) == []  # the admin was at the console
    assert len(stripe_standin.api.payment_intents) == 1


async def test_a_renewal_whose_answer_was_lost_waits_for_the_cardholder_once_stripe_tells(
    console: Console,
    client: httpx.AsyncClient,
    database: Database,
    services: Services,
    stripe_standin: StripeStandIn,
    clock: FrozenClock,
) -> None:
    await console.attach("pm_card_visa")
    subscribed = await subscribe(console)
    await console.attach("pm_card_authenticationRequired")
    stripe_standin.api.authentication_as_decline = True
    clock.at = datetime.fromisoformat(str(subscribed["subscription"]["currentPeriodEnd"]))  # type: ignore[index]
    stripe_standin.fail_next("/v1/payment_intents/", "drop")  # the confirmation's answer is lost

    assert await renew(database, services) == {"pending": 1}
    lost = (await subscription_charges(database))[-1]
    still = await the_subscription(database)
    intent = stripe_standin.api.payment_intents[lost.provider_charge_ref or ""]
    told = await send(client, stripe_standin.event("payment_intent.payment_failed", intent))
    waiting = (await subscription_charges(database))[-1]
    past_due = await the_subscription(database)
    async with database.reader() as session:
        bodies = list(await session.scalars(select(OutboxMessage.body_text)))
    authenticated = stripe_standin.api.authenticate(intent["id"])
    paid = await send(client, stripe_standin.event("payment_intent.succeeded", authenticated))

    assert (lost.status, still.state) == (ChargeStatus.PENDING, SubscriptionState.ACTIVE)
    assert (told, waiting.status, past_due.state) == (
        "processed",
        ChargeStatus.REQUIRES_ACTION,
        SubscriptionState.PAST_DUE,
    )
    assert sum(f"/#/o/{lost.organization_id}/billing/overview" in body for body in bodies) == 1
    assert paid == "processed" and (await the_subscription(database)).period_number == 2
    assert len(stripe_standin.api.payment_intents) == 2


async def test_an_upgrade_from_the_console_needing_authentication_applies_once_it_is_completed(
    console: Console, client: httpx.AsyncClient, database: Database, stripe_standin: StripeStandIn
) -> None:
    await console.attach("pm_card_visa")
    subscribed = await subscribe(console)
    await console.attach("pm_card_authenticationRequired")

    asked = await console.mutate(
        "changeSubscriptionTier",
        "ChangeSubscriptionTierInput",
        SUBSCRIBE,
        subscriptionId=subscribed["subscription"]["id"],  # type: ignore[index]
        tier="growth",
    )
    waiting = await the_subscription(database)
    [upgrade] = [i for i in stripe_standin.api.payment_intents.values() if i["status"] != "succeeded"]
    authenticated = stripe_standin.api.authenticate(upgrade["id"])
    completed = await console.complete(str(asked["chargeId"]))
    late = await send(client, stripe_standin.event("payment_intent.succeeded", authenticated))

    upgraded = await the_subscription(database)
    assert (asked["__typename"], asked["clientSecret"]) == (
        "PaymentAuthenticationRequired",
        upgrade["client_secret"],
    )
    assert (waiting.tier_id, waiting.pending_tier_id) == ("starter", "growth")
    assert completed["__typename"] == "CompletePaymentPayload" and late == "processed"
    assert (upgraded.tier_id, upgraded.pending_tier_id, upgraded.pending_charge_key) == ("growth", None, None)
