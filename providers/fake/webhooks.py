"""The fake provider's webhooks: JSON events signed with HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from app.payments.errors import WebhookError, WebhookSignatureError
from app.payments.types import WebhookEvent

SIGNATURE_HEADER = "x-fake-signature"


def sign(payload: bytes, secret: bytes) -> dict[str, str]:
    """The headers that make payload a webhook request signed with secret."""
    return {SIGNATURE_HEADER: hmac.new(secret, payload, hashlib.sha256).hexdigest()}


def parse(payload: bytes, headers: Mapping[str, str], secret: bytes) -> WebhookEvent | None:
    """The verified event; None when the request carries no fake signature (another provider's)."""
    signature = headers.get(SIGNATURE_HEADER)
    if signature is None:
        return None
    if not hmac.compare_digest(signature, sign(payload, secret)[SIGNATURE_HEADER]):
        raise WebhookSignatureError(f"fake: the {SIGNATURE_HEADER} header does not match the payload")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise WebhookError(f"fake: webhook payload is not JSON: {exc}") from exc
    if not (
        isinstance(body, dict)
        and isinstance(body.get("id"), str)
        and isinstance(body.get("type"), str)
        and isinstance(body.get("data", {}), dict)
    ):
        raise WebhookError('fake: webhook payload must be {"id": str, "type": str, "data": object}')
    return WebhookEvent(id=body["id"], type=body["type"], data=body.get("data", {}))
