"""ACME's hooks, answered at once (plain return values: the service accepts results or awaitables).

Every change is an entry of the sandbox ledger; cards, defaults and what is left to refund are derived
from the entries, never stored twice. Refunds are approved up to a limit by ``refund_decision``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from acme_payments.ledger import Ledger
from app.payments import hookimpl
from app.payments.errors import PaymentRequestError, WebhookError, WebhookSignatureError
from app.payments.types import (
    BillingAddress,
    ChargePurpose,
    ChargeResult,
    ChargeStatus,
    CustomerResult,
    PaymentMethodInfo,
    PaymentMethodSetup,
    RefundDecision,
    RefundResult,
    RefundStatus,
    WebhookEvent,
)

NAME = "acme"
SIGNATURE_HEADER = "x-acme-signature"
# Sandbox tokens: (brand, last four, outcome, decline code, message).
CARDS: dict[str, tuple[str, str, ChargeStatus, str | None, str]] = {
    "pm_card_visa": ("visa", "4242", ChargeStatus.SUCCEEDED, None, ""),
    "pm_card_mastercard": ("mastercard", "4444", ChargeStatus.SUCCEEDED, None, ""),
    "pm_card_chargeDeclined": (
        "visa",
        "0002",
        ChargeStatus.DECLINED,
        "generic_decline",
        "Declined by the bank.",
    ),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "visa",
        "9995",
        ChargeStatus.DECLINED,
        "insufficient_funds",
        "Insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": (
        "visa",
        "0069",
        ChargeStatus.DECLINED,
        "expired_card",
        "The card expired.",
    ),
    "pm_card_authenticationRequired": (
        "visa",
        "3155",
        ChargeStatus.REQUIRES_ACTION,
        "authentication_required",
        "The cardholder must confirm.",
    ),
}


class AcmeProvider:
    """ACME's plugin object: the sandbox ledger and the refund limit."""

    def __init__(self, *, webhook_secret: str, refund_limit_cents: int, publishable_key: str) -> None:
        self.ledger = Ledger()
        self.refund_limit_cents = refund_limit_cents
        self.publishable_key = publishable_key
        self._webhook_secret = webhook_secret.encode()

    @hookimpl
    def payment_provider_name(self) -> str:
        return NAME

    @hookimpl
    def create_customer(self, org_id: str, name: str, email: str, idempotency_key: str) -> CustomerResult:
        params = {"org_id": org_id, "name": name, "email": email}
        ref = self.ledger.once(idempotency_key, params, lambda: self.ledger.post("customer", "cus", **params))
        return CustomerResult(customer_ref=ref)

    @hookimpl
    def setup_payment_method(self, customer_ref: str, idempotency_key: str) -> PaymentMethodSetup:
        self._customer(customer_ref)
        ref = self.ledger.once(
            idempotency_key,
            {"customer": customer_ref},
            lambda: self.ledger.post("setup", "set", customer=customer_ref),
        )
        return PaymentMethodSetup(
            client_secret=f"{ref}_secret", publishable_key=self.publishable_key, provider=NAME, setup_ref=ref
        )

    @hookimpl
    def attach_payment_method(self, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        self._customer(customer_ref)
        if payment_method_ref not in CARDS:
            raise PaymentRequestError(f"acme: unknown sandbox card {payment_method_ref!r}")
        ref = self.ledger.post("card", "pm", customer=customer_ref, token=payment_method_ref)
        return self._card_info(ref, default=None)

    @hookimpl
    def detach_payment_method(self, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        self._attached(customer_ref, payment_method_ref)
        self.ledger.note("card.detached", payment_method_ref)
        return self._card_info(payment_method_ref, default=None)

    @hookimpl
    def set_default_payment_method(self, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        self._attached(customer_ref, payment_method_ref)
        self.ledger.note("card.default", payment_method_ref, customer=customer_ref)
        return self._card_info(payment_method_ref, default=payment_method_ref)

    @hookimpl
    def list_payment_methods(self, customer_ref: str) -> list[PaymentMethodInfo]:
        self._customer(customer_ref)
        default = self._default(customer_ref)
        return [
            self._card_info(entry.ref, default=default)
            for entry in self.ledger.of("card")
            if entry.details["customer"] == customer_ref and self._is_attached(entry.ref)
        ]

    @hookimpl
    def charge(
        self,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        idempotency_key: str,
        payment_method_ref: str | None,
    ) -> ChargeResult:
        params = {
            "customer": customer_ref,
            "amount": amount,
            "currency": currency,
            "purpose": str(purpose),
            "description": description,
            "card": payment_method_ref,
        }
        return self.ledger.once(
            idempotency_key, params, lambda: self._charge(customer_ref, amount, currency, payment_method_ref)
        )

    @hookimpl
    def refund(self, charge_ref: str, amount: int, idempotency_key: str, reason: str) -> RefundResult:
        params = {"charge": charge_ref, "amount": amount, "reason": reason}
        return self.ledger.once(idempotency_key, params, lambda: self._refund(charge_ref, amount, reason))

    @hookimpl
    def refund_decision(self, amount: int) -> RefundDecision | None:
        """Approve small refunds; above the limit, pass (None) and let the next policy decide."""
        if amount <= self.refund_limit_cents:
            return RefundDecision(
                approved=True, reason=f"ACME approves refunds up to {self.refund_limit_cents} cents"
            )
        return None

    @hookimpl
    def update_billing_address(self, customer_ref: str, address: BillingAddress) -> BillingAddress:
        self._customer(customer_ref)
        self.ledger.note("customer.address", customer_ref, **asdict(address))
        return address

    @hookimpl
    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent | None:
        signature = headers.get(SIGNATURE_HEADER)
        if signature is None:
            return None
        if not hmac.compare_digest(signature, self.sign(payload)):
            raise WebhookSignatureError(f"acme: the {SIGNATURE_HEADER} header does not match the payload")
        try:
            body = json.loads(payload)
            return WebhookEvent(id=str(body["id"]), type=str(body["type"]), data=dict(body.get("data", {})))
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookError(f"acme: not an event: {exc!r}") from exc

    def sign(self, payload: bytes) -> str:
        """The x-acme-signature header value of payload."""
        return hmac.new(self._webhook_secret, payload, hashlib.sha256).hexdigest()

    # Derived from the ledger ------------------------------------------------------------------

    def _charge(self, customer_ref: str, amount: int, currency: str, card_ref: str | None) -> ChargeResult:
        self._customer(customer_ref)
        card_ref = card_ref or self._default(customer_ref)
        if card_ref is None:
            outcome: tuple[ChargeStatus, str | None, str] = (
                ChargeStatus.FAILED,
                "no_payment_method",
                "No card to charge.",
            )
        else:
            _, _, status, decline_code, message = CARDS[self._attached(customer_ref, card_ref)["token"]]
            outcome = (status, decline_code, message)
        status, decline_code, message = outcome
        ref = self.ledger.post(
            "charge", "ch", customer=customer_ref, amount=amount, currency=currency, status=status
        )
        secret = f"{ref}_secret" if status is ChargeStatus.REQUIRES_ACTION else None
        return ChargeResult(
            status=status,
            charge_ref=ref,
            amount=amount,
            currency=currency,
            decline_code=decline_code,
            message=message,
            client_secret=secret,
        )

    def _refund(self, charge_ref: str, amount: int, reason: str) -> RefundResult:
        charge = self.ledger.find("charge", charge_ref)
        if charge is None or charge.details["status"] is not ChargeStatus.SUCCEEDED:
            raise PaymentRequestError(f"acme: {charge_ref!r} is not a succeeded charge")
        refunded = sum(
            entry.details["amount"]
            for entry in self.ledger.of("refund")
            if entry.details["charge"] == charge_ref
        )
        left = charge.details["amount"] - refunded
        if amount > left:
            raise PaymentRequestError(f"acme: only {left} of {charge_ref!r} is left to refund")
        ref = self.ledger.post("refund", "re", charge=charge_ref, amount=amount, reason=reason)
        return RefundResult(
            refund_ref=ref,
            charge_ref=charge_ref,
            amount=amount,
            currency=charge.details["currency"],
            status=RefundStatus.SUCCEEDED,
        )

    def _customer(self, ref: str) -> Mapping[str, Any]:
        entry = self.ledger.find("customer", ref)
        if entry is None:
            raise PaymentRequestError(f"acme: no such customer {ref!r}")
        return entry.details

    def _is_attached(self, card_ref: str) -> bool:
        return not any(entry.ref == card_ref for entry in self.ledger.of("card.detached"))

    def _attached(self, customer_ref: str, card_ref: str) -> Mapping[str, Any]:
        entry = self.ledger.find("card", card_ref)
        if entry is None or entry.details["customer"] != customer_ref or not self._is_attached(card_ref):
            raise PaymentRequestError(f"acme: card {card_ref!r} is not attached to {customer_ref!r}")
        return entry.details

    def _default(self, customer_ref: str) -> str | None:
        chosen = [
            entry.ref for entry in self.ledger.of("card.default") if entry.details["customer"] == customer_ref
        ]
        return chosen[-1] if chosen and self._is_attached(chosen[-1]) else None

    def _card_info(self, card_ref: str, *, default: str | None) -> PaymentMethodInfo:
        brand, last4, *_ = CARDS[self.ledger.find("card", card_ref).details["token"]]  # type: ignore[union-attr]
        return PaymentMethodInfo(
            ref=card_ref,
            brand=brand,
            last4=last4,
            exp_month=12,
            exp_year=2034,
            is_default=card_ref == default,
        )
