"""The stand-in's answers to what Stripe.js asks in the browser: the publishable key and an intent's client secret.

Stripe.js never holds the secret key: it sends the publishable key (``key``) and the client secret the
server handed the page, and Stripe answers only about that one intent. The console's browser tests serve a
small fake Stripe.js (tests/console/fake_stripe.js) whose requests to api.stripe.com are routed here, so
the card collected in the browser is the one the app then attaches and charges through the real SDK.

Card numbers are Stripe's documented test numbers, each standing for one of the stand-in's test tokens.
A 3-D Secure challenge passed in Stripe's frame is one request here (``/v1/3ds2/authenticate``).
"""

from __future__ import annotations

import re
from typing import Any

from providers.fake.cards import TEST_CARDS as FAKE_CARDS
from tests.providers.stripe_api import TEST_CARDS, Answer, RequestError, StripeApi

# Stripe's test card numbers (the fake provider uses the same ones) -> the stand-in's test tokens
TEST_NUMBERS = {card.number: card.token for card in FAKE_CARDS if card.token in TEST_CARDS}
_CONFIRM_SETUP = re.compile(r"/v1/setup_intents/(?P<ref>[^/]+)/confirm")
_PAYMENT_INTENT = re.compile(r"/v1/payment_intents/(?P<ref>[^/]+)")


def handle_browser_request(api: StripeApi, method: str, path: str, params: dict[str, Any]) -> Answer:
    """Answer one request of Stripe.js (its publishable key already checked by the stand-in)."""
    try:
        if method == "POST" and (match := _CONFIRM_SETUP.fullmatch(path)):
            return 200, _confirm_setup(api, match["ref"], params)
        if method == "GET" and (match := _PAYMENT_INTENT.fullmatch(path)):
            return 200, _intent(api.payment_intents, match["ref"], params, "payment_intent")
        if method == "POST" and path == "/v1/3ds2/authenticate":
            intent = _intent(api.payment_intents, str(params.get("intent", "")), params, "payment_intent")
            if intent["status"] == "requires_action":
                api.authenticate(intent["id"])
            return 200, intent
    except RequestError as refused:
        return refused.answer
    return 404, _error(404, f"Unrecognized request URL ({method}: {path}).").answer[1]


def _confirm_setup(api: StripeApi, ref: str, params: dict[str, Any]) -> dict[str, Any]:
    """confirmCardSetup: the card typed into Elements becomes a PaymentMethod attached to the intent's customer."""
    intent = _intent(api.setup_intents, ref, params, "setup_intent")
    if intent["status"] != "requires_payment_method":
        raise _error(400, f"This SetupIntent has a status of {intent['status']} and cannot be confirmed.")
    data = params.get("payment_method_data") or {}
    number = re.sub(r"\D", "", str((data.get("card") or {}).get("number", "")))
    if data.get("type") != "card" or not number:
        raise _error(400, "Missing required param: payment_method_data[card][number].")
    token = TEST_NUMBERS.get(number)
    if token is None:
        raise RequestError(
            402, "card_error", "Your card number is incorrect.", code="incorrect_number", setup_intent=intent
        )
    method = api.new_card(token)
    method["customer"] = intent["customer"]  # a confirmed SetupIntent attaches its card to its customer
    intent |= {"status": "succeeded", "payment_method": method["id"]}
    return intent


def _intent(store: dict[str, dict[str, Any]], ref: str, params: dict[str, Any], kind: str) -> dict[str, Any]:
    intent = store.get(ref)
    # the client secret proves the page was handed this intent; without it Stripe says the intent does not exist
    if intent is None or params.get("client_secret") != intent["client_secret"]:
        raise RequestError(
            404, "invalid_request_error", f"No such {kind}: '{ref}'", code="resource_missing", param="intent"
        )
    return intent


def _error(status: int, message: str) -> RequestError:
    return RequestError(status, "invalid_request_error", message)
