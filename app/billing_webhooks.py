"""POST /webhooks/{provider}: the payment provider's events, verified by the provider's plugin, handled once.

The raw body goes to the plugin untouched (signatures cover the exact bytes). Answers: 200 when the
event was handled, was a duplicate, or has a type nobody handles (so the provider stops resending);
400 when the signature is missing or wrong or the body is not an event; 404 for a provider that is
not the active one. Anything else (the database down) is a 500, and the provider retries later.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post

from app.db import Database
from app.domain.provider_events.service import handle_event
from app.payments.errors import WebhookError, WebhookSignatureError
from app.services import Services

logger = logging.getLogger(__name__)


@post("/webhooks/{provider:str}", status_code=200, include_in_schema=False)
async def receive_webhook(request: Request[Any, Any, Any], provider: str) -> Response[dict[str, str]]:
    """Verify the provider's event and apply it once."""
    services: Services = request.app.state.services
    db: Database = request.app.state.db
    payments = services.payments
    if provider != payments.provider_name:
        return Response({"error": f"no active payment provider {provider!r}"}, status_code=404)
    payload = await request.body()
    try:
        event = await payments.parse_webhook(payload=payload, headers=dict(request.headers))
    except WebhookSignatureError as exc:
        logger.warning("%s webhook refused: %s", provider, exc)
        return Response({"error": "the webhook signature does not verify"}, status_code=400)
    except WebhookError as exc:
        logger.warning("%s webhook refused: %s", provider, exc)
        return Response({"error": "the webhook body is not an event"}, status_code=400)
    if event is None:
        return Response({"error": "the webhook carries no signature of the provider"}, status_code=400)
    handled = await handle_event(db, provider=provider, event=event)
    return Response({"event": event.id, "result": handled.value}, status_code=200)
