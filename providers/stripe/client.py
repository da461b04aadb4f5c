"""Every Stripe API call of the provider, made with the official SDK asynchronously.

One ``StripeClient`` (over one ``HTTPXClient`` connection pool) serves the whole process. Each method
turns the SDK's objects into the result dataclasses of ``app.payments.types`` and the SDK's exceptions
into the payment layer's: a declined card is a ``ChargeResult``, an unreachable Stripe a
``PaymentProviderError`` (``PaymentProviderTimeout`` when it did not answer in time), a request Stripe
refuses a ``PaymentRequestError`` and a reused idempotency key an ``IdempotencyConflict``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import stripe

from app.payments.errors import (
    CustomerGone,
    IdempotencyConflict,
    PaymentProviderError,
    PaymentProviderTimeout,
    PaymentRequestError,
)
from app.payments.types import (
    BillingAddress,
    ChargePurpose,
    ChargeResult,
    ChargeStatus,
    CustomerResult,
    PaymentMethodInfo,
    PaymentMethodSetup,
    PreparedCharge,
    RefundResult,
    RefundStatus,
)
from providers.stripe.config import StripeConfig

PROVIDER_NAME = "stripe"
T = TypeVar("T")

# Stripe's own refund reasons; any other reason is kept in the refund's metadata only.
_STRIPE_REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}
_REFUND_STATUS = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}
_AUTHENTICATION_REQUIRED = "authentication_required"
# Only cards: what the console collects with Stripe's card form, and no payment method that redirects
# (a charge made without the cardholder could not follow a redirect).
_PAYMENT_METHOD_TYPES = ["card"]
# What people are told when Stripe refuses a request, by Stripe's error code; the code itself is logged.
_REFUSALS = {
    "resource_missing": "The payment provider no longer knows this customer, card or payment.",
    "amount_too_small": "The amount is below the smallest the payment provider accepts.",
    "amount_too_large": "The amount is above the largest the payment provider accepts.",
    "payment_intent_unexpected_state": "The payment is no longer in a state where this can be done.",
    "charge_already_refunded": "The payment has been refunded already.",
    "charge_disputed": "The payment is disputed, so it cannot be refunded.",
}


class StripeGateway:
    """The process's Stripe client and the calls the provider's hooks make."""

    def __init__(self, config: StripeConfig) -> None:
        self.publishable_key = config.publishable_key
        self._http = stripe.HTTPXClient(timeout=config.request_timeout_seconds)
        self._client = stripe.StripeClient(
            config.secret_key,
            stripe_version=config.api_version,
            http_client=self._http,
            base_addresses={"api": config.api_base},
            max_network_retries=config.max_network_retries,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.close_async()

    # Customers ---------------------------------------------------------------------------------------

    async def create_customer(
        self, *, org_id: str, name: str, email: str, idempotency_key: str
    ) -> CustomerResult:
        """A Stripe Customer for the organization, created once per key."""
        params: dict[str, Any] = {"name": name, "metadata": {"org_id": org_id}}
        if email:
            params["email"] = email
        customer = await _translated(
            self._client.v1.customers.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return CustomerResult(customer_ref=customer.id)

    async def update_billing_address(self, *, customer_ref: str, address: BillingAddress) -> BillingAddress:
        """Keep the customer's name and address (shown on receipts and invoices) in step with ours."""
        customer = await _translated(
            self._client.v1.customers.update_async(
                customer_ref,
                {
                    "name": address.name,
                    "address": {
                        "line1": address.line1,
                        "line2": address.line2,
                        "city": address.city,
                        "postal_code": address.postal_code,
                        "state": address.state,
                        "country": address.country,
                    },
                },
            )
        )
        held = customer.to_dict()
        address_held = held.get("address") or {}
        return BillingAddress(
            name=held.get("name") or "",
            line1=address_held.get("line1") or "",
            line2=address_held.get("line2") or "",
            city=address_held.get("city") or "",
            postal_code=address_held.get("postal_code") or "",
            state=address_held.get("state") or "",
            country=address_held.get("country") or "",
        )

    # Payment methods ---------------------------------------------------------------------------------

    async def setup_payment_method(self, *, customer_ref: str, idempotency_key: str) -> PaymentMethodSetup:
        """A SetupIntent whose client secret lets Stripe's own UI collect a card for later off-session charges."""
        intent = await _translated(
            self._client.v1.setup_intents.create_async(
                {
                    "customer": customer_ref,
                    "usage": "off_session",
                    "allowed_payment_method_types": _PAYMENT_METHOD_TYPES,  # type: ignore[typeddict-item]
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return PaymentMethodSetup(
            client_secret=intent.client_secret or "",
            publishable_key=self.publishable_key,
            provider=PROVIDER_NAME,
            setup_ref=intent.id,
        )

    async def attach_payment_method(self, *, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        """Attach a collected card to the customer; a newly attached card is not the default."""
        method = await _translated(
            self._client.v1.payment_methods.attach_async(payment_method_ref, {"customer": customer_ref})
        )
        return _payment_method_info(method.to_dict(), default_ref=None)

    async def detach_payment_method(self, *, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        """Detach one of the customer's cards; Stripe clears the default when it was this card."""
        # Stripe's detach takes no customer: check the card is this customer's before it goes.
        await self._customers_card(customer_ref, payment_method_ref)
        method = await _translated(self._client.v1.payment_methods.detach_async(payment_method_ref))
        return _payment_method_info(method.to_dict(), default_ref=None)

    async def set_default_payment_method(
        self, *, customer_ref: str, payment_method_ref: str
    ) -> PaymentMethodInfo:
        """Make one of the customer's cards the default (invoice_settings.default_payment_method)."""
        method = await self._customers_card(customer_ref, payment_method_ref)
        await _translated(
            self._client.v1.customers.update_async(
                customer_ref, {"invoice_settings": {"default_payment_method": payment_method_ref}}
            )
        )
        return _payment_method_info(method, default_ref=payment_method_ref)

    async def list_payment_methods(self, *, customer_ref: str) -> list[PaymentMethodInfo]:
        """The customer's cards, oldest first, the default one marked."""
        default_ref, methods = await asyncio.gather(
            self._default_payment_method(customer_ref), self._all_cards(customer_ref)
        )
        # Stripe lists newest first.
        return [_payment_method_info(method, default_ref=default_ref) for method in reversed(methods)]

    # Charges and refunds -----------------------------------------------------------------------------

    async def create_charge(
        self,
        *,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        idempotency_key: str,
        payment_method_ref: str | None,
    ) -> PreparedCharge | None:
        """A PaymentIntent not yet confirmed: nothing is charged until `charge` confirms it by its id."""
        method_ref = payment_method_ref or await self._default_payment_method(customer_ref)
        if method_ref is None:
            return None  # nothing to charge: `charge` answers with the result that says so
        intent = await _translated(
            self._client.v1.payment_intents.create_async(
                _intent_params(  # type: ignore[arg-type]
                    customer_ref, amount, currency, purpose, description, idempotency_key, method_ref
                ),
                {"idempotency_key": idempotency_key},
            )
        )
        return PreparedCharge(charge_ref=intent.id)

    async def charge(
        self,
        *,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        idempotency_key: str,
        payment_method_ref: str | None,
        on_session: bool = False,
        charge_ref: str | None = None,
    ) -> ChargeResult:
        """Confirm the prepared PaymentIntent (or create and confirm one); declines and authentication are results."""
        # Off-session, Stripe refuses a card that wants 3-D Secure instead of asking for it.
        confirm: dict[str, Any] = {} if on_session else {"off_session": True}
        if charge_ref is not None:
            return await self._confirm(charge_ref, confirm, idempotency_key, amount=amount, currency=currency)
        method_ref = payment_method_ref or await self._default_payment_method(customer_ref)
        if method_ref is None:
            # PaymentIntents do not fall back to the customer's invoice default: nothing to charge.
            return ChargeResult(
                status=ChargeStatus.FAILED,
                charge_ref="",
                amount=amount,
                currency=currency,
                decline_code="no_payment_method",
                message="The customer has no default payment method.",
            )
        params = _intent_params(
            customer_ref, amount, currency, purpose, description, idempotency_key, method_ref
        )
        call = self._client.v1.payment_intents.create_async(
            params | {"confirm": True} | confirm,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )
        try:
            intent = await _translated(call, card_errors=True)
        except stripe.CardError as declined:
            return _declined_result(declined, amount=amount, currency=currency)
        return _intent_result(intent.to_dict())

    async def _confirm(
        self, charge_ref: str, confirm: dict[str, Any], idempotency_key: str, *, amount: int, currency: str
    ) -> ChargeResult:
        """Confirm a prepared PaymentIntent; one confirmed by an earlier attempt is read and reported as it stands."""
        call = self._client.v1.payment_intents.confirm_async(
            charge_ref,
            confirm,  # type: ignore[arg-type]
            {"idempotency_key": f"{idempotency_key}:confirm"},
        )
        try:
            intent = await _translated(call, card_errors=True)
        except stripe.CardError as declined:
            return _declined_result(declined, amount=amount, currency=currency)
        except PaymentRequestError as refused:
            if refused.code != "payment_intent_unexpected_state":
                raise
            # confirmed already (its answer lost, and the key forgotten after 24 hours): never twice
            intent = await _translated(self._client.v1.payment_intents.retrieve_async(charge_ref))
        return _intent_result(intent.to_dict())

    async def retrieve_charge(self, *, charge_ref: str) -> ChargeResult:
        """The PaymentIntent as it stands (after the cardholder authenticated it, or an answer was lost)."""
        intent = await _translated(self._client.v1.payment_intents.retrieve_async(charge_ref))
        return _intent_result(intent.to_dict())

    async def cancel_charge(self, *, charge_ref: str) -> ChargeResult:
        """Cancel a PaymentIntent that took no money; one that succeeded or is processing is reported as it stands."""
        call = self._client.v1.payment_intents.cancel_async(charge_ref, {"cancellation_reason": "abandoned"})
        try:
            intent = await _translated(call)
        except PaymentRequestError as refused:
            if refused.code != "payment_intent_unexpected_state":
                raise
            intent = await _translated(self._client.v1.payment_intents.retrieve_async(charge_ref))
        return _intent_result(intent.to_dict())

    async def refund(
        self, *, charge_ref: str, amount: int, idempotency_key: str, reason: str
    ) -> RefundResult:
        """Give back part or all of a succeeded PaymentIntent (or legacy charge)."""
        params: dict[str, Any] = {"amount": amount, "metadata": {"reason": reason[:500]}}
        params["charge" if charge_ref.startswith(("ch_", "py_")) else "payment_intent"] = charge_ref
        if reason in _STRIPE_REFUND_REASONS:
            params["reason"] = reason
        refund = await _translated(
            self._client.v1.refunds.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return RefundResult(
            refund_ref=refund.id,
            charge_ref=charge_ref,
            amount=refund.amount,
            currency=refund.currency,
            status=_REFUND_STATUS.get(refund.status or "", RefundStatus.PENDING),
        )

    # Internals ---------------------------------------------------------------------------------------

    async def _customers_card(self, customer_ref: str, payment_method_ref: str) -> dict[str, Any]:
        # Answers 404 (a PaymentRequestError) when the card is not attached to this customer.
        method = await _translated(
            self._client.v1.customers.payment_methods.retrieve_async(customer_ref, payment_method_ref)
        )
        return method.to_dict()

    async def _default_payment_method(self, customer_ref: str) -> str | None:
        customer = (await _translated(self._client.v1.customers.retrieve_async(customer_ref))).to_dict()
        if customer.get("deleted"):
            raise CustomerGone(
                f"stripe: customer {customer_ref!r} was deleted",
                code="resource_missing",
                user_message="The payment provider no longer knows this customer.",
            )
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        return default.get("id") if isinstance(default, dict) else default

    async def _all_cards(self, customer_ref: str) -> list[dict[str, Any]]:
        methods: list[dict[str, Any]] = []
        params: dict[str, Any] = {"type": "card", "limit": 100}
        while True:
            page = await _translated(
                self._client.v1.customers.payment_methods.list_async(customer_ref, params)  # type: ignore[arg-type]
            )
            methods.extend(method.to_dict() for method in page.data)
            if not page.has_more or not page.data:
                return methods
            params["starting_after"] = page.data[-1].id


async def _translated(call: Awaitable[T], *, card_errors: bool = False) -> T:
    """Await an SDK call, turning its exceptions into the payment layer's (card errors too, unless asked)."""
    try:
        return await call
    except stripe.CardError as exc:
        if card_errors:
            raise  # a charge's decline: the caller makes it a result
        raise PaymentRequestError(
            f"stripe: the card was refused ({exc.code}): {exc.user_message or exc}",
            code=_decline_code(exc),
            user_message=_sentence(exc.user_message or "The card was refused."),
        ) from exc
    except stripe.IdempotencyError as exc:
        raise IdempotencyConflict(f"stripe: {exc.user_message or exc}") from exc
    except stripe.InvalidRequestError as exc:
        detail = f"stripe: {exc.user_message or exc} (code {exc.code}, param {exc.param})"
        if exc.code == "resource_missing" and _about_customer(exc):
            raise CustomerGone(
                detail, code=exc.code, user_message="The payment provider no longer knows this customer."
            ) from exc
        raise PaymentRequestError(
            detail,
            code=exc.code,
            user_message=_REFUSALS.get(exc.code or "", "The payment provider refused the request."),
        ) from exc
    except stripe.APIConnectionError as exc:
        if isinstance(exc.__cause__, httpx.TimeoutException):
            raise PaymentProviderTimeout(
                "stripe: no answer in time; retry with the same idempotency key"
            ) from exc
        raise PaymentProviderError(
            "stripe: the connection failed; the call may or may not have happened, retry with the same key"
        ) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise PaymentProviderError(
            f"stripe refused the API key ({type(exc).__name__}): check STRIPE_SECRET_KEY"
        ) from exc
    except (
        stripe.StripeError
    ) as exc:  # rate limits and Stripe's own failures: retried later with the same key
        raise PaymentProviderError(
            f"stripe: {type(exc).__name__} (HTTP {exc.http_status}): {exc.user_message or exc}"
        ) from exc


def _about_customer(error: stripe.InvalidRequestError) -> bool:
    # "No such customer: 'cus_…'" (param "customer", or "id" when the customer is in the path)
    return error.param == "customer" or str(error.user_message or "").startswith("No such customer")


def _sentence(text: str) -> str:
    """One sentence ending with one period, whatever the provider's message ended with."""
    text = text.strip().rstrip(".")
    return f"{text}." if text else ""


def _decline_code(error: stripe.CardError) -> str:
    detail = error.error.to_dict() if error.error is not None else {}
    return str(detail.get("decline_code") or error.code or "card_declined")


def _intent_params(
    customer_ref: str,
    amount: int,
    currency: str,
    purpose: ChargePurpose,
    description: str,
    idempotency_key: str,
    method_ref: str,
) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": currency,
        "customer": customer_ref,
        "payment_method": method_ref,
        "allowed_payment_method_types": _PAYMENT_METHOD_TYPES,
        "description": description,
        # The webhook finds the charge by its key when the answer to this call was lost.
        "metadata": {"idempotency_key": idempotency_key, "purpose": str(purpose)},
    }


def _intent_result(intent: dict[str, Any]) -> ChargeResult:
    status = intent.get("status")
    ref, amount, currency = str(intent["id"]), int(intent["amount"]), str(intent["currency"])
    if status == "succeeded":
        return ChargeResult(status=ChargeStatus.SUCCEEDED, charge_ref=ref, amount=amount, currency=currency)
    if status == "requires_action":
        return _needs_authentication(ref, amount, currency, intent.get("client_secret"))
    if status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        if _AUTHENTICATION_REQUIRED in {error.get("code"), error.get("decline_code")}:
            # declined off-session for want of 3-D Secure: still the cardholder's to confirm, on-session
            return _needs_authentication(ref, amount, currency, intent.get("client_secret"))
        return ChargeResult(
            status=ChargeStatus.DECLINED,
            charge_ref=ref,
            amount=amount,
            currency=currency,
            decline_code=error.get("decline_code") or error.get("code") or "card_declined",
            message=_sentence(error.get("message") or "The card was declined."),
        )
    if status == "canceled":
        return ChargeResult(
            status=ChargeStatus.FAILED,
            charge_ref=ref,
            amount=amount,
            currency=currency,
            decline_code=intent.get("cancellation_reason") or "canceled",
            message="The payment was canceled.",
        )
    # "processing", or "requires_confirmation" (created, not confirmed yet): nothing is known yet
    return ChargeResult(
        status=ChargeStatus.PROCESSING,
        charge_ref=ref,
        amount=amount,
        currency=currency,
        message="The payment is being processed; its outcome follows shortly.",
    )


def _declined_result(error: stripe.CardError, *, amount: int, currency: str) -> ChargeResult:
    detail = error.error.to_dict() if error.error is not None else {}
    intent = detail.get("payment_intent") or {}
    ref = str(intent.get("id") or detail.get("charge") or "")
    amount, currency = int(intent.get("amount") or amount), str(intent.get("currency") or currency)
    decline_code = detail.get("decline_code") or error.code or "card_declined"
    if _AUTHENTICATION_REQUIRED in {error.code, decline_code}:
        # Off-session, Stripe declines a card that wants 3-D Secure: the cardholder must confirm it.
        return _needs_authentication(ref, amount, currency, intent.get("client_secret"))
    return ChargeResult(
        status=ChargeStatus.DECLINED,
        charge_ref=ref,
        amount=amount,
        currency=currency,
        decline_code=decline_code,
        message=_sentence(error.user_message or "The card was declined."),
    )


def _needs_authentication(ref: str, amount: int, currency: str, client_secret: str | None) -> ChargeResult:
    return ChargeResult(
        status=ChargeStatus.REQUIRES_ACTION,
        charge_ref=ref,
        amount=amount,
        currency=currency,
        decline_code=_AUTHENTICATION_REQUIRED,
        message="The card needs the cardholder's authentication.",
        client_secret=client_secret,
    )


def _payment_method_info(method: dict[str, Any], *, default_ref: str | None) -> PaymentMethodInfo:
    card = method.get("card") or {}
    return PaymentMethodInfo(
        ref=method["id"],
        brand=card.get("brand") or method.get("type") or "unknown",
        last4=card.get("last4") or "",
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        is_default=method["id"] == default_ref,
    )
