"""A partner's provider package (examples/partner-provider), pip-installed, found by its entry point.

The contract suite runs over it too (tests/providers/test_contract.py, provider "partner"); here: it
is chosen by name without a change to the service's code, and its refund policy approves small refunds.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.credits.errors import RefundRefused
from app.domain.credits.models import RefundStatus
from app.domain.credits.purchases import add_credits
from app.domain.credits.refunds import request_refund
from app.payments import load_payments
from app.payments.errors import PluginConfigError
from app.payments.manager import ENTRY_POINT_GROUP, known_providers
from app.settings import Settings
from tests.providers.partner_package import PARTNER_ENV, PARTNER_PLUGINS_TOML
from tests.support import World


@pytest.fixture
def plugins_toml(tmp_path: Path, partner_installed: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides tests/conftest.py's fixture: the service's plugins.toml chooses the partner's provider."""
    for name, value in PARTNER_ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "plugins.toml"
    path.write_text(PARTNER_PLUGINS_TOML)
    return path


def test_the_installed_package_declares_its_provider_in_the_group(partner_installed: Path) -> None:
    [entry_point] = [
        ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "acme"
    ]

    assert entry_point.value == "acme_payments"
    assert entry_point.dist is not None and entry_point.dist.metadata["Name"] == "acme-payments"
    assert "acme" in known_providers()


def test_it_is_chosen_by_name_and_needs_its_own_secret(partner_installed: Path, plugins_toml: Path) -> None:
    payments = load_payments(plugins_toml, env={**PARTNER_ENV, "STRIPE_SECRET_KEY": "sk_test_not_for_acme"})

    assert payments.provider_name == "acme"
    assert payments.plugin_names == ("default_policies", "provider:acme")
    assert payments.provider.__class__.__module__ == "acme_payments.plugin"
    with pytest.raises(PluginConfigError, match="needs the environment variable.*ACME_WEBHOOK_SECRET"):
        load_payments(plugins_toml, env={})


async def test_the_app_uses_it_unchanged_and_its_policy_approves_a_small_refund(
    settings: Settings, database: Database, world: World
) -> None:
    app = create_app(settings, database=database)  # plugins.toml says "acme"; no code names it
    payments = app.state.services.payments
    admin = Actor(world.people["admin"].user_id)
    assert payments.provider_name == "acme"

    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    purchase = await add_credits(
        database,
        admin,
        world.acme_id,
        payments=payments,
        amount="25.00",
        idempotency_key="click-00001",
        settings=settings,
    )
    small = await request_refund(
        database, admin, purchase.grant.id, payments=payments, reason="bought twice", amount="5.00"
    )
    with pytest.raises(RefundRefused, match="All purchases are final"):
        await request_refund(database, admin, purchase.grant.id, payments=payments, reason="changed my mind")

    assert purchase.charge.provider_charge_ref is not None and purchase.charge.provider_charge_ref.startswith(
        "ch_acme_"
    )
    assert small.status is RefundStatus.REFUNDED and small.decision_reason.startswith("ACME approves refunds")
    assert small.refund_ref is not None and small.refund_ref.startswith("re_acme_")
    ledger = payments.provider.ledger  # type: ignore[attr-defined]
    assert [entry.details["amount"] for entry in ledger.of("refund")] == [500]


async def test_its_webhooks_reach_the_same_endpoint(settings: Settings, database: Database) -> None:
    app = create_app(settings, database=database)
    acme = app.state.services.payments.provider
    body = b'{"id": "evt_acme_1", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}'

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        signed = await client.post(
            "/webhooks/acme", content=body, headers={"x-acme-signature": acme.sign(body)}
        )
        forged = await client.post("/webhooks/acme", content=body, headers={"x-acme-signature": "0" * 64})

    assert (signed.status_code, signed.json()["result"]) == (200, "ignored")
    assert forged.status_code == 400
