"""What every payment provider must do, run over each provider through the Payments facade."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.payments import Payments
from app.payments.errors import IdempotencyConflict, PaymentRequestError
from app.payments.types import BillingAddress, ChargePurpose, ChargeResult, ChargeStatus, RefundStatus

AddCard = Callable[[str], Awaitable[str]]


async def buy(provider: Payments, customer_ref: str, key: str, amount: int = 2500) -> ChargeResult:
    return await provider.charge(
        customer_ref=customer_ref,
        amount=amount,
        currency="usd",
        purpose=ChargePurpose.PURCHASE,
        description="Credits",
        idempotency_key=key,
    )


async def test_create_customer_is_idempotent_by_key(provider: Payments) -> None:
    arguments = {
        "org_id": "org_1",
        "name": "Acme",
        "email": "billing@acme.example",
        "idempotency_key": "cus-org_1",
    }
    first = await provider.create_customer(**arguments)
    again = await provider.create_customer(**arguments)
    other = await provider.create_customer(**{**arguments, "org_id": "org_2", "idempotency_key": "cus-org_2"})

    assert first.customer_ref and again.customer_ref == first.customer_ref
    assert other.customer_ref != first.customer_ref


async def test_create_customer_with_a_used_key_and_other_details_conflicts(provider: Payments) -> None:
    await provider.create_customer(
        org_id="org_1", name="Acme", email="a@acme.example", idempotency_key="cus-1"
    )

    with pytest.raises(IdempotencyConflict):
        await provider.create_customer(
            org_id="org_1", name="Other", email="a@acme.example", idempotency_key="cus-1"
        )


async def test_setup_payment_method_gives_the_console_what_it_needs(
    provider: Payments, customer_ref: str
) -> None:
    setup = await provider.setup_payment_method(customer_ref=customer_ref, idempotency_key="setup-1")
    again = await provider.setup_payment_method(customer_ref=customer_ref, idempotency_key="setup-1")

    assert setup.client_secret and setup.publishable_key and setup.setup_ref
    assert setup.provider == provider.provider_name
    assert again == setup


async def test_payment_ui_names_the_provider_and_the_key_of_its_setups(
    provider: Payments, customer_ref: str
) -> None:
    # payment_ui: what the console page's policy and card form are built from
    ui = provider.payment_ui
    setup = await provider.setup_payment_method(customer_ref=customer_ref, idempotency_key="setup-ui")
    assert ui.provider == provider.provider_name
    assert ui.publishable_key in {setup.publishable_key, ""}  # "": no UI for the console (a partner's)
    if ui.script_url is None or ui.script_url.startswith("/"):
        # the console's own form, or none, or a script the app serves: nothing leaves the app's origin
        assert ui.script_origins == ui.frame_origins == ui.connect_origins == ()
    else:
        assert ui.script_url.startswith("https://") and ui.connect_origins


async def test_attach_list_set_default_and_detach_payment_methods(
    provider: Payments, customer_ref: str
) -> None:
    assert await provider.list_payment_methods(customer_ref=customer_ref) == []

    visa = await provider.attach_payment_method(customer_ref=customer_ref, payment_method_ref="pm_card_visa")
    mastercard = await provider.attach_payment_method(
        customer_ref=customer_ref, payment_method_ref="pm_card_mastercard"
    )
    assert (visa.brand, visa.last4, visa.is_default) == ("visa", "4242", False)
    assert 1 <= visa.exp_month <= 12 and visa.exp_year >= 2026

    default = await provider.set_default_payment_method(
        customer_ref=customer_ref, payment_method_ref=mastercard.ref
    )
    assert default.is_default and default.last4 == "4444"
    listed = await provider.list_payment_methods(customer_ref=customer_ref)
    assert [(method.ref, method.is_default) for method in listed] == [
        (visa.ref, False),
        (mastercard.ref, True),
    ]

    detached = await provider.detach_payment_method(
        customer_ref=customer_ref, payment_method_ref=mastercard.ref
    )
    assert detached.ref == mastercard.ref
    assert [method.ref for method in await provider.list_payment_methods(customer_ref=customer_ref)] == [
        visa.ref
    ]


async def test_a_payment_method_of_another_customer_cannot_be_made_default(
    provider: Payments, customer_ref: str
) -> None:
    other = await provider.create_customer(
        org_id="org_2", name="Other", email="o@x.example", idempotency_key="c-2"
    )
    card = await provider.attach_payment_method(
        customer_ref=other.customer_ref, payment_method_ref="pm_card_visa"
    )

    with pytest.raises(PaymentRequestError):
        await provider.set_default_payment_method(customer_ref=customer_ref, payment_method_ref=card.ref)


@pytest.mark.parametrize("purpose", list(ChargePurpose))
async def test_charge_with_a_good_card_succeeds(
    provider: Payments, customer_ref: str, add_card: AddCard, purpose: ChargePurpose
) -> None:
    await add_card("pm_card_visa")

    result = await provider.charge(
        customer_ref=customer_ref,
        amount=2500,
        currency="usd",
        purpose=purpose,
        description=f"{purpose} test",
        idempotency_key=f"charge-{purpose}",
    )

    assert result.status is ChargeStatus.SUCCEEDED and result.succeeded
    assert (result.amount, result.currency, result.decline_code) == (2500, "usd", None)
    assert result.charge_ref


@pytest.mark.parametrize(
    ("card", "status", "decline_code"),
    [
        ("pm_card_chargeDeclined", ChargeStatus.DECLINED, "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", ChargeStatus.DECLINED, "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", ChargeStatus.DECLINED, "expired_card"),
        ("pm_card_authenticationRequired", ChargeStatus.REQUIRES_ACTION, "authentication_required"),
    ],
)
async def test_a_refused_card_is_a_result_not_an_exception(
    provider: Payments,
    customer_ref: str,
    add_card: AddCard,
    card: str,
    status: ChargeStatus,
    decline_code: str,
) -> None:
    await add_card(card)

    result = await buy(provider, customer_ref, f"charge-{card}")

    assert result.status is status and not result.succeeded
    assert result.decline_code == decline_code and result.message and result.charge_ref
    if status is ChargeStatus.REQUIRES_ACTION:
        assert result.client_secret


async def test_charge_names_the_payment_method_instead_of_the_default(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_chargeDeclined")
    visa = await provider.attach_payment_method(customer_ref=customer_ref, payment_method_ref="pm_card_visa")

    result = await provider.charge(
        customer_ref=customer_ref,
        amount=100,
        currency="usd",
        purpose=ChargePurpose.SETTLEMENT,
        description="Period-end settlement",
        idempotency_key="settle-1",
        payment_method_ref=visa.ref,
    )

    assert result.succeeded


async def test_charge_without_a_payment_method_fails_as_a_result(
    provider: Payments, customer_ref: str
) -> None:
    result = await buy(provider, customer_ref, "charge-no-card")

    assert result.status is ChargeStatus.FAILED and result.decline_code == "no_payment_method"


async def test_a_retried_charge_with_the_same_key_is_the_same_charge(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_visa")

    first = await buy(provider, customer_ref, "recharge-org_1-0001")
    retried = await buy(provider, customer_ref, "recharge-org_1-0001")
    another = await buy(provider, customer_ref, "recharge-org_1-0002")

    assert retried == first
    assert another.charge_ref != first.charge_ref


async def test_the_same_key_with_another_amount_is_an_idempotency_conflict(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_visa")
    await buy(provider, customer_ref, "purchase-1", amount=2500)

    with pytest.raises(IdempotencyConflict):
        await buy(provider, customer_ref, "purchase-1", amount=5000)


async def test_refund_gives_back_part_then_no_more_than_the_charge(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_visa")
    charge = await buy(provider, customer_ref, "purchase-refund", amount=2500)

    refund = await provider.refund(
        charge_ref=charge.charge_ref, amount=1000, idempotency_key="refund-1", reason="requested_by_customer"
    )
    again = await provider.refund(
        charge_ref=charge.charge_ref, amount=1000, idempotency_key="refund-1", reason="requested_by_customer"
    )

    assert refund == again
    assert (refund.charge_ref, refund.amount, refund.currency) == (charge.charge_ref, 1000, "usd")
    assert refund.status is RefundStatus.SUCCEEDED and refund.refund_ref
    with pytest.raises(PaymentRequestError):
        await provider.refund(
            charge_ref=charge.charge_ref, amount=2000, idempotency_key="refund-2", reason="more"
        )


async def test_a_declined_charge_cannot_be_refunded(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_chargeDeclined")
    charge = await buy(provider, customer_ref, "purchase-declined")

    with pytest.raises(PaymentRequestError):
        await provider.refund(
            charge_ref=charge.charge_ref, amount=100, idempotency_key="refund-x", reason="why"
        )


async def test_update_billing_address_is_sent_to_the_provider(provider: Payments, customer_ref: str) -> None:
    address = BillingAddress(
        name="Acme Inc.",
        line1="1 Main St",
        line2="Suite 5",
        city="Springfield",
        postal_code="12345",
        state="IL",
        country="US",
    )

    stored = await provider.update_billing_address(customer_ref=customer_ref, address=address)

    assert stored == address


async def test_refund_decision_refuses_because_all_purchases_are_final(provider: Payments) -> None:
    decision = await provider.refund_decision(
        org_id="org_1", charge_ref="ch_anything", amount=2500, reason="changed my mind"
    )

    assert decision.approved is False
    assert decision.reason == "All purchases are final"


async def test_a_webhook_without_the_provider_signature_is_not_an_event(provider: Payments) -> None:
    event = await provider.parse_webhook(payload=b'{"id": "evt_1", "type": "charge.succeeded"}', headers={})

    assert event is None


async def test_a_created_charge_takes_money_once_when_confirmed_by_its_reference(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    card = await add_card("pm_card_visa")
    arguments: dict[str, Any] = {
        "customer_ref": customer_ref,
        "amount": 2500,
        "currency": "usd",
        "purpose": ChargePurpose.PURCHASE,
        "description": "Credits",
        "idempotency_key": "purchase-2step",
        "payment_method_ref": card,
    }
    prepared = await provider.create_charge(**arguments)
    if prepared is None:
        pytest.skip(f"{provider.provider_name} charges in one step (create_charge is optional)")
    again = await provider.create_charge(**arguments)

    confirmed = await provider.charge(**arguments, charge_ref=prepared.charge_ref)
    repeated = await provider.charge(**arguments, charge_ref=prepared.charge_ref)

    assert again == prepared
    assert confirmed.succeeded and confirmed.charge_ref == prepared.charge_ref
    assert repeated == confirmed


async def test_retrieve_charge_reads_a_charge_as_it_stands(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_chargeDeclinedInsufficientFunds")
    declined = await buy(provider, customer_ref, "purchase-read")

    read = await provider.retrieve_charge(charge_ref=declined.charge_ref)

    if read is None:
        pytest.skip(f"{provider.provider_name} cannot read charges back (retrieve_charge is optional)")
    assert (read.status, read.charge_ref, read.amount) == (ChargeStatus.DECLINED, declined.charge_ref, 2500)
    assert read.decline_code == "insufficient_funds"


async def test_on_session_a_card_needing_authentication_gives_the_console_a_client_secret(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_authenticationRequired")

    result = await provider.charge(
        customer_ref=customer_ref,
        amount=2500,
        currency="usd",
        purpose=ChargePurpose.PURCHASE,
        description="Credits",
        idempotency_key="purchase-3ds",
        on_session=True,
    )

    assert result.status is ChargeStatus.REQUIRES_ACTION and result.client_secret and result.charge_ref
    assert result.message.endswith(".") and not result.message.endswith("..")


async def test_a_card_refused_when_saved_is_a_request_error_with_a_sentence_for_people(
    provider: Payments, customer_ref: str
) -> None:
    with pytest.raises(PaymentRequestError) as refused:
        await provider.attach_payment_method(
            customer_ref=customer_ref, payment_method_ref="pm_card_chargeDeclinedIncorrectCvc"
        )

    assert refused.value.user_message.endswith(".") and "_" not in refused.value.user_message
    assert await provider.list_payment_methods(customer_ref=customer_ref) == []


async def test_cancel_charge_cancels_what_took_no_money_and_reports_a_paid_charge_as_it_stands(
    provider: Payments, customer_ref: str, add_card: AddCard
) -> None:
    await add_card("pm_card_authenticationRequired")
    waiting = await provider.charge(
        customer_ref=customer_ref,
        amount=2500,
        currency="usd",
        purpose=ChargePurpose.SUBSCRIPTION,
        description="Subscription",
        idempotency_key="renewal-3ds",
        on_session=True,
    )
    canceled = await provider.cancel_charge(charge_ref=waiting.charge_ref)
    if canceled is None:
        pytest.skip(f"{provider.provider_name} cannot cancel charges (cancel_charge is optional)")
    await add_card("pm_card_visa")
    paid = await buy(provider, customer_ref, "purchase-kept")

    kept = await provider.cancel_charge(charge_ref=paid.charge_ref)
    read = await provider.retrieve_charge(charge_ref=waiting.charge_ref)

    assert (canceled.status, canceled.charge_ref) == (ChargeStatus.FAILED, waiting.charge_ref)
    assert (kept is not None and kept.status, paid.status) == (ChargeStatus.SUCCEEDED, ChargeStatus.SUCCEEDED)
    assert read is not None and read.status is ChargeStatus.FAILED and not read.client_secret
