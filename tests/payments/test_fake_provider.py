"""The fake provider beyond the contract: state across restarts, injected faults, signed webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.payments import Payments, load_payments
from app.payments.errors import (
    PaymentProviderError,
    PaymentProviderTimeout,
    PaymentRequestError,
    PluginConfigError,
    WebhookError,
    WebhookSignatureError,
)
from app.payments.types import BillingAddress, ChargePurpose, ChargeResult, ChargeStatus
from providers.fake import DEV_WEBHOOK_SECRET, FakeProvider, find_card, make_plugin


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def recharge(
    payments: Payments, customer_ref: str, key: str = "recharge-org_acme-0001"
) -> ChargeResult:
    return await payments.charge(
        customer_ref=customer_ref,
        amount=5000,
        currency="usd",
        purpose=ChargePurpose.AUTO_RECHARGE,
        description="Auto-recharge",
        idempotency_key=key,
    )


async def test_state_survives_a_restart(
    payments: Payments, customer_ref: str, fake_plugins_toml: Path
) -> None:
    charge = await recharge(payments, customer_ref)
    await payments.aclose()

    restarted = load_payments(fake_plugins_toml, env={})
    methods = await restarted.list_payment_methods(customer_ref=customer_ref)
    retried = await recharge(restarted, customer_ref)

    assert [(method.last4, method.is_default) for method in methods] == [("4242", True)]
    assert retried == charge
    assert isinstance(restarted.provider, FakeProvider)
    assert restarted.provider.recorded_charges(customer_ref) == [charge]


async def test_a_new_plugin_object_on_the_same_state_file_sees_everything(tmp_path: Path) -> None:
    first = make_plugin(settings={"state_path": "state.json"}, env={}, base_dir=tmp_path)
    customer = await first.create_customer(
        org_id="org_1", name="A", email="a@a.example", idempotency_key="c-1"
    )

    second = make_plugin(settings={"state_path": "state.json"}, env={}, base_dir=tmp_path)
    again = await second.create_customer(org_id="org_1", name="A", email="a@a.example", idempotency_key="c-1")

    assert again == customer
    assert files_in(tmp_path) == ["state.json"]  # no temporary file left behind


async def test_an_empty_state_path_keeps_state_in_memory(tmp_path: Path) -> None:
    fake = make_plugin(settings={"state_path": ""}, env={}, base_dir=tmp_path)
    await fake.create_customer(org_id="org_1", name="A", email="a@a.example", idempotency_key="c-1")

    assert fake.state_path is None and files_in(tmp_path) == []


def test_an_unreadable_state_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")

    with pytest.raises(PluginConfigError, match="state.json"):
        make_plugin(settings={"state_path": "state.json"}, env={}, base_dir=tmp_path)


async def test_latency_beyond_the_timeout_is_a_timeout_and_charges_nothing(
    fake_plugins_toml_with_timeout: Callable[[float], Path],
) -> None:
    payments = load_payments(fake_plugins_toml_with_timeout(0.05), env={})
    customer = await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c")
    card = await payments.attach_payment_method(
        customer_ref=customer.customer_ref, payment_method_ref="pm_card_visa"
    )
    await payments.set_default_payment_method(customer_ref=customer.customer_ref, payment_method_ref=card.ref)
    fake = payments.provider
    assert isinstance(fake, FakeProvider)
    fake.faults.latency_seconds = 0.5

    with pytest.raises(PaymentProviderTimeout, match="charge took longer than 0.05s"):
        await recharge(payments, customer.customer_ref)

    assert fake.recorded_charges() == []
    fake.faults.clear()
    assert (await recharge(payments, customer.customer_ref)).succeeded


async def test_small_latency_only_slows_calls_down(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    fake.faults.latency_seconds = 0.01

    assert (await recharge(payments, customer_ref)).succeeded


async def test_an_injected_timeout_charges_nothing_and_a_retry_charges_once(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    fake.faults.fail_next(1, kind="timeout", operation="charge")

    with pytest.raises(PaymentProviderTimeout):
        await recharge(payments, customer_ref)
    assert fake.recorded_charges(customer_ref) == []

    retried = await recharge(payments, customer_ref)
    assert retried.succeeded and fake.recorded_charges(customer_ref) == [retried]


async def test_injected_errors_fail_the_next_calls_then_stop(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    fake.faults.fail_next(2, kind="error")

    for _ in range(2):
        with pytest.raises(PaymentProviderError):
            await recharge(payments, customer_ref)

    assert fake.faults.pending == 0
    assert (await recharge(payments, customer_ref)).succeeded


async def test_a_fault_aimed_at_charges_leaves_other_calls_alone(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    fake.faults.fail_next(kind="error", operation="charge")

    await payments.list_payment_methods(customer_ref=customer_ref)
    with pytest.raises(PaymentProviderError):
        await recharge(payments, customer_ref)


async def test_a_lost_response_then_a_retry_with_the_same_key_returns_the_original_charge(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    fake.faults.fail_next(kind="lost_response", operation="charge")

    with pytest.raises(PaymentProviderTimeout):
        await recharge(payments, customer_ref)
    [recorded] = fake.recorded_charges(customer_ref)
    assert recorded.status is ChargeStatus.SUCCEEDED

    retried = await recharge(payments, customer_ref)

    assert retried == recorded
    assert fake.recorded_charges(customer_ref) == [recorded]


def test_fault_switches_refuse_nonsense(fake: FakeProvider) -> None:
    with pytest.raises(ValueError):
        fake.faults.fail_next(0)
    with pytest.raises(ValueError):
        fake.faults.fail_next(1, kind="explode")  # type: ignore[arg-type]


async def test_cards_attach_by_number_as_well_as_by_token(payments: Payments, customer_ref: str) -> None:
    card = await payments.attach_payment_method(
        customer_ref=customer_ref, payment_method_ref="4000 0000 0000 9995"
    )

    assert (card.brand, card.last4) == ("visa", "9995")
    assert find_card("pm_card_chargeDeclinedInsufficientFunds").number == "4000000000009995"


async def test_unknown_cards_and_customers_are_refused(payments: Payments, customer_ref: str) -> None:
    with pytest.raises(PaymentRequestError, match="no such test card"):
        await payments.attach_payment_method(customer_ref=customer_ref, payment_method_ref="pm_card_bogus")
    with pytest.raises(PaymentRequestError, match="no such customer"):
        await recharge(payments, "cus_fake_missing")


async def test_the_billing_address_is_kept_by_the_fake_provider(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    address = BillingAddress(name="Acme", line1="1 Main St", city="Paris", postal_code="75001", country="FR")
    await payments.update_billing_address(customer_ref=customer_ref, address=address)

    assert fake.billing_address(customer_ref) == address


def webhook_body() -> bytes:
    return json.dumps({"id": "evt_1", "type": "charge.refunded", "data": {"charge_ref": "ch_1"}}).encode()


async def test_a_signed_webhook_is_parsed(payments: Payments, fake: FakeProvider) -> None:
    body = webhook_body()

    signature = fake.sign_webhook(body)["x-fake-signature"]

    event = await payments.parse_webhook(payload=body, headers={"X-Fake-Signature": signature})

    assert event is not None
    assert (event.id, event.type, dict(event.data)) == ("evt_1", "charge.refunded", {"charge_ref": "ch_1"})


async def test_a_webhook_with_a_wrong_signature_is_refused(payments: Payments, fake: FakeProvider) -> None:
    headers = fake.sign_webhook(webhook_body())

    with pytest.raises(WebhookSignatureError):
        await payments.parse_webhook(payload=webhook_body() + b" ", headers=headers)


async def test_a_signed_webhook_that_is_not_an_event_is_refused(
    payments: Payments, fake: FakeProvider
) -> None:
    with pytest.raises(WebhookError, match="not JSON"):
        await payments.parse_webhook(payload=b"nope", headers=fake.sign_webhook(b"nope"))
    with pytest.raises(WebhookError, match="must be"):
        await payments.parse_webhook(payload=b"[]", headers=fake.sign_webhook(b"[]"))


async def test_the_webhook_secret_comes_from_the_environment(fake_plugins_toml: Path) -> None:
    body = webhook_body()
    payments = load_payments(fake_plugins_toml, env={"FAKE_WEBHOOK_SECRET": "from-the-environment"})
    signed = hmac.new(b"from-the-environment", body, hashlib.sha256).hexdigest()
    with_dev_secret = hmac.new(DEV_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()

    assert await payments.parse_webhook(payload=body, headers={"x-fake-signature": signed}) is not None
    with pytest.raises(WebhookSignatureError):
        await payments.parse_webhook(payload=body, headers={"x-fake-signature": with_dev_secret})


async def test_concurrent_charges_with_one_key_charge_once(
    payments: Payments, fake: FakeProvider, customer_ref: str
) -> None:
    results = await asyncio.gather(*(recharge(payments, customer_ref) for _ in range(5)))

    assert len({result.charge_ref for result in results}) == 1
    assert len(fake.recorded_charges(customer_ref)) == 1
