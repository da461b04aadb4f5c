"""Signed, expiring links to billing documents, for people who open them from an email.

A link names the document and its expiry and carries an HMAC-SHA256 over both under the
``DOCUMENT_LINK_KEY`` setting (random per process when unset: links then last until a restart).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache
from urllib.parse import urlencode

from app import clock
from app.settings import Settings


@cache
def _process_key() -> bytes:
    return secrets.token_bytes(32)


def _key(settings: Settings) -> bytes:
    configured = settings.document_link_key
    return configured.get_secret_value().encode() if configured else _process_key()


def signature(settings: Settings, kind: str, document_id: str, expires: int) -> str:
    """The HMAC of a document link."""
    message = f"{kind}:{document_id}:{expires}".encode()
    return hmac.new(_key(settings), message, hashlib.sha256).hexdigest()


def document_link(settings: Settings, kind: str, document_id: str, *, now: datetime | None = None) -> str:
    """A link to the document's page that works without signing in until it expires."""
    expires_at = (now or clock.now()) + timedelta(hours=settings.document_link_ttl_hours)
    expires = int(expires_at.timestamp())
    query = urlencode({"expires": expires, "signature": signature(settings, kind, document_id, expires)})
    return f"{settings.public_url.rstrip('/')}/billing/{kind}/{document_id}?{query}"


def link_is_valid(settings: Settings, kind: str, document_id: str, expires: str, given: str) -> bool:
    """Whether a link's signature is right and it has not expired."""
    if not expires.isdigit() or int(expires) < clock.now().timestamp():
        return False
    return hmac.compare_digest(signature(settings, kind, document_id, int(expires)), given)
