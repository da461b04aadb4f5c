"""The typed async facade through which application code calls the payment hooks.

Application code never touches ``pm.hook``: each method here takes keyword arguments, checks them,
awaits what the plugin returned (see the contract in ``hookspecs``), bounds the call by the configured
timeout and checks the type of the answer. A missing answer where one is required is an error.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

import pluggy

from app.payments.errors import MissingHookResult, PaymentProviderTimeout
from app.payments.types import (
    BillingAddress,
    ChargePurpose,
    ChargeResult,
    CustomerResult,
    PaymentMethodInfo,
    PaymentMethodSetup,
    PaymentUi,
    PreparedCharge,
    RefundDecision,
    RefundResult,
    WebhookEvent,
    check_amount,
    check_money,
)

R = TypeVar("R")


class Payments:
    """The payment plugins behind one object: the active provider and the policies."""

    def __init__(
        self, manager: pluggy.PluginManager, *, provider: object, provider_name: str, timeout_seconds: float
    ) -> None:
        self._manager = manager
        self._hook = manager.hook
        self._provider = provider
        self._provider_name = provider_name
        self._timeout_seconds = timeout_seconds
        self._closed = False
        self._ui = self._load_ui()

    @property
    def provider_name(self) -> str:
        """The active provider's name, as chosen in plugins.toml."""
        return self._provider_name

    @property
    def provider(self) -> object:
        """The active provider's plugin object (tests reach the fake provider's switches through it)."""
        return self._provider

    @property
    def payment_ui(self) -> PaymentUi:
        """How the console collects cards with the provider's UI (asked once, when the payments load)."""
        return self._ui

    def _load_ui(self) -> PaymentUi:
        ui = self._hook.payment_ui()
        if ui is None:  # a partner's provider without a UI for the console: its own tools add cards
            return PaymentUi(provider=self._provider_name, publishable_key="")
        if not isinstance(ui, PaymentUi):
            raise MissingHookResult(f"payment_ui returned {type(ui).__name__}, expected PaymentUi")
        return ui

    @property
    def plugin_names(self) -> tuple[str, ...]:
        """Names of every registered plugin, for diagnostics."""
        return tuple(name for name, _ in self._manager.list_name_plugin())

    async def create_customer(
        self, *, org_id: str, name: str, email: str, idempotency_key: str
    ) -> CustomerResult:
        """Create the provider's customer for an organization."""
        _check_key(idempotency_key)
        return await self._first(
            "create_customer",
            CustomerResult,
            org_id=org_id,
            name=name,
            email=email,
            idempotency_key=idempotency_key,
        )

    async def setup_payment_method(self, *, customer_ref: str, idempotency_key: str) -> PaymentMethodSetup:
        """Start collecting a card; returns what the console needs for the provider's own UI."""
        _check_key(idempotency_key)
        return await self._first(
            "setup_payment_method",
            PaymentMethodSetup,
            customer_ref=customer_ref,
            idempotency_key=idempotency_key,
        )

    async def attach_payment_method(self, *, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        """Attach a collected payment method to a customer."""
        return await self._first(
            "attach_payment_method",
            PaymentMethodInfo,
            customer_ref=customer_ref,
            payment_method_ref=payment_method_ref,
        )

    async def detach_payment_method(self, *, customer_ref: str, payment_method_ref: str) -> PaymentMethodInfo:
        """Detach a payment method from a customer."""
        return await self._first(
            "detach_payment_method",
            PaymentMethodInfo,
            customer_ref=customer_ref,
            payment_method_ref=payment_method_ref,
        )

    async def set_default_payment_method(
        self, *, customer_ref: str, payment_method_ref: str
    ) -> PaymentMethodInfo:
        """Make an attached payment method the one charged by default."""
        return await self._first(
            "set_default_payment_method",
            PaymentMethodInfo,
            customer_ref=customer_ref,
            payment_method_ref=payment_method_ref,
        )

    async def list_payment_methods(self, *, customer_ref: str) -> list[PaymentMethodInfo]:
        """A customer's payment methods, oldest first, the default one marked."""
        methods = await self._first("list_payment_methods", list, customer_ref=customer_ref)
        if not all(isinstance(method, PaymentMethodInfo) for method in methods):
            raise MissingHookResult(f"{self._provider_name}: list_payment_methods returned {methods!r}")
        return methods

    async def create_charge(
        self,
        *,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        idempotency_key: str,
        payment_method_ref: str | None = None,
    ) -> PreparedCharge | None:
        """Create a charge without confirming it; None when the provider charges in one step."""
        check_money(amount, currency)
        _check_key(idempotency_key)
        result = await self._call(
            "create_charge",
            customer_ref=customer_ref,
            amount=amount,
            currency=currency,
            purpose=ChargePurpose(purpose),
            description=description,
            idempotency_key=idempotency_key,
            payment_method_ref=payment_method_ref,
        )
        if result is not None and not isinstance(result, PreparedCharge):
            raise MissingHookResult(
                f"create_charge returned {type(result).__name__}, expected PreparedCharge"
            )
        return result

    async def charge(
        self,
        *,
        customer_ref: str,
        amount: int,
        currency: str,
        purpose: ChargePurpose,
        description: str,
        idempotency_key: str,
        payment_method_ref: str | None = None,
        on_session: bool = False,
        charge_ref: str | None = None,
    ) -> ChargeResult:
        """Charge a customer (or confirm the charge ``create_charge`` made); a decline is a result, an outage an exception."""
        check_money(amount, currency)
        _check_key(idempotency_key)
        return await self._first(
            "charge",
            ChargeResult,
            customer_ref=customer_ref,
            amount=amount,
            currency=currency,
            purpose=ChargePurpose(purpose),
            description=description,
            idempotency_key=idempotency_key,
            payment_method_ref=payment_method_ref,
            on_session=on_session,
            charge_ref=charge_ref,
        )

    async def retrieve_charge(self, *, charge_ref: str) -> ChargeResult | None:
        """The charge as it stands at the provider; None when the provider cannot read charges back."""
        result = await self._call("retrieve_charge", charge_ref=charge_ref)
        if result is not None and not isinstance(result, ChargeResult):
            raise MissingHookResult(
                f"retrieve_charge returned {type(result).__name__}, expected ChargeResult"
            )
        return result

    async def cancel_charge(self, *, charge_ref: str) -> ChargeResult | None:
        """Cancel a charge that took no money, or read it as it stands; None when the provider cannot cancel."""
        result = await self._call("cancel_charge", charge_ref=charge_ref)
        if result is not None and not isinstance(result, ChargeResult):
            raise MissingHookResult(f"cancel_charge returned {type(result).__name__}, expected ChargeResult")
        return result

    async def refund(
        self, *, charge_ref: str, amount: int, idempotency_key: str, reason: str
    ) -> RefundResult:
        """Give back all or part of a charge; ask refund_decision first."""
        check_amount(amount)
        _check_key(idempotency_key)
        return await self._first(
            "refund",
            RefundResult,
            charge_ref=charge_ref,
            amount=amount,
            idempotency_key=idempotency_key,
            reason=reason,
        )

    async def update_billing_address(self, *, customer_ref: str, address: BillingAddress) -> BillingAddress:
        """Send the billing address to the provider."""
        return await self._first(
            "update_billing_address", BillingAddress, customer_ref=customer_ref, address=address
        )

    async def parse_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent | None:
        """The verified event, or None when no plugin recognises the request (answer it with 400)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        result = await self._call("parse_webhook", payload=payload, headers=lowered)
        if result is None:
            return None  # not addressed to any installed provider: the caller refuses the request
        if not isinstance(result, WebhookEvent):
            raise MissingHookResult(f"{self._provider_name}: parse_webhook returned {result!r}")
        return result

    async def refund_decision(
        self, *, org_id: str, charge_ref: str, amount: int, reason: str
    ) -> RefundDecision:
        """Whether a refund request is granted; the shipped policy refuses ("All purchases are final")."""
        return await self._first(
            "refund_decision",
            RefundDecision,
            org_id=org_id,
            charge_ref=charge_ref,
            amount=amount,
            reason=reason,
        )

    async def billing_event(self, *, event_type: str, org_id: str, data: Mapping[str, Any]) -> None:
        """Tell every plugin about a billing event; failures of listeners are raised together."""
        await self._broadcast("billing_event", event_type=event_type, org_id=org_id, data=data)

    async def aclose(self) -> None:
        """Let every plugin release what it holds; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._broadcast("payments_shutdown")

    async def __aenter__(self) -> Payments:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def _call(self, hook_name: str, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout_seconds):
                result = getattr(self._hook, hook_name)(**kwargs)
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError as exc:
            raise PaymentProviderTimeout(
                f"{self._provider_name}: {hook_name} took longer than {self._timeout_seconds:g}s"
            ) from exc
        return result

    async def _first(self, hook_name: str, expected: type[R], **kwargs: Any) -> R:
        result = await self._call(hook_name, **kwargs)
        if result is None:
            raise MissingHookResult(f"no plugin answered {hook_name} (provider {self._provider_name!r})")
        if isinstance(result, tuple) and expected is list:
            result = list(result)
        if not isinstance(result, expected):
            raise MissingHookResult(
                f"{hook_name} returned {type(result).__name__}, expected {expected.__name__}"
            )
        return result

    async def _broadcast(self, hook_name: str, **kwargs: Any) -> None:
        results = getattr(self._hook, hook_name)(**kwargs)
        awaitables = [result for result in results if inspect.isawaitable(result)]
        # gather, so that one failing listener neither stops the others nor leaves coroutines unawaited.
        outcomes = await asyncio.gather(*awaitables, return_exceptions=True)
        errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if errors:
            raise ExceptionGroup(f"{hook_name}: {len(errors)} plugin(s) failed", errors)


def _check_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise ValueError("an idempotency key is required, deterministic for what the call pays or sets up")
