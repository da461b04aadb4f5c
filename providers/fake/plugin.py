"""The fake payment provider: deterministic test cards, idempotent by key, state kept in a file.

Each hook is a plain method that returns a coroutine (see the contract in app/payments/hookspecs.py).
Every call goes through ``_run``: injected latency and faults first, then the work under a lock, then
the state saved. Idempotent calls remember, per key, a fingerprint of their parameters and the
reference of what they created, so a retry returns the original result and a reuse with other
parameters raises IdempotencyConflict, as the real providers do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from litestar.types import ControllerRouterHandler

from app.payments.errors import (
    CustomerGone,
    IdempotencyConflict,
    PaymentProviderError,
    PaymentProviderTimeout,
    PaymentRequestError,
)
from app.payments.hookspecs import hookimpl
from app.payments.types import (
    BillingAddress,
    ChargePurpose,
    ChargeResult,
    ChargeStatus,
    CustomerResult,
    PaymentMethodInfo,
    PaymentMethodSetup,
    PaymentUi,
    PreparedCharge,
    RefundResult,
    RefundStatus,
    WebhookEvent,
)
from providers.fake import web, webhooks
from providers.fake.cards import find_card
from providers.fake.faults import Faults
from providers.fake.store import FakeStore

PROVIDER_NAME = "fake"
# the fake provider's 3-D Secure dialog, from the app's static files: the app's own origin, so the page's
# policy stays as it is; it answers at the endpoint of providers/fake/web.py
SCRIPT_URL = "/static/fake-provider/fake-provider.js"
# Stripe's words when the cardholder fails 3-D Secure
AUTHENTICATION_FAILED = (
    "We are unable to authenticate your payment method. "
    "Please choose a different payment method and try again."
)
_UNCONFIRMED = "requires_confirmation"  # created by create_charge, no money taken yet
T = TypeVar("T")


class FakeProvider:
    """The fake provider's plugin object; ``faults`` holds the switches tests use."""

    def __init__(
        self,
        *,
        state_path: Path | None,
        publishable_key: str,
        webhook_secret: str,
        latency_seconds: float = 0.0,
    ) -> None:
        self.faults = Faults(latency_seconds=latency_seconds)
        self.publishable_key = publishable_key
        self._webhook_secret = webhook_secret.encode()
        self._store = FakeStore(state_path)
        self._lock = asyncio.Lock()

    @property
    def state_path(self) -> Path | None:
        """Where the state is kept, or None when it lives in memory only."""
        return self._store.path

    # Hooks ---------------------------------------------------------------------------------------

    @hookimpl
    def payment_provider_name(self) -> str:
        return PROVIDER_NAME

    @hookimpl
    def payment_ui(self) -> PaymentUi:
        # cards: the console's own test-card form; 3-D Secure: the fake provider's dialog (SCRIPT_URL). Both
        # are the app's origin: no other origin for the page's policy to allow.
        return PaymentUi(provider=PROVIDER_NAME, publishable_key=self.publishable_key, script_url=SCRIPT_URL)

    @hookimpl
    def create_customer(
        self, org_id: str, name: str, email: str, idempotency_key: str
    ) -> Awaitable[CustomerResult]:
        def create() -> str:
            ref = _new_ref("cus")
            self._store["customers"][ref] = {
                "org_id": org_id,
                "name": name,
                "email": email,
                "default_payment_method": None,
                "address": None,
            }
            return ref

        params = {"org_id": org_id, "name": name, "email": email}
        return self._run(
            "create_customer", idempotent=(idempotency_key, params, create), result=CustomerResult
        )

    @hookimpl
    def setup_payment_method(self, customer_ref: str, idempotency_key: str) -> Awaitable[PaymentMethodSetup]:
        def create() -> str:
            self._customer(customer_ref)
            ref = _new_ref("seti")
            self._store["setups"][ref] = {
                "customer_ref": customer_ref,
                "client_secret": f"{ref}_secret_{secrets.token_hex(8)}",
            }
            return ref

        def describe(ref: str) -> PaymentMethodSetup:
            setup = self._store["setups"][ref]
            return PaymentMethodSetup(
                client_secret=setup["client_secret"],
                publishable_key=self.publishable_key,
                provider=PROVIDER_NAME,
                setup_ref=ref,
            )

        params = {"customer_ref": customer_ref}
        return self._run(
            "setup_payment_method", idempotent=(idempotency_key, params, create), result=describe
        )

    @hookimpl
    def attach_payment_method(
        self, customer_ref: str, payment_method_ref: str
    ) -> Awaitable[PaymentMethodInfo]:
        def attach() -> PaymentMethodInfo:
            self._customer(customer_ref)
            card = find_card(payment_method_ref)
            if card.refused_at_attach:
                raise PaymentRequestError(
                    f"fake: {card.token} was refused when saved ({card.decline_code})",
                    code=card.decline_code,
                    user_message=card.message,
                )
            ref = _new_ref("pm")
            self._store["payment_methods"][ref] = {
                "customer_ref": customer_ref,
                "card": card.token,
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
            }
            return self._payment_method_info(ref)

        return self._run("attach_payment_method", action=attach)

    @hookimpl
    def detach_payment_method(
        self, customer_ref: str, payment_method_ref: str
    ) -> Awaitable[PaymentMethodInfo]:
        def detach() -> PaymentMethodInfo:
            customer = self._customer(customer_ref)
            method = self._attached(customer_ref, payment_method_ref)
            info = self._payment_method_info(payment_method_ref)
            method["customer_ref"] = None  # kept, like the real providers, for the charges that used it
            if customer["default_payment_method"] == payment_method_ref:
                customer["default_payment_method"] = None
            return info

        return self._run("detach_payment_method", action=detach)

    @hookimpl
    def set_default_payment_method(
        self, customer_ref: str, payment_method_ref: str
    ) -> Awaitable[PaymentMethodInfo]:
        def set_default() -> PaymentMethodInfo:
            customer = self._customer(customer_ref)
            self._attached(customer_ref, payment_method_ref)
            customer["default_payment_method"] = payment_method_ref
            return self._payment_method_info(payment_method_ref)

        return self._run("set_default_payment_method", action=set_default)

    @hookimpl
    def list_payment_methods(self, customer_ref: str) -> Awaitable[list[PaymentMethodInfo]]:
        def list_methods() -> list[PaymentMethodInfo]:
            self._customer(customer_ref)
            return [
                self._payment_method_info(ref)
                for ref, method in self._store["payment_methods"].items()
                if method["customer_ref"] == customer_ref
            ]

        return self._run("list_payment_methods", action=list_methods, mutates=False)

    @hookimpl
    def create_charge(
        self,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        idempotency_key: str,
        payment_method_ref: str | None,
    ) -> Awaitable[PreparedCharge]:
        def create() -> str:
            return self._new_charge(customer_ref, amount, currency, purpose, description, payment_method_ref)

        params = _charge_params(customer_ref, amount, currency, purpose, description, payment_method_ref)
        return self._run(
            "create_charge",
            idempotent=(idempotency_key, params, create),
            result=lambda ref: PreparedCharge(charge_ref=ref),
        )

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
        charge_ref: str | None,
    ) -> Awaitable[ChargeResult]:
        if charge_ref is not None:
            return self._run("charge", action=lambda: self._confirm(charge_ref))

        def create() -> str:
            ref = self._new_charge(customer_ref, amount, currency, purpose, description, payment_method_ref)
            self._confirm(ref)
            return ref

        params = _charge_params(customer_ref, amount, currency, purpose, description, payment_method_ref)
        return self._run("charge", idempotent=(idempotency_key, params, create), result=self._charge_result)

    @hookimpl
    def retrieve_charge(self, charge_ref: str) -> Awaitable[ChargeResult]:
        return self._run("retrieve_charge", action=lambda: self._charge_result(charge_ref), mutates=False)

    @hookimpl
    def cancel_charge(self, charge_ref: str) -> Awaitable[ChargeResult]:
        def cancel() -> ChargeResult:
            charge = self._charge_result(charge_ref)  # an unknown charge is a request error
            if charge.status is ChargeStatus.SUCCEEDED:
                return charge  # the money is taken: it is applied, not canceled
            self._store["charges"][charge_ref] |= {
                "status": ChargeStatus.FAILED.value,
                "decline_code": "abandoned",
                "message": "The payment was canceled.",
                "client_secret": None,
            }
            return self._charge_result(charge_ref)

        return self._run("cancel_charge", action=cancel)

    @hookimpl
    def refund(
        self, charge_ref: str, amount: int, idempotency_key: str, reason: str
    ) -> Awaitable[RefundResult]:
        def create() -> str:
            charge = self._store["charges"].get(charge_ref)
            if charge is None:
                raise PaymentRequestError(f"fake: no such charge {charge_ref!r}")
            if charge["status"] != ChargeStatus.SUCCEEDED.value:
                raise PaymentRequestError(f"fake: charge {charge_ref!r} did not succeed, nothing to refund")
            left = charge["amount"] - charge["refunded"]
            if amount > left:
                raise PaymentRequestError(
                    f"fake: refund of {amount} exceeds the {left} left on {charge_ref!r}"
                )
            charge["refunded"] += amount
            ref = _new_ref("re")
            self._store["refunds"][ref] = {
                "charge_ref": charge_ref,
                "amount": amount,
                "currency": charge["currency"],
                "reason": reason,
                "status": RefundStatus.SUCCEEDED.value,
            }
            return ref

        def describe(ref: str) -> RefundResult:
            refund = self._store["refunds"][ref]
            return RefundResult(
                refund_ref=ref,
                charge_ref=refund["charge_ref"],
                amount=refund["amount"],
                currency=refund["currency"],
                status=RefundStatus(refund["status"]),
            )

        params = {"charge_ref": charge_ref, "amount": amount, "reason": reason}
        return self._run("refund", idempotent=(idempotency_key, params, create), result=describe)

    @hookimpl
    def update_billing_address(self, customer_ref: str, address: BillingAddress) -> Awaitable[BillingAddress]:
        def update() -> BillingAddress:
            self._customer(customer_ref)["address"] = asdict(address)
            return address

        return self._run("update_billing_address", action=update)

    @hookimpl
    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent | None:
        return webhooks.parse(payload, headers, self._webhook_secret)

    # The cardholder's answer in the fake provider's 3-D Secure dialog -------------------------------

    def authenticate(self, client_secret: str, *, succeed: bool) -> Awaitable[ChargeResult]:
        """The cardholder passes (or fails) the authentication of the charge whose client secret they hold.

        The client secret is the only credential, as with Stripe.js: it names one charge and is unguessable
        (128 random bits). A secret naming no waiting charge is refused; so is a second answer. A failure
        declines the charge as Stripe does (``payment_intent_authentication_failure``); the app learns either
        outcome when it reads the charge again (``completePayment``, or the charge waiting in the console).
        """

        def answer() -> ChargeResult:
            ref = client_secret.partition("_secret_")[0]
            charge = self._store["charges"].get(ref, {})
            expected = charge.get("client_secret")
            if not expected or not hmac.compare_digest(expected.encode(), client_secret.encode()):
                raise PaymentRequestError(
                    "fake: no charge has this client secret",
                    code="invalid_client_secret",
                    user_message="This payment is unknown to the payment provider.",
                )
            if charge["status"] != ChargeStatus.REQUIRES_ACTION.value:
                raise PaymentRequestError(
                    f"fake: charge {ref!r} is {charge['status']}, not waiting for authentication",
                    code="payment_intent_unexpected_state",
                    user_message="This payment is no longer waiting for authentication.",
                )
            if succeed:
                charge |= {"status": ChargeStatus.SUCCEEDED.value, "decline_code": None, "message": ""}
            else:
                charge |= {
                    "status": ChargeStatus.DECLINED.value,
                    "decline_code": "payment_intent_authentication_failure",
                    "message": AUTHENTICATION_FAILED,
                }
            return self._charge_result(ref)

        return self._run("authenticate", action=answer)

    def web_routes(self) -> list[ControllerRouterHandler]:
        """The endpoint of the fake provider's 3-D Secure dialog, which the app serves while it is the provider."""
        return [web.authentication_endpoint(self)]

    # Helpers for tests and local development --------------------------------------------------

    def sign_webhook(self, payload: bytes) -> dict[str, str]:
        """The headers that make payload a valid fake webhook request."""
        return webhooks.sign(payload, self._webhook_secret)

    def recorded_charges(self, customer_ref: str | None = None) -> list[ChargeResult]:
        """Every charge recorded (of one customer, if given), oldest first, declines included."""
        return [
            self._charge_result(ref)
            for ref, charge in self._store["charges"].items()
            if customer_ref is None or charge["customer_ref"] == customer_ref
        ]

    def complete_authentication(self, charge_ref: str) -> ChargeResult:
        """The cardholder authenticates a REQUIRES_ACTION charge in the provider's UI: it succeeds."""
        charge = self._store["charges"][charge_ref]
        assert charge["status"] == ChargeStatus.REQUIRES_ACTION.value, charge["status"]
        charge |= {"status": ChargeStatus.SUCCEEDED.value, "decline_code": None, "message": ""}
        self._store.save()
        return self._charge_result(charge_ref)

    def delete_customer(self, customer_ref: str) -> None:
        """Delete a customer as in the provider's dashboard: its cards go with it, calls naming it fail."""
        self._customer(customer_ref)["deleted"] = True
        for method in self._store["payment_methods"].values():
            if method["customer_ref"] == customer_ref:
                method["customer_ref"] = None
        self._store.save()

    def billing_address(self, customer_ref: str) -> BillingAddress | None:
        """The billing address the fake provider holds for a customer."""
        address = self._customer(customer_ref)["address"]
        return None if address is None else BillingAddress(**address)

    # Internals ----------------------------------------------------------------------------------

    async def _run(
        self,
        operation: str,
        *,
        action: Callable[[], T] | None = None,
        idempotent: tuple[str, Mapping[str, Any], Callable[[], str]] | None = None,
        result: Callable[[str], T] | None = None,
        mutates: bool = True,
    ) -> T:
        fault = self.faults.take(operation)
        if self.faults.latency_seconds > 0:
            await asyncio.sleep(self.faults.latency_seconds)
        if fault == "timeout":
            raise PaymentProviderTimeout(f"fake: {operation} timed out (injected)")
        if fault == "error":
            raise PaymentProviderError(f"fake: {operation} failed (injected)")
        async with self._lock:
            if idempotent is not None and result is not None:
                answer = result(self._idempotent(operation, *idempotent))
            elif action is not None:
                answer = action()
                if mutates:
                    self._store.save()
            else:
                raise TypeError("_run needs an action, or an idempotent creation and its result")
        if fault == "lost_response":
            raise PaymentProviderTimeout(f"fake: {operation} happened but its answer was lost (injected)")
        return answer

    def _idempotent(
        self, operation: str, key: str, params: Mapping[str, Any], create: Callable[[], str]
    ) -> str:
        fingerprint = hashlib.sha256(
            json.dumps({"operation": operation, **params}, sort_keys=True).encode()
        ).hexdigest()
        records = self._store["idempotency"]
        record = records.get(key)
        if record is not None:
            if record["fingerprint"] != fingerprint:
                raise IdempotencyConflict(
                    f"fake: idempotency key {key!r} was used for a {record['operation']} with other parameters"
                )
            return str(record["ref"])
        ref = create()
        records[key] = {"operation": operation, "fingerprint": fingerprint, "ref": ref}
        self._store.save()
        return ref

    def _customer(self, customer_ref: str) -> dict[str, Any]:
        customer = self._store["customers"].get(customer_ref)
        if customer is None or customer.get("deleted"):
            raise CustomerGone(
                f"fake: no such customer {customer_ref!r}",
                code="resource_missing",
                user_message="The payment provider no longer knows this customer.",
            )
        return customer

    def _new_charge(
        self,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        payment_method_ref: str | None,
    ) -> str:
        customer = self._customer(customer_ref)
        ref = _new_ref("ch")
        self._store["charges"][ref] = {
            "customer_ref": customer_ref,
            "payment_method_ref": payment_method_ref or customer["default_payment_method"],
            "amount": amount,
            "currency": currency,
            "purpose": str(purpose),
            "description": description,
            "refunded": 0,
            "client_secret": None,
            "status": _UNCONFIRMED,
            "decline_code": None,
            "message": "",
        }
        return ref

    def _confirm(self, ref: str) -> ChargeResult:
        """Take the money for a created charge, once; a charge already confirmed is reported as it stands."""
        record = self._store["charges"].get(ref)
        if record is None:
            raise PaymentRequestError(f"fake: no such charge {ref!r}", code="resource_missing")
        if record["status"] != _UNCONFIRMED:
            return self._charge_result(ref)
        method_ref = record["payment_method_ref"]
        if method_ref is None:
            record |= {
                "status": ChargeStatus.FAILED.value,
                "decline_code": "no_payment_method",
                "message": "The customer has no default payment method.",
            }
        else:
            card = find_card(self._attached(record["customer_ref"], method_ref)["card"])
            record |= {
                "status": card.outcome.value,
                "decline_code": card.decline_code,
                "message": card.message,
            }
            if card.outcome is ChargeStatus.REQUIRES_ACTION:
                record["client_secret"] = f"{ref}_secret_{secrets.token_hex(16)}"
        return self._charge_result(ref)

    def _attached(self, customer_ref: str, payment_method_ref: str) -> dict[str, Any]:
        method = self._store["payment_methods"].get(payment_method_ref)
        if method is None or method["customer_ref"] != customer_ref:
            raise PaymentRequestError(
                f"fake: payment method {payment_method_ref!r} is not attached to customer {customer_ref!r}"
            )
        return method

    def _payment_method_info(self, ref: str) -> PaymentMethodInfo:
        method = self._store["payment_methods"][ref]
        customer = self._store["customers"].get(method["customer_ref"] or "", {})
        return PaymentMethodInfo(
            ref=ref,
            brand=method["brand"],
            last4=method["last4"],
            exp_month=method["exp_month"],
            exp_year=method["exp_year"],
            is_default=customer.get("default_payment_method") == ref,
        )

    def _charge_result(self, ref: str) -> ChargeResult:
        charge = self._store["charges"].get(ref)
        if charge is None:
            raise PaymentRequestError(f"fake: no such charge {ref!r}", code="resource_missing")
        unconfirmed = charge["status"] == _UNCONFIRMED
        return ChargeResult(
            status=ChargeStatus.PROCESSING if unconfirmed else ChargeStatus(charge["status"]),
            charge_ref=ref,
            amount=charge["amount"],
            currency=charge["currency"],
            decline_code=charge["decline_code"],
            message=charge["message"],
            client_secret=charge["client_secret"],
        )


def _charge_params(
    customer_ref: str,
    amount: int,
    currency: str,
    purpose: ChargePurpose,
    description: str,
    payment_method_ref: str | None,
) -> dict[str, Any]:
    return {
        "customer_ref": customer_ref,
        "amount": amount,
        "currency": currency,
        "purpose": str(purpose),
        "description": description,
        "payment_method_ref": payment_method_ref,
    }


def _new_ref(prefix: str) -> str:
    # Random, not counted: refs stay unique even when the state file is deleted and the database is not.
    return f"{prefix}_fake_{secrets.token_hex(8)}"
