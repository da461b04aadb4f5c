"""Signed, expiring links to billing documents, for people who open them from an email.

A link names the document and its expiry and carries an HMAC-SHA256 over both under the
``DOCUMENT_LINK_KEY`` setting. When it is unset, the key is made once and kept in the database
(``document_link_key``), and every process on that database (replicas, `app.cli run-jobs`) signs and
verifies with it from its start (`install_shared_key`): a link made by one opens on any other, and
after a restart. A process that has not installed it (a script) signs with a key of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache
from urllib.parse import urlencode

from sqlalchemy import select
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.receipts.models import DocumentLinkKey
from app.domain.rowsets import dialect_insert
from app.settings import Settings

_shared: dict[str, bytes] = {}  # database URL -> the key kept in that database


@cache
def _process_key() -> bytes:
    return secrets.token_bytes(32)


def _key(settings: Settings) -> bytes:
    configured = settings.document_link_key
    if configured:
        return configured.get_secret_value().encode()
    return _shared.get(settings.database_url) or _process_key()


async def install_shared_key(db: Database, settings: Settings) -> None:
    """Read the database's link key (made by the first process that needs it) unless DOCUMENT_LINK_KEY is set."""
    if settings.document_link_key:
        return
    async with db.transaction() as session:
        await session.execute(
            dialect_insert(db.is_sqlite, DocumentLinkKey.__table__)  # type: ignore[attr-defined]
            .values(id=1, secret=secrets.token_urlsafe(32), created_at=clock.now())
            .on_conflict_do_nothing()
        )
        row = (await session.scalars(select(DocumentLinkKey).where(col(DocumentLinkKey.id) == 1))).one()
    _shared[settings.database_url] = row.secret.encode()


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
