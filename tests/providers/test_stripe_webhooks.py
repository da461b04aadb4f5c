"""Stripe's webhook signatures, verified on the raw body: t=…,v1=HMAC-SHA256 of f"{t}.{body}"."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.payments import Payments, load_payments
from app.payments.errors import WebhookError, WebhookSignatureError
from tests.providers.stripe_standin import (
    STRIPE_ENV,
    WEBHOOK_SECRET,
    StripeStandIn,
    stripe_plugins_toml,
    stripe_signature,
)

BODY = (
    b'{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "livemode": false, '
    b'"data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 2500}}}'
)


@pytest.fixture
async def payments(stripe_standin: StripeStandIn, tmp_path: Path) -> AsyncIterator[Payments]:
    """Overrides tests/conftest.py's fixture: Stripe's facade (tolerance 300 s), no database."""
    path = tmp_path / "plugins.toml"
    path.write_text(stripe_plugins_toml(stripe_standin, webhook_tolerance_seconds=300))
    facade = load_payments(path, env=STRIPE_ENV)
    yield facade
    await facade.aclose()


async def test_a_signed_event_is_verified_and_decoded(payments: Payments) -> None:
    event = await payments.parse_webhook(payload=BODY, headers={"Stripe-Signature": stripe_signature(BODY)})

    assert event is not None
    assert (event.id, event.type) == ("evt_1", "payment_intent.succeeded")
    assert event.data == {"object": {"id": "pi_1", "object": "payment_intent", "amount": 2500}}


@pytest.mark.parametrize(
    ("payload", "signature"),
    [
        pytest.param(BODY.replace(b"2500", b"9900"), stripe_signature(BODY), id="tampered body"),
        pytest.param(BODY, stripe_signature(BODY, "whsec_someone_else"), id="wrong secret"),
        pytest.param(BODY, stripe_signature(BODY, timestamp=int(time.time()) - 301), id="stale timestamp"),
        pytest.param(BODY, stripe_signature(BODY).replace("v1=", "v0="), id="no v1 signature"),
        pytest.param(BODY, "garbage", id="malformed header"),
    ],
)
async def test_a_bad_signature_is_refused(payments: Payments, payload: bytes, signature: str) -> None:
    with pytest.raises(WebhookSignatureError):
        await payments.parse_webhook(payload=payload, headers={"stripe-signature": signature})


async def test_while_the_secret_is_rolled_any_valid_v1_is_accepted(payments: Payments) -> None:
    old = stripe_signature(BODY, "whsec_old_secret")
    new = stripe_signature(BODY, WEBHOOK_SECRET).split(",")[1]

    assert (
        await payments.parse_webhook(payload=BODY, headers={"stripe-signature": f"{old},{new}"}) is not None
    )


async def test_a_request_without_a_stripe_signature_is_not_addressed_to_stripe(payments: Payments) -> None:
    assert await payments.parse_webhook(payload=BODY, headers={"x-fake-signature": "x"}) is None


async def test_a_signed_body_that_is_not_an_event_is_refused(payments: Payments) -> None:
    with pytest.raises(WebhookError, match="not a JSON event"):
        await payments.parse_webhook(
            payload=b"not json", headers={"stripe-signature": stripe_signature(b"not json")}
        )
