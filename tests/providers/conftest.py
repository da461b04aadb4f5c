"""The contract suite's fixtures: one Payments facade per provider, each built from its own plugins.toml.

To run the suite over another provider, add an entry to PROVIDERS: the plugins.toml text it needs
(given a temporary directory) and the environment it reads its secrets from. A provider that needs
something first (Stripe: the local stand-in server; the partner's: its package installed) names those
fixtures; their values are passed to its plugins_toml by name.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.payments import Payments, load_payments
from tests.providers.partner_package import PARTNER_ENV, PARTNER_PLUGINS_TOML, install_partner_package
from tests.providers.stripe_standin import STRIPE_ENV, stripe_plugins_toml


@dataclass(frozen=True)
class ProviderUnderTest:
    """How to configure one provider for the contract suite."""

    plugins_toml: Callable[..., str]
    env: dict[str, str] = field(default_factory=dict)
    fixtures: tuple[str, ...] = ()


PROVIDERS: dict[str, ProviderUnderTest] = {
    "fake": ProviderUnderTest(
        plugins_toml=lambda tmp: (
            f"""
[payments]
provider = "fake"
timeout_seconds = 5

[providers.fake]
state_path = "{tmp / "fake-provider.json"}"
"""
        )
    ),
    "stripe": ProviderUnderTest(
        plugins_toml=lambda tmp, stripe_standin: stripe_plugins_toml(stripe_standin),
        env=STRIPE_ENV,
        fixtures=("stripe_standin",),
    ),
    "partner": ProviderUnderTest(
        plugins_toml=lambda tmp, partner_installed: PARTNER_PLUGINS_TOML,
        env=PARTNER_ENV,
        fixtures=("partner_installed",),
    ),
}


@pytest.fixture(params=sorted(PROVIDERS))
async def provider(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Payments]:
    """The Payments facade of one provider under test (the suite runs once per provider)."""
    under_test = PROVIDERS[request.param]
    needed = {name: request.getfixturevalue(name) for name in under_test.fixtures}
    path = tmp_path / "plugins.toml"
    path.write_text(under_test.plugins_toml(tmp_path, **needed))
    payments = load_payments(path, env=under_test.env)
    yield payments
    await payments.aclose()


@pytest.fixture
async def customer_ref(provider: Payments) -> str:
    """A new customer of the provider under test, with no payment method."""
    customer = await provider.create_customer(
        org_id="org_contract",
        name="Contract Org",
        email="billing@contract.example",
        idempotency_key="cus-contract",
    )
    return customer.customer_ref


@pytest.fixture
def add_card(provider: Payments, customer_ref: str) -> Callable[[str], Awaitable[str]]:
    """Attach a test card (by token) to the customer and make it the default; gives its reference."""

    async def add(token: str) -> str:
        method = await provider.attach_payment_method(customer_ref=customer_ref, payment_method_ref=token)
        await provider.set_default_payment_method(customer_ref=customer_ref, payment_method_ref=method.ref)
        return method.ref

    return add


@pytest.fixture(scope="session")
def partner_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The partner's package examples/partner-provider, pip-installed (offline) into a folder of its own."""
    return install_partner_package(tmp_path_factory.mktemp("partner"))


@pytest.fixture
def partner_installed(partner_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The partner's package importable and its entry point visible, for this test only."""
    monkeypatch.syspath_prepend(str(partner_site))
    yield partner_site
    for name in [name for name in sys.modules if name.split(".")[0] == "acme_payments"]:
        del sys.modules[name]
