"""Stripe's webhooks: the ``Stripe-Signature`` header verified on the raw body, then the event decoded.

Stripe signs ``f"{t}.{raw_body}"`` with HMAC-SHA256 and the endpoint's signing secret, and sends
``t=<unix time>,v1=<hex>`` (several ``v1`` while a secret is being rolled). The SDK checks the
signature and that ``t`` is no older than the tolerance, so a captured request cannot be replayed later.
An event from the other mode (a test-mode event at a live-mode endpoint, or the reverse) is refused:
its objects are not this account's.
"""

from __future__ import annotations

from collections.abc import Mapping

import stripe

from app.payments.errors import WebhookError, WebhookSignatureError
from app.payments.types import WebhookEvent

SIGNATURE_HEADER = "stripe-signature"


def parse(
    payload: bytes, headers: Mapping[str, str], *, secret: str, tolerance: int, livemode: bool
) -> WebhookEvent | None:
    """The verified event; None when the request carries no Stripe signature (another provider's)."""
    signature = headers.get(SIGNATURE_HEADER)
    if signature is None:
        return None
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureError(f"stripe: {exc.user_message or exc}") from exc
    except ValueError as exc:  # not UTF-8, not JSON, or a thin event this endpoint does not take
        raise WebhookError(f"stripe: the webhook payload is not a JSON event: {exc}") from exc
    body = event.to_dict()
    if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise WebhookError("stripe: the webhook payload has no event id or type")
    if body.get("livemode") is not livemode:
        mode = "live" if livemode else "test"
        raise WebhookError(f"stripe: event {body['id']} is not a {mode}-mode event, as the secret key is")
    data = body.get("data")
    return WebhookEvent(id=body["id"], type=body["type"], data=data if isinstance(data, dict) else {})
