"""Starting with Stripe: secrets from the environment only, modes told apart, bad settings named."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.payments import Payments, load_payments
from app.payments.errors import PaymentRequestError, PluginConfigError
from providers.stripe import Mode, StripeProvider
from providers.stripe.config import API_VERSION
from tests.providers.stripe_standin import STRIPE_ENV, StripeStandIn, stripe_plugins_toml

LIVE_ENV = {"STRIPE_SECRET_KEY": "sk_live_51Hxlivekey", "STRIPE_WEBHOOK_SECRET": "whsec_live"}
Load = Callable[..., Payments]


@pytest.fixture
def load(stripe_standin: StripeStandIn, tmp_path: Path) -> Load:
    """Load the payments facade with Stripe chosen, the given environment and [providers.stripe] settings."""

    def build(env: dict[str, str], **settings: Any) -> Payments:
        path = tmp_path / "plugins.toml"
        path.write_text(stripe_plugins_toml(stripe_standin, **settings))
        return load_payments(path, env=env)

    return build


@pytest.mark.parametrize("missing", ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"])
def test_a_missing_secret_refuses_start_up_naming_the_variable(load: Load, missing: str) -> None:
    env = {name: value for name, value in STRIPE_ENV.items() if name != missing}

    with pytest.raises(PluginConfigError, match=f"'stripe'.*needs the environment variable.*{missing}"):
        load(env)


async def test_a_test_mode_key_is_logged_as_such_and_the_key_never(
    load: Load, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="providers.stripe"):
        payments = load(STRIPE_ENV)

    assert isinstance(payments.provider, StripeProvider) and payments.provider.mode is Mode.TEST
    assert "test mode" in caplog.text
    assert STRIPE_ENV["STRIPE_SECRET_KEY"] not in caplog.text and "whsec_" not in caplog.text
    await payments.aclose()


async def test_a_live_mode_key_is_logged_loudly(load: Load, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="providers.stripe"):
        payments = load(LIVE_ENV, api_base="https://api.stripe.com", publishable_key="pk_live_51Hx")

    assert isinstance(payments.provider, StripeProvider) and payments.provider.mode is Mode.LIVE
    assert "LIVE mode" in caplog.text and LIVE_ENV["STRIPE_SECRET_KEY"] not in caplog.text
    await payments.aclose()


@pytest.mark.parametrize(
    ("env", "settings", "named"),
    [
        (
            {**STRIPE_ENV, "STRIPE_SECRET_KEY": "pk_test_oops"},
            {},
            "STRIPE_SECRET_KEY must be a Stripe secret key",
        ),
        ({**STRIPE_ENV, "STRIPE_WEBHOOK_SECRET": "sk_test_oops"}, {}, "STRIPE_WEBHOOK_SECRET must be"),
        (STRIPE_ENV, {"publishable_key": "pk_live_51Hx"}, "publishable_key must be the test-mode"),
        (STRIPE_ENV, {"publishable_key": ""}, "publishable_key must be"),
        (LIVE_ENV, {"publishable_key": "pk_live_51Hx"}, "api_base must use https with a live-mode key"),
        (STRIPE_ENV, {"api_base": "api.stripe.com"}, "api_base must be an http(s) URL"),
        (STRIPE_ENV, {"webhook_tolerance_seconds": 0}, "webhook_tolerance_seconds must be positive"),
        (STRIPE_ENV, {"max_network_retries": 9}, "max_network_retries must be between"),
        (STRIPE_ENV, {"request_timeout_seconds": "fast"}, "request_timeout_seconds must be of type float"),
        (STRIPE_ENV, {"api_bse": "x"}, "unknown setting(s) ['api_bse']"),
    ],
)
def test_a_bad_setting_refuses_start_up_naming_it(
    load: Load, env: dict[str, str], settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(PluginConfigError) as refused:
        load(env, **settings)

    assert "[providers.stripe]" in str(refused.value) and named in str(refused.value)
    assert env["STRIPE_SECRET_KEY"] not in str(refused.value)


async def test_every_request_carries_the_pinned_api_version_logged_at_start_up(
    load: Load, stripe_standin: StripeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="providers.stripe"):
        payments = load(STRIPE_ENV)
    await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c-o")

    assert f"API version {API_VERSION}" in caplog.text and "overriding" not in caplog.text
    assert [r.headers["stripe-version"] for r in stripe_standin.requests] == [API_VERSION]
    await payments.aclose()


async def test_an_operator_may_stay_on_an_older_api_version_and_it_is_said_at_start_up(
    load: Load, stripe_standin: StripeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="providers.stripe"):
        payments = load(STRIPE_ENV, api_version="2026-08-27.dahlia")

    with pytest.raises(PaymentRequestError):  # the stand-in speaks only the pinned version
        await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c-o")

    assert f"API version 2026-08-27.dahlia, overriding the pinned {API_VERSION}" in caplog.text
    assert stripe_standin.requests[0].headers["stripe-version"] == "2026-08-27.dahlia"
    await payments.aclose()


def test_an_api_version_that_is_not_one_is_refused(load: Load) -> None:
    with pytest.raises(PluginConfigError, match="api_version must be a Stripe API version"):
        load(STRIPE_ENV, api_version="latest")
