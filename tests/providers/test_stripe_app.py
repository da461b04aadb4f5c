"""The service over Stripe: it starts with the keys in the environment, refuses to without them, and buys credits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.credits.purchases import add_credits
from app.payments.errors import PluginConfigError
from app.settings import Settings
from providers.stripe import StripeProvider
from tests.providers.stripe_standin import STRIPE_ENV, StripeStandIn, stripe_plugins_toml
from tests.support import World


@pytest.fixture
def plugins_toml(tmp_path: Path, stripe_standin: StripeStandIn) -> Path:
    """Overrides tests/conftest.py's fixture: plugins.toml chooses Stripe (the stand-in)."""
    path = tmp_path / "plugins.toml"
    path.write_text(stripe_plugins_toml(stripe_standin))
    return path


@pytest.fixture
def stripe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripe's secret key and webhook signing secret in the environment, as in production."""
    for name, value in STRIPE_ENV.items():
        monkeypatch.setenv(name, value)


async def test_the_app_starts_against_stripe_and_buys_credits_through_it(
    settings: Settings, database: Database, world: World, stripe_standin: StripeStandIn, stripe_keys: None
) -> None:
    app = create_app(settings, database=database)
    payments = app.state.services.payments
    assert payments.provider_name == "stripe" and isinstance(payments.provider, StripeProvider)

    transport = httpx.ASGITransport(app=app)
    # start-up and shutdown in the test's own event loop (asyncpg connections are tied to it)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.post("/webhooks/stripe", content=b"{}")).status_code == 400  # unsigned
        # the fake provider's 3-D Secure endpoint is served only while the fake provider is chosen
        fake_3ds = await client.post("/fake-provider/authentications", json={})  # there: a 400
        assert fake_3ds.status_code == 404
        await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
        purchase = await add_credits(
            database,
            Actor(world.people["admin"].user_id),
            world.acme_id,
            payments=payments,
            amount="25.00",
            idempotency_key="console-click-0001",
            settings=settings,
        )

    ref = purchase.charge.provider_charge_ref
    assert ref in stripe_standin.api.payment_intents
    # the PaymentIntent is created, its id stored, then confirmed: two requests, one PaymentIntent
    created, confirmed = stripe_standin.requests_to("POST", "/v1/payment_intents")
    assert created.idempotency_key == f"purchase:{world.acme_id}:console-click-0001"
    assert (confirmed.path, confirmed.params) == (f"/v1/payment_intents/{ref}/confirm", {})
    assert stripe_standin.api.invalid_requests == []
    assert payments.provider.gateway._http._client_async.is_closed  # closed at shutdown


@pytest.mark.parametrize("missing", ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"])
def test_without_a_stripe_secret_the_app_refuses_to_start_naming_it(
    settings: Settings, stripe_keys: None, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)

    with pytest.raises(PluginConfigError, match=f"needs the environment variable.*{missing}"):
        create_app(settings)
