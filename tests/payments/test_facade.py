"""The Payments facade: policies answer in order, broadcasts reach everyone, missing answers are errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.payments import Payments, hookimpl, load_payments
from app.payments.errors import MissingHookResult
from app.payments.types import ChargePurpose, RefundDecision
from tests.payments.partner import charge, partner_package

WriteToml = Callable[[str], Path]
Install = Callable[..., None]

# Policies and broadcasts -------------------------------------------------------------------------


async def test_a_partner_policy_decides_refunds_before_the_default(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    def refund_decision(amount: int) -> RefundDecision | None:
        # Small refunds granted; anything else left to the next policy.
        return RefundDecision(approved=True, reason="Goodwill") if amount <= 1000 else None

    installed_plugins(goodwill=SimpleNamespace(refund_decision=hookimpl(refund_decision)))
    path = write_plugins_toml(
        '[payments]\nprovider = "fake"\nplugins = ["goodwill"]\n[providers.fake]\nstate_path = ""\n'
    )
    payments = load_payments(path, env={})

    small = await payments.refund_decision(org_id="o", charge_ref="ch", amount=500, reason="oops")
    large = await payments.refund_decision(org_id="o", charge_ref="ch", amount=5000, reason="oops")

    assert small == RefundDecision(approved=True, reason="Goodwill")
    assert large == RefundDecision(approved=False, reason="All purchases are final")


async def test_billing_event_reaches_every_listener_sync_or_async(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    heard: list[tuple[str, str]] = []

    async def later(event_type: str) -> None:
        heard.append(("async", event_type))

    def now_listener(event_type: str, org_id: str) -> None:
        heard.append(("sync", f"{event_type}@{org_id}"))

    installed_plugins(
        mailer=SimpleNamespace(billing_event=hookimpl(lambda event_type: later(event_type))),
        audit=SimpleNamespace(billing_event=hookimpl(now_listener)),
    )
    path = write_plugins_toml(
        '[payments]\nprovider = "fake"\nplugins = ["mailer", "audit"]\n[providers.fake]\nstate_path = ""\n'
    )
    payments = load_payments(path, env={})

    await payments.billing_event(event_type="credits.purchased", org_id="org_1", data={"amount": "25.00"})

    assert sorted(heard) == [("async", "credits.purchased"), ("sync", "credits.purchased@org_1")]


async def test_failing_billing_event_listeners_do_not_silence_the_others(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    heard: list[str] = []

    async def broken() -> None:
        raise RuntimeError("mail server down")

    async def working(event_type: str) -> None:
        heard.append(event_type)

    installed_plugins(
        broken=SimpleNamespace(billing_event=hookimpl(lambda: broken())),
        working=SimpleNamespace(billing_event=hookimpl(lambda event_type: working(event_type))),
    )
    path = write_plugins_toml(
        '[payments]\nprovider = "fake"\nplugins = ["broken", "working"]\n[providers.fake]\nstate_path = ""\n'
    )
    payments = load_payments(path, env={})

    with pytest.raises(ExceptionGroup) as failed:
        await payments.billing_event(event_type="auto_recharge.failed", org_id="org_1", data={})

    assert heard == ["auto_recharge.failed"]
    assert [str(error) for error in failed.value.exceptions] == ["mail server down"]


async def test_aclose_calls_payments_shutdown_once(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    package = partner_package()
    installed_plugins(acme=package)
    payments = load_payments(write_plugins_toml('[payments]\nprovider = "acme"\n'), env={})

    async with payments:
        pass
    await payments.aclose()

    # The partner's payments_shutdown ran once, although the facade was closed twice.
    assert package.created[0].closed == 1


# The facade handles missing answers and bad arguments on purpose ------------------------------------


async def test_a_missing_answer_where_one_is_required_is_an_error(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    installed_plugins(acme=partner_package())
    payments = load_payments(write_plugins_toml('[payments]\nprovider = "acme"\n'), env={})

    # The partner provider implements no customer hook: nobody answers.
    with pytest.raises(MissingHookResult, match="no plugin answered create_customer"):
        await payments.create_customer(org_id="o", name="O", email="o@o.example", idempotency_key="c")


async def test_an_answer_of_the_wrong_type_is_an_error(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    provider = SimpleNamespace(
        payment_provider_name=hookimpl(lambda: "acme"),
        charge=hookimpl(lambda amount: {"status": "succeeded"}),
    )
    installed_plugins(acme=SimpleNamespace(make_plugin=lambda **_: provider))
    payments = load_payments(write_plugins_toml('[payments]\nprovider = "acme"\n'), env={})

    with pytest.raises(MissingHookResult, match="charge returned dict, expected ChargeResult"):
        await charge(payments)


@pytest.mark.parametrize(
    ("amount", "currency", "key"),
    [(0, "usd", "k"), (True, "usd", "k"), (1.5, "usd", "k"), (100, "USD", "k"), (100, "usd", " ")],
)
async def test_charge_arguments_are_checked_before_any_provider_call(
    payments: Payments, amount: Any, currency: str, key: str
) -> None:
    with pytest.raises(ValueError):
        await payments.charge(
            customer_ref="cus",
            amount=amount,
            currency=currency,
            purpose=ChargePurpose.PURCHASE,
            description="x",
            idempotency_key=key,
        )
