"""GET /billing/...: receipts as printable pages, statements and usage as CSV downloads.

A document opens for an Organization Admin of its organization (``Authorization: Bearer`` with a
session token), or for anyone holding a signed link that has not expired (what receipt emails and
the API's ``downloadUrl`` fields hand out). Without either: 401; a wrong or expired link: 403;
a document that is not the caller's to see: 404, as for one that does not exist.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)

from app import clock
from app.db import Database
from app.domain.accounts.service import authenticate
from app.domain.actor import Actor
from app.domain.errors import DomainError, Unauthenticated
from app.domain.notifications.templates import render_document
from app.domain.orgs.access import require_org_admin
from app.domain.receipts.links import link_is_valid
from app.domain.receipts.models import Receipt
from app.domain.receipts.service import ReceiptView
from app.domain.receipts.statements import build_statement, daily_usage_csv, parse_month, statement_csv
from app.graphql.context import bearer_token
from app.settings import Settings

NOT_FOUND = "No such document is visible to you."


class BillingDocuments(Controller):
    """Receipts and statements for people and accountants: HTML to print, CSV to import."""

    path = "/billing"
    include_in_schema = False

    @get("/receipts/{receipt_id:str}")
    async def receipt(self, request: Request[Any, Any, Any], receipt_id: str) -> Response[str]:
        """The receipt as a printable HTML page."""
        db: Database = request.app.state.db
        async with db.reader() as session:
            receipt = await session.get(Receipt, receipt_id)
            await _allow(
                request, session, f"receipts/{receipt_id}", receipt.organization_id if receipt else None
            )
            assert receipt is not None
            page = render_document("receipt", receipt=ReceiptView(receipt))
        return Response(page, media_type="text/html; charset=utf-8", headers=_private())

    @get("/statements/{organization_id:str}/{month:str}/{document:str}")
    async def statement(
        self, request: Request[Any, Any, Any], organization_id: str, month: str, document: str
    ) -> Response[str]:
        """``summary.csv``: the month's statement; ``usage.csv``: its usage by day × model × project."""
        if document not in {"summary.csv", "usage.csv"}:
            raise NotFoundException(NOT_FOUND)
        db: Database = request.app.state.db
        async with db.reader() as session:
            await _allow(
                request, session, f"statements/{organization_id}/{month}/{document}", organization_id
            )
            try:
                start = parse_month(month, clock.now())
            except DomainError as exc:
                raise HTTPException(status_code=400, detail=exc.message) from None
            if document == "usage.csv":
                body = await daily_usage_csv(session, organization_id, start)
            else:
                body = statement_csv(await build_statement(session, organization_id, start))
        filename = f"{organization_id}-{month}-{document}"
        headers = {**_private(), "content-disposition": f'attachment; filename="{filename}"'}
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


def _private() -> dict[str, str]:
    return {"cache-control": "private, no-store", "referrer-policy": "no-referrer"}


async def _allow(
    request: Request[Any, Any, Any], session: Any, document: str, organization_id: str | None
) -> None:
    """Let the request through with a valid signed link or an Org Admin's session; raise otherwise."""
    settings: Settings = request.app.state.settings
    signature, expires = request.query_params.get("signature"), request.query_params.get("expires")
    if signature or expires:
        kind, _, document_id = document.partition("/")
        if not link_is_valid(settings, kind, document_id, expires or "", signature or ""):
            raise PermissionDeniedException(
                "This link is not valid or has expired; ask for a new one in the console."
            )
        if organization_id is None:
            raise NotFoundException(NOT_FOUND)
        return
    token = bearer_token(request)
    if token is None:
        raise NotAuthorizedException("Sign in (Authorization: Bearer <session token>) or use a signed link.")
    try:
        user, _ = await authenticate(session, token)
    except Unauthenticated as exc:
        raise NotAuthorizedException(exc.message) from None
    if organization_id is None:
        raise NotFoundException(NOT_FOUND)
    try:
        await require_org_admin(session, Actor(user_id=user.id, is_staff=user.is_staff), organization_id)
    except DomainError:
        raise NotFoundException(NOT_FOUND) from None
