"""The Stripe payment provider's hooks: thin, each hands its arguments to the gateway in client.py.

Each hook is a plain method returning a coroutine (see the contract in app/payments/hookspecs.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

from app.payments.hookspecs import hookimpl
from app.payments.types import (
    BillingAddress,
    ChargePurpose,
    ChargeResult,
    CustomerResult,
    PaymentMethodInfo,
    PaymentMethodSetup,
    PaymentUi,
    PreparedCharge,
    RefundResult,
    WebhookEvent,
)
from providers.stripe import webhooks
from providers.stripe.client import PROVIDER_NAME, StripeGateway
from providers.stripe.config import Mode, StripeConfig

# Stripe.js must be loaded from Stripe itself (never bundled or self-hosted: Stripe's rule, and PCI scope);
# Elements' card fields and 3-D Secure run in frames of js.stripe.com and hooks.stripe.com, and Stripe.js
# talks to api.stripe.com (Stripe's documented Content-Security-Policy).
STRIPE_JS = "https://js.stripe.com/v3/"


class StripeProvider:
    """The Stripe provider's plugin object, holding the process's one Stripe client."""

    def __init__(self, config: StripeConfig) -> None:
        self.mode: Mode = config.mode
        self.api_base = config.api_base
        self.gateway = StripeGateway(config)
        self._webhook_secret = config.webhook_secret
        self._webhook_tolerance = config.webhook_tolerance_seconds
        self._publishable_key = config.publishable_key

    @hookimpl
    def payment_provider_name(self) -> str:
        return PROVIDER_NAME

    @hookimpl
    def payment_ui(self) -> PaymentUi:
        return PaymentUi(
            provider=PROVIDER_NAME,
            publishable_key=self._publishable_key,
            script_url=STRIPE_JS,
            script_origins=("https://js.stripe.com",),
            frame_origins=("https://js.stripe.com", "https://hooks.stripe.com"),
            connect_origins=("https://api.stripe.com",),
        )

    @hookimpl
    def create_customer(
        self, org_id: str, name: str, email: str, idempotency_key: str
    ) -> Awaitable[CustomerResult]:
        return self.gateway.create_customer(
            org_id=org_id, name=name, email=email, idempotency_key=idempotency_key
        )

    @hookimpl
    def setup_payment_method(self, customer_ref: str, idempotency_key: str) -> Awaitable[PaymentMethodSetup]:
        return self.gateway.setup_payment_method(customer_ref=customer_ref, idempotency_key=idempotency_key)

    @hookimpl
    def attach_payment_method(
        self, customer_ref: str, payment_method_ref: str
    ) -> Awaitable[PaymentMethodInfo]:
        return self.gateway.attach_payment_method(
            customer_ref=customer_ref, payment_method_ref=payment_method_ref
        )

    @hookimpl
    def detach_payment_method(
        self, customer_ref: str, payment_method_ref: str
    ) -> Awaitable[PaymentMethodInfo]:
        return self.gateway.detach_payment_method(
            customer_ref=customer_ref, payment_method_ref=payment_method_ref
        )

    @hookimpl
    def set_default_payment_method(
        self, customer_ref: str, payment_method_ref: str
    ) -> Awaitable[PaymentMethodInfo]:
        return self.gateway.set_default_payment_method(
            customer_ref=customer_ref, payment_method_ref=payment_method_ref
        )

    @hookimpl
    def list_payment_methods(self, customer_ref: str) -> Awaitable[list[PaymentMethodInfo]]:
        return self.gateway.list_payment_methods(customer_ref=customer_ref)

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
    ) -> Awaitable[PreparedCharge | None]:
        return self.gateway.create_charge(
            customer_ref=customer_ref,
            amount=amount,
            currency=currency,
            purpose=purpose,
            description=description,
            idempotency_key=idempotency_key,
            payment_method_ref=payment_method_ref,
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
        on_session: bool,
        charge_ref: str | None,
    ) -> Awaitable[ChargeResult]:
        return self.gateway.charge(
            customer_ref=customer_ref,
            amount=amount,
            currency=currency,
            purpose=purpose,
            description=description,
            idempotency_key=idempotency_key,
            payment_method_ref=payment_method_ref,
            on_session=on_session,
            charge_ref=charge_ref,
        )

    @hookimpl
    def retrieve_charge(self, charge_ref: str) -> Awaitable[ChargeResult]:
        return self.gateway.retrieve_charge(charge_ref=charge_ref)

    @hookimpl
    def cancel_charge(self, charge_ref: str) -> Awaitable[ChargeResult]:
        return self.gateway.cancel_charge(charge_ref=charge_ref)

    @hookimpl
    def refund(
        self, charge_ref: str, amount: int, idempotency_key: str, reason: str
    ) -> Awaitable[RefundResult]:
        return self.gateway.refund(
            charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason
        )

    @hookimpl
    def update_billing_address(self, customer_ref: str, address: BillingAddress) -> Awaitable[BillingAddress]:
        return self.gateway.update_billing_address(customer_ref=customer_ref, address=address)

    @hookimpl
    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent | None:
        return webhooks.parse(
            payload,
            headers,
            secret=self._webhook_secret,
            tolerance=self._webhook_tolerance,
            livemode=self.mode is Mode.LIVE,
        )

    @hookimpl
    def payments_shutdown(self) -> Awaitable[None]:
        return self.gateway.aclose()
