"""The stand-in's Stripe objects and endpoints: customers, SetupIntents, PaymentMethods, PaymentIntents, refunds.

Shapes follow Stripe's API reference (only the fields the provider or the tests read, plus the usual
``id``, ``object``, ``created``, ``livemode``). Test payment methods behave like Stripe's: attaching a
``pm_card_*`` token creates a new PaymentMethod, and charging it succeeds, declines with a card error
and decline code, or asks for authentication.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import count
from typing import Any

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
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            ("POST", re.compile(r"/v1/customers"), self._create_customer),
            ("GET", re.compile(r"/v1/customers/(?P<ref>[^/]+)"), self._customer),
            ("POST", re.compile(r"/v1/customers/(?P<ref>[^/]+)"), self._update_customer),
            ("GET", re.compile(r"/v1/customers/(?P<ref>[^/]+)/payment_methods"), self._list_cards),
            (
                "GET",
                re.compile(r"/v1/customers/(?P<ref>[^/]+)/payment_methods/(?P<pm>[^/]+)"),
                self._customers_card,
            ),
            ("POST", re.compile(r"/v1/setup_intents"), self._create_setup_intent),
            ("GET", re.compile(r"/v1/payment_methods/(?P<ref>[^/]+)"), self._payment_method),
            ("POST", re.compile(r"/v1/payment_methods/(?P<ref>[^/]+)/attach"), self._attach),
            ("POST", re.compile(r"/v1/payment_methods/(?P<ref>[^/]+)/detach"), self._detach),
            ("POST", re.compile(r"/v1/payment_intents"), self._create_payment_intent),
            ("GET", re.compile(r"/v1/payment_intents/(?P<ref>[^/]+)"), self._payment_intent),
            ("POST", re.compile(r"/v1/refunds"), self._create_refund),
        ]

    def handle(self, method: str, path: str, params: dict[str, Any]) -> Answer:
        """The status and JSON body of one request."""
        for route_method, pattern, endpoint in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
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

    def _customer(self, params: dict[str, Any], ref: str) -> dict[str, Any]:
        customer = self.customers.get(ref)
        if customer is None:
            raise _missing("customer", ref)
        return customer

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
            self._customer(params, customer)
        intent = _object("setup_intent", "seti") | {
            "customer": customer,
            "status": "requires_payment_method",
            "usage": params.get("usage", "off_session"),
            "payment_method_types": params.get("payment_method_types", ["card"]),
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
        self._customer(params, customer)
        if ref in TEST_CARDS:  # a test token makes a new PaymentMethod each time, as in Stripe
            card = TEST_CARDS[ref]
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
                "test_token": ref,
            }
            self.payment_methods[method["id"]] = method
        else:
            method = self._payment_method(params, ref)
        if method["customer"] not in {None, customer}:
            raise _invalid("The payment method you provided has already been attached to a customer.")
        method["customer"] = customer
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
            self._customer(params, customer)
        method_ref = params.get("payment_method")
        method = self._payment_method(params, method_ref) if method_ref else None
        if method is not None and method["customer"] != customer:
            raise _invalid(f"The provided PaymentMethod {method_ref} is not attached to customer {customer}.")
        intent = _object("payment_intent", "pi") | {
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": customer,
            "payment_method": method_ref,
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "status": "requires_payment_method" if method is None else "requires_confirmation",
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        self.payment_intents[intent["id"]] = intent
        if method is None or params.get("confirm") != "true":
            return intent
        return self._confirm(
            intent, TEST_CARDS[method["test_token"]], off_session=params.get("off_session") == "true"
        )

    def _confirm(self, intent: dict[str, Any], card: TestCard, *, off_session: bool) -> dict[str, Any]:
        needs_authentication = card.code == "authentication_required"
        if needs_authentication and not (off_session and self.authentication_as_decline):
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
            return intent
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
        intent["latest_charge"] = charge["id"]
        if card.code is None:
            intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
            return intent
        details = {"code": card.code, "decline_code": card.decline_code, "charge": charge["id"]}
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {"type": "card_error", "message": card.message, **details}
        raise RequestError(402, "card_error", card.message, **details, payment_intent=dict(intent))

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
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund


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
