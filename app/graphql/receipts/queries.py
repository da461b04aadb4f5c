"""An organization's receipts and monthly statements, for its Organization Admins."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.errors import InvalidInput
from app.domain.receipts import service as receipts
from app.domain.receipts import statements
from app.graphql.context import Info
from app.graphql.errors import field_with_errors
from app.graphql.ids import org_id
from app.graphql.notifications.queries import ORGANIZATION
from app.graphql.receipts.types import Receipt, Receipts, ReceiptsResult, Statement, StatementResult

MAX_PAGE = 100


@strawberry.type
class ReceiptQueries:
    @field_with_errors("An organization's receipts, newest first (Org Admins).")
    async def receipts(
        self,
        info: Info,
        organization_id: ORGANIZATION,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 20,
        before: Annotated[
            int | None,
            strawberry.argument(
                description="Only receipts numbered below this (the previous page's `nextBefore`)."
            ),
        ] = None,
    ) -> ReceiptsResult:
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput(f"`first` must be between 1 and {MAX_PAGE}.", field="first")
        session = await info.context.session()
        page = await receipts.list_receipts(
            session, info.context.actor(), org_id(organization_id), before=before, limit=first + 1
        )
        more = len(page) > first
        page = page[:first]
        return Receipts(
            receipts=[Receipt.from_model(r, info) for r in page],
            next_before=page[-1].number if more else None,
        )

    @field_with_errors("An organization's statement for one calendar month, `YYYY-MM` (Org Admins).")
    async def statement(
        self,
        info: Info,
        organization_id: ORGANIZATION,
        month: Annotated[str, strawberry.argument(description="The calendar month, `YYYY-MM` (UTC).")],
    ) -> StatementResult:
        session = await info.context.session()
        data = await statements.monthly_statement(
            session, info.context.actor(), org_id(organization_id), month=month
        )
        return Statement.from_data(data, info)
