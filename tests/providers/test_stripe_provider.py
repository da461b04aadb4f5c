"""The Stripe provider beyond the contract: what it sends to Stripe, and how failures come back.

The official SDK talks over HTTP to the local stand-in (tests/providers/stripe_standin.py), which
records every request: the method, path, form-encoded parameters and headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import stripe

from app.payments import Payments, load_payments
from app.payments.errors import PaymentProviderError, PaymentProviderTimeout, PaymentRequestError
from app.payments.types import BillingAddress, ChargePurpose, ChargeResult, ChargeStatus
from providers.stripe import StripeProvider
from tests.providers.stripe_standin import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    STRIPE_ENV,
    StripeStandIn,
    stripe_plugins_toml,
)

Connect = Callable[..., Payments]


@pytest.fixture
async def connect(stripe_standin: StripeStandIn, tmp_path: Path) -> AsyncIterator[Connect]:
    """Build a Payments facade over Stripe (the stand-in) with the given [providers.stripe] settings."""
    opened: list[Payments] = []

    def build(env: dict[str, str] | None = None, **settings: Any) -> Payments:
        path = tmp_path / f"plugins-{len(opened)}.toml"
        path.write_text(stripe_plugins_toml(stripe_standin, **settings))
        opened.append(load_payments(path, env=env or STRIPE_ENV))
        return opened[-1]

    yield build
    for payments in opened:
        await payments.aclose()


@pytest.fixture
def payments(connect: Connect) -> Payments:
    """Overrides tests/conftest.py's fixture: Stripe's facade, no database."""
    return connect()


@pytest.fixture
async def customer_ref(payments: Payments) -> str:
    """A Stripe customer whose default card is the test Visa."""
    customer = await payments.create_customer(
        org_id="org_acme", name="Acme", email="billing@acme.example", idempotency_key="customer:org_acme"
    )
    card = await payments.attach_payment_method(
        customer_ref=customer.customer_ref, payment_method_ref="pm_card_visa"
    )
    await payments.set_default_payment_method(customer_ref=customer.customer_ref, payment_method_ref=card.ref)
    return customer.customer_ref


async def buy(payments: Payments, customer_ref: str, key: str = "purchase:org_acme:1") -> ChargeResult:
    return await payments.charge(
        customer_ref=customer_ref,
        amount=2500,
        currency="usd",
        purpose=ChargePurpose.PURCHASE,
        description="Inference credits $25.00",
        idempotency_key=key,
    )


async def test_a_customer_is_created_with_the_key_the_api_version_and_the_secret_key(
    payments: Payments, stripe_standin: StripeStandIn
) -> None:
    await payments.create_customer(
        org_id="org_1", name="Acme", email="b@acme.example", idempotency_key="customer:org_1"
    )

    [request] = stripe_standin.requests_to("POST", "/v1/customers")
    assert request.params == {"name": "Acme", "email": "b@acme.example", "metadata": {"org_id": "org_1"}}
    assert request.idempotency_key == "customer:org_1"
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.headers["stripe-version"] == stripe.api_version
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_a_charge_is_an_off_session_payment_intent_confirmed_at_once_under_the_key(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    card = stripe_standin.api.customers[customer_ref]["invoice_settings"]["default_payment_method"]

    result = await buy(payments, customer_ref)

    [request] = stripe_standin.requests_to("POST", "/v1/payment_intents")
    assert request.params == {
        "amount": "2500",
        "currency": "usd",
        "customer": customer_ref,
        "payment_method": card,
        "allowed_payment_method_types": ["card"],
        "confirm": "true",
        "off_session": "true",
        "description": "Inference credits $25.00",
        "metadata": {"idempotency_key": "purchase:org_acme:1", "purpose": "purchase"},
    }
    assert request.idempotency_key == "purchase:org_acme:1"
    assert result.succeeded and result.charge_ref.startswith("pi_")
    assert stripe_standin.api.payment_intents[result.charge_ref]["status"] == "succeeded"


async def test_set_up_gives_the_console_a_setup_intent_secret_and_the_publishable_key(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    setup = await payments.setup_payment_method(customer_ref=customer_ref, idempotency_key="setup:org_acme:1")

    [request] = stripe_standin.requests_to("POST", "/v1/setup_intents")
    # API 2026-09-30 removed payment_method_types; cards only, through allowed_payment_method_types
    assert request.params == {
        "customer": customer_ref,
        "usage": "off_session",
        "allowed_payment_method_types": ["card"],
    }
    assert request.idempotency_key == "setup:org_acme:1"
    assert (setup.provider, setup.publishable_key) == ("stripe", PUBLISHABLE_KEY)
    assert setup.client_secret == stripe_standin.api.setup_intents[setup.setup_ref]["client_secret"]


async def test_the_default_card_is_the_customers_invoice_default(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    mastercard = await payments.attach_payment_method(
        customer_ref=customer_ref, payment_method_ref="pm_card_mastercard"
    )

    await payments.set_default_payment_method(customer_ref=customer_ref, payment_method_ref=mastercard.ref)

    assert stripe_standin.requests_to("POST", f"/v1/customers/{customer_ref}")[-1].params == {
        "invoice_settings": {"default_payment_method": mastercard.ref}
    }
    assert (
        stripe_standin.api.customers[customer_ref]["invoice_settings"]["default_payment_method"]
        == mastercard.ref
    )


async def test_the_billing_address_keeps_the_customers_name_and_address_in_step(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    address = BillingAddress(
        name="Acme GmbH", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"
    )

    held = await payments.update_billing_address(customer_ref=customer_ref, address=address)

    request = stripe_standin.requests_to("POST", f"/v1/customers/{customer_ref}")[-1]
    assert request.params["name"] == "Acme GmbH"
    assert request.params["address"] == {
        "line1": "Hauptstr. 1",
        "line2": "",
        "city": "Berlin",
        "postal_code": "10115",
        "state": "",
        "country": "DE",
    }
    assert held == address
    assert stripe_standin.api.customers[customer_ref]["address"]["city"] == "Berlin"


async def test_an_off_session_authentication_decline_needs_action_too(
    payments: Payments, stripe_standin: StripeStandIn
) -> None:
    # Live Stripe declines off-session a card that wants 3-D Secure, instead of answering requires_action.
    stripe_standin.api.authentication_as_decline = True
    customer = await payments.create_customer(
        org_id="o", name="O", email="o@o.example", idempotency_key="c-o"
    )
    card = await payments.attach_payment_method(
        customer_ref=customer.customer_ref, payment_method_ref="pm_card_authenticationRequired"
    )
    await payments.set_default_payment_method(customer_ref=customer.customer_ref, payment_method_ref=card.ref)

    result = await buy(payments, customer.customer_ref)

    assert result.status is ChargeStatus.REQUIRES_ACTION and result.decline_code == "authentication_required"
    assert result.charge_ref.startswith("pi_") and result.client_secret
    assert stripe_standin.api.payment_intents[result.charge_ref]["status"] == "requires_payment_method"


async def test_a_lost_answer_is_an_error_and_the_retry_with_the_same_key_is_the_same_charge(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.fail_next("/v1/payment_intents", "drop")

    with pytest.raises(PaymentProviderError):
        await buy(payments, customer_ref)
    retried = await buy(payments, customer_ref)

    assert retried.succeeded
    assert list(stripe_standin.api.payment_intents) == [retried.charge_ref]  # charged once
    requests = stripe_standin.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in requests] == ["purchase:org_acme:1"] * 2


async def test_no_answer_in_time_is_a_timeout(connect: Connect, stripe_standin: StripeStandIn) -> None:
    payments = connect(request_timeout_seconds=0.2)
    customer = await payments.create_customer(
        org_id="o", name="O", email="o@o.example", idempotency_key="c-o"
    )
    stripe_standin.fail_next(f"/v1/customers/{customer.customer_ref}", "hang", method="GET")

    with pytest.raises(PaymentProviderTimeout):
        await payments.list_payment_methods(customer_ref=customer.customer_ref)


async def test_stripe_failing_is_a_provider_error_and_nothing_is_charged(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.fail_next("/v1/payment_intents", "error")

    with pytest.raises(PaymentProviderError):
        await buy(payments, customer_ref)

    assert stripe_standin.api.payment_intents == {}


async def test_the_sdk_retries_a_lost_answer_itself_with_the_same_key(
    connect: Connect, stripe_standin: StripeStandIn
) -> None:
    payments = connect(max_network_retries=1)
    stripe_standin.fail_next("/v1/customers", "drop")

    customer = await payments.create_customer(
        org_id="o", name="O", email="o@o.example", idempotency_key="c-o"
    )

    assert list(stripe_standin.api.customers) == [customer.customer_ref]
    assert [r.idempotency_key for r in stripe_standin.requests_to("POST", "/v1/customers")] == ["c-o", "c-o"]


async def test_a_key_stripe_refuses_is_a_provider_error_naming_the_variable(connect: Connect) -> None:
    payments = connect(env={**STRIPE_ENV, "STRIPE_SECRET_KEY": "sk_test_revoked"})

    with pytest.raises(PaymentProviderError, match="STRIPE_SECRET_KEY"):
        await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c-o")


async def test_an_unknown_customer_is_a_request_error(payments: Payments) -> None:
    with pytest.raises(PaymentRequestError, match="No such customer"):
        await payments.list_payment_methods(customer_ref="cus_missing")


async def test_the_refund_names_the_payment_intent_and_keeps_a_free_reason_in_metadata(
    payments: Payments, customer_ref: str, stripe_standin: StripeStandIn
) -> None:
    charge = await buy(payments, customer_ref)

    await payments.refund(
        charge_ref=charge.charge_ref, amount=500, idempotency_key="refund:rr_1", reason="unused"
    )

    [request] = stripe_standin.requests_to("POST", "/v1/refunds")
    assert request.params == {
        "amount": "500",
        "payment_intent": charge.charge_ref,
        "metadata": {"reason": "unused"},
    }
    assert request.idempotency_key == "refund:rr_1"


async def test_one_client_serves_the_process_and_is_closed_at_shutdown(
    payments: Payments, customer_ref: str
) -> None:
    provider = payments.provider
    assert isinstance(provider, StripeProvider)
    await payments.list_payment_methods(customer_ref=customer_ref)
    http = provider.gateway._http._client_async  # the SDK's httpx pool, one for every call

    await payments.aclose()

    assert http.is_closed
