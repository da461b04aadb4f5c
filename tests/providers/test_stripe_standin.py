"""The stand-in is as strict as Stripe: parameters of the pinned API version only, keys kept 24 hours.

These requests are sent raw (not through the SDK), as a client that drifted from the pinned
version would send them; the stand-in must refuse them with Stripe's 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.payments import Payments, load_payments
from app.payments.errors import CustomerGone, PaymentRequestError
from app.payments.types import ChargePurpose
from providers.stripe.config import API_VERSION
from tests.providers.stripe_standin import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    STRIPE_ENV,
    StripeStandIn,
    stripe_plugins_toml,
)


@pytest.fixture
async def payments(stripe_standin: StripeStandIn, tmp_path: Path) -> AsyncIterator[Payments]:
    """Overrides tests/conftest.py's fixture: Stripe's facade over the stand-in, no database."""
    path = tmp_path / "plugins.toml"
    path.write_text(stripe_plugins_toml(stripe_standin))
    facade = load_payments(path, env=STRIPE_ENV)
    yield facade
    await facade.aclose()


async def post(
    standin: StripeStandIn,
    path: str,
    form: dict[str, str],
    *,
    key: str | None = None,
    version: str = API_VERSION,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {SECRET_KEY}", "Stripe-Version": version}
    if key:
        headers["Idempotency-Key"] = key
    async with httpx.AsyncClient(base_url=standin.url) as http:
        return await http.post(path, data=form, headers=headers)


def error(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    return answer.json()["error"]  # type: ignore[no-any-return]


async def customer(standin: StripeStandIn) -> str:
    return str((await post(standin, "/v1/customers", {"name": "Acme"})).json()["id"])


async def test_a_parameter_the_pinned_version_removed_is_refused(stripe_standin: StripeStandIn) -> None:
    ref = await customer(stripe_standin)

    answer = await post(
        stripe_standin, "/v1/setup_intents", {"customer": ref, "payment_method_types[0]": "card"}
    )

    assert error(answer) | {"message": ""} == {
        "type": "invalid_request_error",
        "message": "",
        "code": "parameter_unknown",
        "param": "payment_method_types",
    }
    assert stripe_standin.api.setup_intents == {}


@pytest.mark.parametrize(
    ("path", "form", "code", "param"),
    [
        ("/v1/payment_intents", {"currency": "usd"}, "parameter_missing", "amount"),
        ("/v1/payment_intents", {"amount": "500", "currency": "usd", "offsession": "true"}, "parameter_unknown", "offsession"),
        (
            "/v1/payment_intents",
            {"amount": "500", "currency": "usd", "payment_method_options[card][bogus]": "1"},
            "parameter_unknown",
            "payment_method_options[card][bogus]",
        ),
        ("/v1/payment_intents", {"amount": "five", "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ("/v1/payment_intents", {"amount": "500", "currency": "usd", "confirm": "yes"}, "parameter_invalid_boolean", "confirm"),
        ("/v1/customers", {"address[planet]": "Mars"}, "parameter_unknown", "address[planet]"),
        ("/v1/customers", {"invoice_settings[default_payment_method][0]": "pm_1"}, "parameter_invalid", "invoice_settings[default_payment_method]"),
    ],
)  # fmt: skip
async def test_unknown_missing_or_malformed_parameters_are_refused_at_any_depth(
    stripe_standin: StripeStandIn, path: str, form: dict[str, str], code: str, param: str
) -> None:
    refused = error(await post(stripe_standin, path, form))

    assert (refused["code"], refused["param"]) == (code, param)
    assert stripe_standin.api.invalid_requests[-1][1] == path


async def test_another_api_version_is_refused(stripe_standin: StripeStandIn) -> None:
    answer = await post(stripe_standin, "/v1/customers", {"name": "Acme"}, version="2024-06-20")

    assert "API version" in error(answer)["message"] and stripe_standin.api.customers == {}


async def test_a_key_replays_its_first_answer_for_24_hours_then_is_forgotten(
    stripe_standin: StripeStandIn,
) -> None:
    first = (await post(stripe_standin, "/v1/customers", {"name": "Acme"}, key="k-1")).json()
    stripe_standin.advance(hours=23)
    replayed = (await post(stripe_standin, "/v1/customers", {"name": "Acme"}, key="k-1")).json()
    reused = await post(stripe_standin, "/v1/customers", {"name": "Other"}, key="k-1")
    stripe_standin.advance(hours=2)
    later = (await post(stripe_standin, "/v1/customers", {"name": "Acme"}, key="k-1")).json()

    assert replayed == first
    assert error(reused)["type"] == "idempotency_error"
    assert later["id"] != first["id"] and len(stripe_standin.api.customers) == 2


async def test_a_card_refused_when_saved_is_a_request_error_people_can_read(payments: Payments) -> None:
    customer_ref = (
        await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c-o")
    ).customer_ref

    with pytest.raises(PaymentRequestError) as refused:
        await payments.attach_payment_method(
            customer_ref=customer_ref, payment_method_ref="pm_card_chargeDeclinedIncorrectCvc"
        )

    assert refused.value.code == "incorrect_cvc"
    assert refused.value.user_message == "Your card's security code is incorrect."


async def test_a_customer_deleted_at_stripe_is_gone_for_every_call(
    payments: Payments, stripe_standin: StripeStandIn
) -> None:
    customer_ref = (
        await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c-o")
    ).customer_ref
    card = await payments.attach_payment_method(customer_ref=customer_ref, payment_method_ref="pm_card_visa")
    stripe_standin.api.delete_customer(customer_ref)

    for call in (
        payments.setup_payment_method(customer_ref=customer_ref, idempotency_key="s-1"),
        payments.list_payment_methods(customer_ref=customer_ref),
        payments.set_default_payment_method(customer_ref=customer_ref, payment_method_ref=card.ref),
        payments.charge(
            customer_ref=customer_ref,
            amount=500,
            currency="usd",
            purpose=ChargePurpose.PURCHASE,
            description="Credits",
            idempotency_key="p-1",
        ),
    ):
        with pytest.raises(CustomerGone) as gone:
            await call
        assert gone.value.user_message == "The payment provider no longer knows this customer."
    assert stripe_standin.api.payment_intents == {}


async def test_stripe_js_requests_need_the_publishable_key_and_the_intents_client_secret(
    stripe_standin: StripeStandIn, payments: Payments
) -> None:
    customer = await payments.create_customer(
        org_id="org_js", name="JS", email="js@example.com", idempotency_key="cus-js"
    )
    setup = await payments.setup_payment_method(customer_ref=customer.customer_ref, idempotency_key="seti-js")
    path = f"{stripe_standin.url}/v1/setup_intents/{setup.setup_ref}/confirm"
    card = {"payment_method_data[type]": "card", "payment_method_data[card][number]": "4242 4242 4242 4242"}
    async with httpx.AsyncClient() as browser:  # as Stripe.js sends them: no Authorization header
        wrong_key = await browser.post(
            path, data={"key": "pk_test_other", "client_secret": setup.client_secret, **card}
        )
        wrong_secret = await browser.post(
            path, data={"key": PUBLISHABLE_KEY, "client_secret": "seti_x_secret_y", **card}
        )
        unknown_card = await browser.post(
            path,
            data={
                "key": PUBLISHABLE_KEY,
                "client_secret": setup.client_secret,
                **card,
                "payment_method_data[card][number]": "1234",
            },
        )
        confirmed = await browser.post(
            path, data={"key": PUBLISHABLE_KEY, "client_secret": setup.client_secret, **card}
        )

    assert (wrong_key.status_code, wrong_secret.status_code, unknown_card.status_code) == (401, 404, 402)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"
    # the confirmed set-up's card is the customer's: the provider attaches it as the console asks
    attached = await payments.attach_payment_method(
        customer_ref=customer.customer_ref, payment_method_ref=confirmed.json()["payment_method"]
    )
    assert attached.last4 == "4242"
