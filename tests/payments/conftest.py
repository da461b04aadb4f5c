"""Fixtures of the payment plugin tests: plugins.toml files, stand-in entry points, the fake provider."""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.payments import Payments, load_payments
from app.payments.manager import ENTRY_POINT_GROUP
from providers.fake import FakeProvider

FAKE_PLUGINS_TOML = """
[payments]
provider = "fake"
timeout_seconds = {timeout}

[providers.fake]
state_path = "fake-provider.json"
"""


@pytest.fixture
def write_plugins_toml(tmp_path: Path) -> Callable[[str], Path]:
    """Write a plugins.toml with the given text in a temporary directory; gives its path."""

    def write(text: str) -> Path:
        path = tmp_path / "plugins.toml"
        path.write_text(text)
        return path

    return write


@dataclass
class StandInEntryPoint:
    """What importlib.metadata gives for an installed package's entry point, loading a given object."""

    name: str
    target: Any
    group: str = ENTRY_POINT_GROUP

    @property
    def value(self) -> str:
        return f"partner_package:{self.name}"

    def load(self) -> Any:
        return self.target


@pytest.fixture
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Pretend packages are installed that declare entry points name=target in our group."""

    def install(**targets: Any) -> None:
        points = [StandInEntryPoint(name, target) for name, target in targets.items()]

        def entry_points(**selection: str) -> list[StandInEntryPoint]:
            return [point for point in points if selection.get("group", point.group) == point.group]

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    return install


@pytest.fixture
def fake_plugins_toml_with_timeout(write_plugins_toml: Callable[[str], Path]) -> Callable[[float], Path]:
    """Write a plugins.toml choosing the fake provider with the given call timeout; gives its path."""
    return lambda timeout: write_plugins_toml(FAKE_PLUGINS_TOML.format(timeout=timeout))


@pytest.fixture
def fake_plugins_toml(fake_plugins_toml_with_timeout: Callable[[float], Path]) -> Path:
    """A plugins.toml choosing the fake provider, its state in a file beside it."""
    return fake_plugins_toml_with_timeout(5)


@pytest.fixture
async def payments(fake_plugins_toml: Path) -> AsyncIterator[Payments]:
    """The Payments facade over the fake provider, its state kept in a temporary file.

    Overrides tests/conftest.py's fixture of the same name here: these tests need no database.
    """
    facade = load_payments(fake_plugins_toml, env={})
    yield facade
    await facade.aclose()


@pytest.fixture
def fake(payments: Payments) -> FakeProvider:
    """The fake provider's plugin object behind the payments facade, with its switches."""
    assert isinstance(payments.provider, FakeProvider)
    return payments.provider


@pytest.fixture
async def customer_ref(payments: Payments) -> str:
    """A customer of the fake provider whose default card is the test Visa that always succeeds."""
    customer = await payments.create_customer(
        org_id="org_acme", name="Acme", email="billing@acme.example", idempotency_key="customer-org_acme"
    )
    card = await payments.attach_payment_method(
        customer_ref=customer.customer_ref, payment_method_ref="pm_card_visa"
    )
    await payments.set_default_payment_method(customer_ref=customer.customer_ref, payment_method_ref=card.ref)
    return customer.customer_ref
