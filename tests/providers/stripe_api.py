"""The stand-in's Stripe objects and endpoints: customers, SetupIntents, PaymentMethods, PaymentIntents, refunds.

Shapes follow Stripe's API reference (only the fields the provider or the tests read, plus the usual
``id``, ``object``, ``created``, ``livemode``). Test payment methods behave like Stripe's: attaching a
``pm_card_*`` token creates a new PaymentMethod, and charging it succeeds, declines with a card error
and decline code, or asks for authentication.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import count
from typing import Any

from tests.providers import stripe_params

Answer = tuple[int, dict[str, Any]]
_KEY_PART = re.compile(r"\[([^\]]*)\]")
_created = count(1_790_000_000)  # strictly increasing, so that "newest first" is well defined


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested values: ``a[b][0]=x`` -> ``{"a": {"b": ["x"]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _lists(root)


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _lists(item) for key, item in value.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


@dataclass(frozen=True)
class TestCard:
    """A Stripe test payment method token and what charging it does."""

    __test__ = False

    brand: str
    last4: str
    code: str | None = None  # card error code: card_declined, expired_card, authentication_required
    decline_code: str | None = None
    message: str = ""
    refused_at_attach: bool = False  # the card check Stripe makes when a card is saved fails


TEST_CARDS = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_chargeDeclined": TestCard(
        "visa", "0002", "card_declined", "generic_decline", "Your card was declined."
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa",
        "0127",
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
        refused_at_attach=True,
    ),
    "pm_card_authenticationRequired": TestCard(
        "visa",
        "3155",
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}


class RequestError(Exception):
    """An answer other than 200, raised from deep inside an endpoint."""

    def __init__(self, status: int, kind: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.answer: Answer = (status, {"error": {"type": kind, "message": message, **fields}})


def _missing(kind: str, ref: str, param: str = "id") -> RequestError:
    return RequestError(
        404, "invalid_request_error", f"No such {kind}: '{ref}'", code="resource_missing", param=param
    )


def _invalid(message: str, *, code: str = "parameter_invalid", param: str | None = None) -> RequestError:
    return RequestError(400, "invalid_request_error", message, code=code, param=param)


class StripeApi:
    """Stripe's objects, by id, and the endpoints that change them."""

    def __init__(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        # Off-session, live Stripe declines a card needing 3-D Secure (card_error authentication_required);
        # False answers with status requires_action instead. Both must become REQUIRES_ACTION.
        self.authentication_as_decline = False
        # Test mode's switch for banks that answer later: confirmed payments stay "processing" until `finish`.
        self.settle_later = False
        self.refund_status = "succeeded"  # what new refunds start as ("pending" for banks that take days)
        # (method, path, the pinned SDK's parameter TypedDict, endpoint)
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., dict[str, Any]]]] = [
            ("POST", re.compile(r"/v1/customers"), "CustomerCreateParams", self._create_customer),
            (
                "GET",
                re.compile(r"/v1/customers/(?P<ref>[^/]+)"),
                "CustomerRetrieveParams",
                self._customer_or_deleted,
            ),
            (
                "POST",
                re.compile(r"/v1/customers/(?P<ref>[^/]+)"),
                "CustomerUpdateParams",
                self._update_customer,
            ),
            (
                "DELETE",
                re.compile(r"/v1/customers/(?P<ref>[^/]+)"),
                "CustomerDeleteParams",
                self._delete_customer,
            ),
            (
                "GET",
                re.compile(r"/v1/customers/(?P<ref>[^/]+)/payment_methods"),
                "CustomerPaymentMethodListParams",
                self._list_cards,
            ),
            (
                "GET",
                re.compile(r"/v1/customers/(?P<ref>[^/]+)/payment_methods/(?P<pm>[^/]+)"),
                "CustomerPaymentMethodRetrieveParams",
                self._customers_card,
            ),
            ("POST", re.compile(r"/v1/setup_intents"), "SetupIntentCreateParams", self._create_setup_intent),
            (
                "GET",
                re.compile(r"/v1/payment_methods/(?P<ref>[^/]+)"),
                "PaymentMethodRetrieveParams",
                self._payment_method,
            ),
            (
                "POST",
                re.compile(r"/v1/payment_methods/(?P<ref>[^/]+)/attach"),
                "PaymentMethodAttachParams",
                self._attach,
            ),
            (
                "POST",
                re.compile(r"/v1/payment_methods/(?P<ref>[^/]+)/detach"),
                "PaymentMethodDetachParams",
                self._detach,
            ),
            (
                "POST",
                re.compile(r"/v1/payment_intents"),
                "PaymentIntentCreateParams",
                self._create_payment_intent,
            ),
            (
                "GET",
                re.compile(r"/v1/payment_intents/(?P<ref>[^/]+)"),
                "PaymentIntentRetrieveParams",
                self._payment_intent,
            ),
            (
                "POST",
                re.compile(r"/v1/payment_intents/(?P<ref>[^/]+)/confirm"),
                "PaymentIntentConfirmParams",
                self._confirm_payment_intent,
            ),
            (
                "POST",
                re.compile(r"/v1/payment_intents/(?P<ref>[^/]+)/cancel"),
                "PaymentIntentCancelParams",
                self._cancel_payment_intent,
            ),
            ("POST", re.compile(r"/v1/refunds"), "RefundCreateParams", self._create_refund),
            ("GET", re.compile(r"/v1/refunds/(?P<ref>[^/]+)"), "RefundRetrieveParams", self._refund),
        ]
        self.invalid_requests: list[
            tuple[str, str, str]
        ] = []  # (method, path, why): what Stripe would refuse

    def handle(self, method: str, path: str, params: dict[str, Any]) -> Answer:
        """The status and JSON body of one request; parameters the pinned version does not declare are refused."""
        for route_method, pattern, params_name, endpoint in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                try:
                    stripe_params.check(stripe_params.params_class(params_name), params)
                except stripe_params.ParameterError as refused:
                    self.invalid_requests.append((method, path, str(refused)))
                    return _invalid(str(refused), code=refused.code, param=refused.param).answer
                try:
                    return 200, endpoint(params, **match.groupdict())
                except RequestError as refused:
                    return refused.answer
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            }
        }

    def charge_of(self, payment_intent_ref: str) -> dict[str, Any]:
        """The Charge object behind a PaymentIntent (for webhook payloads such as charge.refunded)."""
        return self.charges[self.payment_intents[payment_intent_ref]["latest_charge"]]

    # Customers -----------------------------------------------------------------------------------

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = _object("customer", "cus") | {
            "name": params.get("name"),
            "email": params.get("email"),
            "address": None,
            "metadata": params.get("metadata", {}),
            "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
        }
        self.customers[customer["id"]] = customer
        return customer

    def _customer(self, params: dict[str, Any], ref: str, param: str = "id") -> dict[str, Any]:
        customer = self.customers.get(ref)
        if customer is None or customer.get("deleted"):
            raise _missing("customer", ref, param)
        return customer

    def _customer_or_deleted(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        # Stripe answers for a deleted customer with a stub that says so, not with a 404.
        if self.customers.get(ref, {}).get("deleted"):
            return {"id": ref, "object": "customer", "deleted": True}
        return self._customer(params, ref)

    def _delete_customer(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        self._customer(params, ref)
        return self.delete_customer(ref)

    def delete_customer(self, ref: str) -> dict[str, Any]:
        """Delete a customer (as the dashboard does): its cards go with it. Gives the customer.deleted object."""
        customer = self.customers[ref]
        customer["deleted"] = True
        for method in self.payment_methods.values():
            if method["customer"] == ref:
                method["customer"] = None
        return {key: value for key, value in customer.items() if key != "deleted"}

    def _update_customer(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        customer = self._customer(params, ref)
        for name in ("name", "email"):
            if name in params:
                customer[name] = params[name] or None  # an empty value unsets, as in Stripe
        if "address" in params:
            customer["address"] = {
                field: params["address"].get(field) or None
                for field in ("line1", "line2", "city", "postal_code", "state", "country")
            }
        default = params.get("invoice_settings", {}).get("default_payment_method")
        if default is not None:
            method = self.payment_methods.get(default)
            if method is None or method["customer"] != ref:
                raise _invalid(
                    f"The customer does not have a payment method with the ID {default}. The payment method "
                    "must be attached to the customer.",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
            customer["invoice_settings"]["default_payment_method"] = default or None
        customer["metadata"] |= params.get("metadata", {})
        return customer

    def _list_cards(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        self._customer(params, ref)
        cards = [
            m
            for m in self.payment_methods.values()
            if m["customer"] == ref and m["type"] == params.get("type", "card")
        ]
        cards.sort(key=lambda m: m["created"], reverse=True)
        if "starting_after" in params:
            ids = [m["id"] for m in cards]
            cards = cards[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "url": f"/v1/customers/{ref}/payment_methods",
            "has_more": len(cards) > limit,
            "data": cards[:limit],
        }

    def _customers_card(self, params: dict[str, Any], ref: str, pm: str) -> dict[str, Any]:
        self._customer(params, ref)
        method = self.payment_methods.get(pm)
        if method is None or method["customer"] != ref:
            raise _missing("PaymentMethod", pm)
        return method

    # Payment methods -----------------------------------------------------------------------------

    def _create_setup_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if customer is not None:
            self._customer(params, customer, "customer")
        intent = _object("setup_intent", "seti") | {
            "customer": customer,
            "status": "requires_payment_method",
            "usage": params.get("usage", "off_session"),
            "payment_method_types": params.get("allowed_payment_method_types", ["card", "link"]),
            "metadata": params.get("metadata", {}),
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        self.setup_intents[intent["id"]] = intent
        return intent

    def _payment_method(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        method = self.payment_methods.get(ref)
        if method is None:
            raise _missing("PaymentMethod", ref)
        return method

    def _attach(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        customer = params.get("customer")
        if not customer:
            raise _invalid("Missing required param: customer.", code="parameter_missing", param="customer")
        self._customer(params, customer, "customer")
        if ref in TEST_CARDS:  # a test token makes a new PaymentMethod each time, as in Stripe
            method = self.new_card(ref)
        else:
            method = self._payment_method(params, ref)
        if method["customer"] not in {None, customer}:
            raise _invalid("The payment method you provided has already been attached to a customer.")
        method["customer"] = customer
        return method

    def new_card(self, token: str) -> dict[str, Any]:
        """A new PaymentMethod of a test card (by its ``pm_card_*`` token); a card refused when saved raises."""
        card = TEST_CARDS[token]
        if card.refused_at_attach:
            raise RequestError(
                402, "card_error", card.message, code=card.code, decline_code=card.decline_code
            )
        method = _object("payment_method", "pm") | {
            "type": "card",
            "card": {
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
            },
            "customer": None,
            "metadata": {},
            "test_token": token,
        }
        self.payment_methods[method["id"]] = method
        return method

    def _detach(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        method = self._payment_method(params, ref)
        customer = self.customers.get(method["customer"] or "")
        if customer is None:
            raise _invalid(
                "The payment method you provided is not attached to a customer so detachment is impossible."
            )
        if customer["invoice_settings"]["default_payment_method"] == ref:
            customer["invoice_settings"]["default_payment_method"] = None
        method["customer"] = None
        return method

    # Payments ------------------------------------------------------------------------------------

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount, currency = _amount(params.get("amount")), params.get("currency", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid(f"Invalid currency: {currency}.", param="currency")
        if amount < 50:
            raise _invalid("Amount must be at least $0.50 usd", code="amount_too_small", param="amount")
        customer = params.get("customer")
        if customer is not None:
            self._customer(params, customer, "customer")
        intent = _object("payment_intent", "pi") | {
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": customer,
            "payment_method": None,
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "payment_method_types": params.get("allowed_payment_method_types", ["card", "link"]),
            # without a list of types, dynamic payment methods may redirect: confirming then needs a return_url
            "redirects_possible": "allowed_payment_method_types" not in params
            and params.get("automatic_payment_methods", {}).get("allow_redirects") != "never",
            "status": "requires_payment_method",
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "cancellation_reason": None,
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        self._use_method(intent, params.get("payment_method"))
        self.payment_intents[intent["id"]] = intent
        if params.get("confirm") != "true":
            return intent
        return self._confirm(intent, params)

    def _use_method(self, intent: dict[str, Any], method_ref: str | None) -> None:
        if not method_ref:
            return
        method = self._payment_method({}, method_ref)
        if method["customer"] != intent["customer"]:
            raise _invalid(
                f"The provided PaymentMethod {method_ref} is not attached to customer {intent['customer']}.",
                param="payment_method",
            )
        intent["payment_method"], intent["status"] = method_ref, "requires_confirmation"

    def _confirm_payment_intent(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        intent = self._payment_intent(params, ref)
        if intent["status"] not in {"requires_confirmation", "requires_payment_method"}:
            raise _invalid(
                f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        self._use_method(intent, params.get("payment_method"))
        return self._confirm(intent, params)

    def _cancel_payment_intent(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        intent = self._payment_intent(params, ref)
        if intent["status"] not in _CANCELABLE:
            raise _invalid(
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                f"PaymentIntent with one of the following statuses may be canceled: {', '.join(sorted(_CANCELABLE))}.",
                code="payment_intent_unexpected_state",
            )
        intent |= {
            "status": "canceled",
            "cancellation_reason": params.get("cancellation_reason"),
            "canceled_at": int(time.time()),
            "next_action": None,
        }
        return intent

    def _confirm(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if intent["payment_method"] is None:
            raise _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        if intent["redirects_possible"] and "return_url" not in params:
            raise _invalid(
                "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because "
                "some of these payment methods might redirect your customer off of your page, you must provide "
                "a `return_url`.",
                param="return_url",
            )
        card = TEST_CARDS[self.payment_methods[intent["payment_method"]]["test_token"]]
        off_session = params.get("off_session") not in {None, "false"}
        if card.code == "authentication_required" and not (off_session and self.authentication_as_decline):
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
            return intent
        return self._pay(intent, card)

    def _pay(self, intent: dict[str, Any], card: TestCard) -> dict[str, Any]:
        charge = _object("charge", "ch") | {
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": "failed" if card.code else "succeeded",
            "failure_code": card.code,
            "disputed": False,
        }
        self.charges[charge["id"]] = charge
        intent["latest_charge"], intent["next_action"] = charge["id"], None
        if card.code is None:
            if self.settle_later:
                charge["status"], intent["status"] = "pending", "processing"
                return intent
            charge["status"] = "succeeded"
            intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
            return intent
        details = {"code": card.code, "decline_code": card.decline_code, "charge": charge["id"]}
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {"type": "card_error", "message": card.message, **details}
        raise RequestError(402, "card_error", card.message, **details, payment_intent=dict(intent))

    def authenticate(self, payment_intent_ref: str) -> dict[str, Any]:
        """The cardholder passes 3-D Secure in Stripe's UI in the console: the payment goes through.

        An intent declined off-session for want of authentication is confirmed again on-session by
        Stripe.js with its client secret (the same card), which asks for it.
        """
        intent = self.payment_intents[payment_intent_ref]
        declined_for_authentication = (intent.get("last_payment_error") or {}).get(
            "code"
        ) == "authentication_required"
        assert intent["status"] == "requires_action" or (
            intent["status"] == "requires_payment_method" and declined_for_authentication
        ), intent["status"]
        intent["last_payment_error"] = None
        return self._pay(intent, TEST_CARDS["pm_card_visa"])

    def finish(self, payment_intent_ref: str) -> dict[str, Any]:
        """A processing payment's bank answers: it succeeds."""
        intent = self.payment_intents[payment_intent_ref]
        assert intent["status"] == "processing", intent["status"]
        self.charges[intent["latest_charge"]]["status"] = "succeeded"
        intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
        return intent

    def dispute(
        self, payment_intent_ref: str, *, amount: int | None = None, status: str = "needs_response"
    ) -> dict[str, Any]:
        """The cardholder's bank disputes the payment: the Dispute object of charge.dispute.* events."""
        charge = self.charge_of(payment_intent_ref)
        charge["disputed"] = True
        return _object("dispute", "dp") | {
            "amount": charge["amount"] if amount is None else amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": payment_intent_ref,
            "reason": "fraudulent",
            "status": status,
        }

    def _payment_intent(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        intent = self.payment_intents.get(ref)
        if intent is None:
            raise _missing("payment_intent", ref)
        return intent

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        if "payment_intent" in params:
            intent = self._payment_intent(params, params["payment_intent"])
            charge = self.charges.get(intent["latest_charge"] or "")
        else:
            charge = self.charges.get(params.get("charge", ""))
            if charge is None:
                raise _missing("charge", params.get("charge", ""), "charge")
        if charge is None or charge["status"] != "succeeded":
            raise _invalid(
                "This PaymentIntent does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        left = charge["amount"] - charge["amount_refunded"]
        amount = _amount(params.get("amount", left))
        if amount > left:
            raise _invalid(
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on charge (${left / 100:.2f})",
                code="amount_too_large",
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise _invalid(
                f"Invalid reason: must be one of {', '.join(sorted(REFUND_REASONS))}", param="reason"
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = _object("refund", "re") | {
            "amount": amount,
            "charge": charge["id"],
            "currency": charge["currency"],
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "metadata": params.get("metadata", {}),
            "status": self.refund_status,
        }
        self.refunds[refund["id"]] = refund
        return refund

    def _refund(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        refund = self.refunds.get(ref)
        if refund is None:
            raise _missing("refund", ref)
        return refund


# Stripe cancels an intent in these states only (processing only for some payment methods: not cards)
_CANCELABLE = {"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action"}


def _object(kind: str, prefix: str) -> dict[str, Any]:
    return {"id": new_id(prefix), "object": kind, "created": next(_created), "livemode": False}


def _amount(value: Any) -> int:
    try:
        amount = int(value)
    except (TypeError, ValueError):
        raise _invalid(f"Invalid integer: {value}", param="amount") from None
    if amount <= 0:
        raise _invalid("This value must be greater than or equal to 1.", param="amount")
    return amount
