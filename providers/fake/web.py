"""The endpoint of the fake provider's 3-D Secure dialog (app/web/static/fake-provider/fake-provider.js).

A real provider's 3-D Secure page talks to the provider, never to the app: Stripe.js posts the
cardholder's answer to Stripe with the charge's client secret, and the app only reads the charge again
afterwards. The fake provider has no server of its own, so the app serves this endpoint for it, while it
is the provider; it stands for the provider's API, not the app's. The client secret authenticates the
request (it is the one thing the browser holds, as with Stripe.js): no session, no other credential.

``POST /fake-provider/authentications`` with ``{"client_secret": str, "outcome": "authenticate" | "fail"}``
answers ``{"status": ..., "message": ...}`` (the charge as the provider now holds it), or
``{"error": {"code": ..., "message": ...}}`` with 400 (malformed), 404 (no charge has this secret),
409 (the charge is not waiting for authentication: answered already, or never asked) or 503.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from app.payments.errors import PaymentProviderError, PaymentRequestError

if TYPE_CHECKING:
    from providers.fake.plugin import FakeProvider

PATH = "/fake-provider/authentications"
OUTCOMES = {"authenticate": True, "fail": False}
MAX_SECRET_LENGTH = 200  # the fake provider's secrets are about 70 characters
_STATUS_OF_CODE = {"invalid_client_secret": 404, "payment_intent_unexpected_state": 409}


def authentication_endpoint(provider: FakeProvider) -> HTTPRouteHandler:
    """The route where the dialog reports the cardholder's answer for one charge."""

    @post(PATH, include_in_schema=False, status_code=200)
    async def authenticate(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        secret = body.get("client_secret") if isinstance(body, dict) else None
        outcome = body.get("outcome") if isinstance(body, dict) else None
        if not isinstance(secret, str) or len(secret) > MAX_SECRET_LENGTH or outcome not in OUTCOMES:
            return _error(
                400,
                "invalid_request",
                'Expected {"client_secret": str, "outcome": "authenticate" or "fail"}.',
            )
        try:
            charge = await provider.authenticate(secret, succeed=OUTCOMES[outcome])
        except PaymentRequestError as exc:
            return _error(_STATUS_OF_CODE.get(exc.code or "", 400), exc.code, exc.user_message)
        except PaymentProviderError:
            return _error(503, "unavailable", "The payment provider is unavailable; try again.")
        return Response({"status": charge.status.value, "message": charge.message})

    return authenticate


def _error(status: int, code: str | None, message: str) -> Response[dict[str, Any]]:
    return Response({"error": {"code": code, "message": message}}, status_code=status)
