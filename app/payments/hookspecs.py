"""Every hook of the payment plugins, in one place (pluggy project "inference_billing").

The contract for implementations, because pluggy itself knows nothing of asyncio:

* A hook implementation is a plain ``def`` (never ``async def``). It returns the result, an awaitable
  of the result, or ``None`` to let another plugin answer. The ``Payments`` facade awaits awaitables.
* The reason: for a ``firstresult`` hook pluggy stops at the first implementation that returns
  something other than ``None``, and a coroutine object is never ``None``, so an ``async def``
  implementation would always win, even when it means to pass. The plugin manager therefore refuses
  ``async def`` implementations outright.
* To pass on a ``firstresult`` hook, return ``None`` synchronously; an awaitable that later resolves to
  ``None`` has already won and is reported as a missing result.
* Declines are results (``ChargeResult`` with status DECLINED); outages and timeouts raise
  ``PaymentProviderError`` / ``PaymentProviderTimeout``; reusing an idempotency key with other
  parameters raises ``IdempotencyConflict``.
* Hooks are called with keyword arguments only. An implementation may accept any subset of a spec's
  arguments, but an argument the spec does not have is rejected when the plugin is registered.

Provider hooks (customer, payment method, charge, refund, billing address, webhook) are answered by the
one active payment provider. Policy hooks (``refund_decision``) may be answered by any plugin, the
shipped default last. ``billing_event`` and ``payments_shutdown`` are broadcasts: every plugin is called.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import pluggy

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
)

PROJECT_NAME = "inference_billing"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

T = TypeVar("T")
MaybeAwaitable: TypeAlias = T | Awaitable[T]


@hookspec(firstresult=True)
def payment_provider_name() -> str | None:
    """Name the payment provider this plugin is; only payment providers implement it.

    The first non-None result wins; the plugin manager checks that exactly one plugin implements it.

    :returns: the provider's name as chosen in plugins.toml, e.g. ``"fake"`` or ``"stripe"``.
    """


@hookspec(firstresult=True)
def payment_ui() -> PaymentUi | None:
    """Say how the console collects and authenticates cards with this provider's own UI.

    The first non-None result wins. Called once, synchronously, when the payments are loaded: the app
    builds the console page's Content-Security-Policy from it. A provider that does not implement it
    gets no card form in the console (its cards are added with its own tools).

    :returns: the provider's name, its publishable (public) key, the URL of its UI's script (None: the
        console's own form; a path such as ``/static/...``: a script the app serves, like the fake
        provider's 3-D Secure dialog) and the origins its UI loads scripts and frames from and sends
        requests to.
    """


@hookspec(firstresult=True)
def create_customer(
    org_id: str, name: str, email: str, idempotency_key: str
) -> MaybeAwaitable[CustomerResult] | None:
    """Create the provider's customer for an organization.

    The first non-None result wins.

    :param org_id: the organization's ID, kept in the provider's metadata for support.
    :param name: the organization's name as the customer's display name.
    :param email: where the provider sends receipts.
    :param idempotency_key: the same key with the same arguments returns the same customer.
    :returns: the customer's reference at the provider.
    """


@hookspec(firstresult=True)
def setup_payment_method(
    customer_ref: str, idempotency_key: str
) -> MaybeAwaitable[PaymentMethodSetup] | None:
    """Start collecting a card for a customer with the provider's own UI.

    The first non-None result wins.

    :param customer_ref: the provider's customer reference.
    :param idempotency_key: the same key returns the same set-up.
    :returns: the client secret, publishable key, provider name and set-up reference the console needs.
    """


@hookspec(firstresult=True)
def attach_payment_method(
    customer_ref: str, payment_method_ref: str
) -> MaybeAwaitable[PaymentMethodInfo] | None:
    """Attach a payment method collected by the provider's UI to a customer; it does not become default.

    The first non-None result wins.

    :param customer_ref: the provider's customer reference.
    :param payment_method_ref: the provider's reference of the collected payment method.
    :returns: the attached payment method's reference, brand, last four digits and expiry.
    """


@hookspec(firstresult=True)
def detach_payment_method(
    customer_ref: str, payment_method_ref: str
) -> MaybeAwaitable[PaymentMethodInfo] | None:
    """Detach a payment method from a customer; if it was the default, the customer has none after.

    The first non-None result wins.

    :param customer_ref: the provider's customer reference.
    :param payment_method_ref: the reference of a payment method attached to that customer.
    :returns: the detached payment method.
    """


@hookspec(firstresult=True)
def set_default_payment_method(
    customer_ref: str, payment_method_ref: str
) -> MaybeAwaitable[PaymentMethodInfo] | None:
    """Make an attached payment method the one charged when a charge names none.

    The first non-None result wins.

    :param customer_ref: the provider's customer reference.
    :param payment_method_ref: the reference of a payment method attached to that customer.
    :returns: the payment method, now marked as default.
    """


@hookspec(firstresult=True)
def list_payment_methods(customer_ref: str) -> MaybeAwaitable[Sequence[PaymentMethodInfo]] | None:
    """List a customer's attached payment methods, oldest first, the default one marked.

    The first non-None result wins; a customer without cards is an empty list, not None.

    :param customer_ref: the provider's customer reference.
    :returns: the customer's payment methods.
    """


@hookspec(firstresult=True)
def create_charge(
    customer_ref: str,
    amount: int,
    currency: str,
    purpose: ChargePurpose,
    description: str,
    idempotency_key: str,
    payment_method_ref: str | None,
) -> MaybeAwaitable[PreparedCharge] | None:
    """Create a charge without taking money yet, so that its reference is stored before it is confirmed.

    The first non-None result wins. Optional: a provider that charges in one step does not implement
    it, and ``charge`` is then called with ``charge_ref=None``. A provider whose idempotency keys expire
    (Stripe keeps them 24 hours) should implement it: a retry then confirms or reads the stored charge
    instead of creating a second one.

    :param customer_ref: the provider's customer reference.
    :param amount: positive integer of the currency's minor unit (cents).
    :param currency: lower-case ISO 4217 code, e.g. ``"usd"``.
    :param purpose: what the charge pays for.
    :param description: shown on the customer's statement and receipts.
    :param idempotency_key: deterministic for what the charge pays; the same key returns the same charge.
    :param payment_method_ref: the payment method to charge, or None for the customer's default.
    :returns: the created charge's reference.
    """


@hookspec(firstresult=True)
def charge(
    customer_ref: str,
    amount: int,
    currency: str,
    purpose: ChargePurpose,
    description: str,
    idempotency_key: str,
    payment_method_ref: str | None,
    on_session: bool,
    charge_ref: str | None,
) -> MaybeAwaitable[ChargeResult] | None:
    """Charge a customer: a purchase, auto-recharge, period-end settlement or subscription.

    The first non-None result wins. A declined card is a result, not an exception; so is a card
    that needs the cardholder's authentication (REQUIRES_ACTION, with the client secret) and a
    charge whose outcome the provider does not know yet (PROCESSING).

    :param customer_ref: the provider's customer reference.
    :param amount: positive integer of the currency's minor unit (cents).
    :param currency: lower-case ISO 4217 code, e.g. ``"usd"``.
    :param purpose: what the charge pays for.
    :param description: shown on the customer's statement and receipts.
    :param idempotency_key: deterministic for what the charge pays; the same key with the same
        arguments returns the original result, with other arguments raises IdempotencyConflict.
    :param payment_method_ref: the payment method to charge, or None for the customer's default.
    :param on_session: True when the cardholder is at the console now and can authenticate the
        payment (a purchase, a subscription's first month or upgrade); False for charges made without
        them (auto-recharge, settlement, renewals).
    :param charge_ref: the reference ``create_charge`` gave for this charge, or None: with one, the
        provider confirms that charge (or reports it as it stands) and never creates another.
    :returns: the charge's status (succeeded, declined, requires action, processing, failed) and reference.
    """


@hookspec(firstresult=True)
def retrieve_charge(charge_ref: str) -> MaybeAwaitable[ChargeResult] | None:
    """Read a charge as it stands now at the provider (after the cardholder authenticated it, or a lost answer).

    The first non-None result wins.

    :param charge_ref: the provider's reference of the charge.
    :returns: the charge's status and reference; a REQUIRES_ACTION charge carries its client secret.
    """


@hookspec(firstresult=True)
def cancel_charge(charge_ref: str) -> MaybeAwaitable[ChargeResult] | None:
    """Cancel a charge that has taken no money, e.g. one the cardholder never authenticated.

    The first non-None result wins. Once canceled, a late authentication cannot take the money. A
    charge that succeeded (or is being processed) meanwhile is not canceled: it is returned as it
    stands, and the caller applies it.

    :param charge_ref: the provider's reference of the charge.
    :returns: the charge as it stands after the attempt: FAILED when canceled, else its status.
    """


@hookspec(firstresult=True)
def refund(
    charge_ref: str, amount: int, idempotency_key: str, reason: str
) -> MaybeAwaitable[RefundResult] | None:
    """Give back all or part of a succeeded charge; called only after refund_decision approved it.

    The first non-None result wins.

    :param charge_ref: the provider's reference of the charge.
    :param amount: positive integer of minor units, at most what is left to refund on the charge.
    :param idempotency_key: the same key with the same arguments returns the same refund.
    :param reason: why the money goes back, kept by the provider.
    :returns: the refund's reference and status.
    """


@hookspec(firstresult=True)
def update_billing_address(
    customer_ref: str, address: BillingAddress
) -> MaybeAwaitable[BillingAddress] | None:
    """Send an organization's billing address to the provider (it appears on invoices and receipts).

    The first non-None result wins.

    :param customer_ref: the provider's customer reference.
    :param address: the billing address to store.
    :returns: the address as the provider now holds it.
    """


@hookspec(firstresult=True)
def parse_webhook(payload: bytes, headers: Mapping[str, str]) -> MaybeAwaitable[WebhookEvent] | None:
    """Verify and decode a webhook request sent by the provider.

    The first non-None result wins. A plugin returns None when the request is not addressed to it
    (for example, its signature header is absent) and raises WebhookSignatureError when it is but the
    signature does not verify.

    :param payload: the request body, byte for byte as received (signatures cover the raw bytes).
    :param headers: the request headers, names in lower case.
    :returns: the verified event.
    """


@hookspec(firstresult=True)
def refund_decision(
    org_id: str, charge_ref: str, amount: int, reason: str
) -> MaybeAwaitable[RefundDecision] | None:
    """Decide whether a refund request is granted before any money moves.

    The first non-None result wins; the shipped default policy answers last and refuses with
    "All purchases are final", so a partner's plugin may decide otherwise.

    :param org_id: the organization asking.
    :param charge_ref: the provider's reference of the charge to refund.
    :param amount: positive integer of minor units asked back.
    :param reason: the customer's reason for asking.
    :returns: approved or not, with the reason recorded and shown to the customer.
    """


@hookspec
def billing_event(event_type: str, org_id: str, data: Mapping[str, Any]) -> MaybeAwaitable[None] | None:
    """Tell every plugin that something happened to an organization's billing (notifications, audit).

    Every implementation is called and every awaitable awaited; results are ignored.

    :param event_type: what happened, e.g. ``"credits.purchased"`` or ``"auto_recharge.failed"``.
    :param org_id: the organization it happened to.
    :param data: details of the event, JSON-compatible.
    :returns: nothing (or an awaitable of nothing).
    """


@hookspec
def payments_shutdown() -> MaybeAwaitable[None] | None:
    """Release what plugins hold (HTTP clients, files) when the application stops.

    Every implementation is called and every awaitable awaited.

    :returns: nothing (or an awaitable of nothing).
    """
