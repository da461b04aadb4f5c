"""Receipts and monthly statements as data, with signed links to their printable and CSV forms."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app.domain.money import NANOS_PER_CENT
from app.domain.receipts import service as receipts
from app.domain.receipts.links import document_link
from app.domain.receipts.models import Receipt as ReceiptModel
from app.domain.receipts.statements import Statement as StatementData
from app.graphql.billing.types import ChargePurposeEnum
from app.graphql.context import Info
from app.graphql.errors import ForbiddenError, InvalidInputError, NotFoundError, UnauthenticatedError
from app.graphql.money import Money
from app.graphql.visibility import visible_nodes


@strawberry.type(description="The receipt of a succeeded payment, as it was paid. Organization Admins only.")
class Receipt(relay.Node):
    receipt_id: relay.NodeID[str]
    number: int = strawberry.field(description="1, 2, 3, … per organization, without gaps.")
    number_label: str = strawberry.field(description="The number as printed, e.g. `5795DFD4-00012`.")
    issued_at: datetime = strawberry.field(description="When the payment succeeded (UTC).")
    purpose: ChargePurposeEnum = strawberry.field(description="What the payment was for.")  # type: ignore[valid-type]
    description: str = strawberry.field(description="What was paid, as on the card statement.")
    amount: Money = strawberry.field(description="The amount paid: the charge's amount.")
    period_start: datetime | None = strawberry.field(description="A subscription's paid period: its start.")
    period_end: datetime | None = strawberry.field(description="A subscription's paid period: its end.")
    card_brand: str | None = strawberry.field(description="The card's brand, e.g. `visa`.")
    card_last4: str | None = strawberry.field(description="The card's last four digits.")
    billing_address: list[str] = strawberry.field(
        description="The billing address at the time, line by line."
    )
    charge_id: str = strawberry.field(description="The charge it is the receipt of.")
    download_url: str = strawberry.field(
        description="A link to the printable page that works without signing in, for a limited time."
    )

    @classmethod
    def from_model(cls, receipt: ReceiptModel, info: Info) -> Receipt:
        view = receipts.ReceiptView(receipt)
        return cls(
            receipt_id=receipt.id,
            number=receipt.number,
            number_label=view.number_label,
            issued_at=receipt.issued_at,
            purpose=receipt.purpose,
            description=receipt.description,
            amount=Money.from_nanos(receipt.amount_cents * NANOS_PER_CENT, receipt.currency.upper()),
            period_start=receipt.period_start,
            period_end=receipt.period_end,
            card_brand=receipt.card_brand,
            card_last4=receipt.card_last4,
            billing_address=view.address_lines,
            charge_id=receipt.charge_id,
            download_url=document_link(info.context.settings, "receipts", receipt.id),
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, receipt_id: str) -> Receipt:
            return cls.from_model(await receipts.get_receipt(session, actor, receipt_id), info)

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="A page of receipts, newest first.")
class Receipts:
    receipts: list[Receipt] = strawberry.field(description="The receipts of this page.")
    next_before: int | None = strawberry.field(
        description="Pass as `before` for the next (older) page; null: this is the last page."
    )


@strawberry.type(description="One model's usage in the month.")
class ModelUsage:
    model_id: str = strawberry.field(description="The model.")
    requests: int = strawberry.field(description="Requests.")
    input_tokens: int = strawberry.field(description="Input tokens.")
    output_tokens: int = strawberry.field(description="Output tokens.")
    cost: Money = strawberry.field(
        description="At list price, whatever paid for it (credits, a subscription, free)."
    )
    billed: Money = strawberry.field(description="What PayGo credits paid.")


@strawberry.type(description="A subscription charge or a settlement paid in the month.")
class StatementCharge:
    charge_id: str = strawberry.field(description="The charge.")
    purpose: ChargePurposeEnum = strawberry.field(description="SUBSCRIPTION or SETTLEMENT.")  # type: ignore[valid-type]
    description: str = strawberry.field(description="What it paid.")
    amount: Money = strawberry.field(description="The amount.")
    paid_at: datetime = strawberry.field(description="When it succeeded (UTC).")


@strawberry.type(
    description="An organization's billing in one calendar month (UTC). Credit figures come from the ledger: "
    "opening balance + bought + granted - used - expired - refunded + settlement = closing balance, to the nano-dollar."
)
class Statement:
    month: str = strawberry.field(description="`YYYY-MM`.")
    starts_at: datetime = strawberry.field(description="The month's first instant (UTC).")
    ends_at: datetime = strawberry.field(description="The next month's first instant (UTC).")
    opening_balance: Money = strawberry.field(description="The credit balance when the month began.")
    credits_bought: Money = strawberry.field(description="Credits bought (purchases and auto-recharges).")
    credits_granted: Money = strawberry.field(description="Promotional credits granted.")
    credits_used: Money = strawberry.field(description="Credits PayGo usage used.")
    credits_expired: Money = strawberry.field(description="Credits that expired unused.")
    credits_refunded: Money = strawberry.field(description="Credits taken back by refunds.")
    settlement: Money = strawberry.field(
        description="Usage beyond credits paid by the month-end settlement charge."
    )
    closing_balance: Money = strawberry.field(description="The credit balance when the month ended (or now).")
    credits_held: Money = strawberry.field(description="What the credit grants held at the end of the month.")
    subscription_charges: Money = strawberry.field(description="Subscription charges paid in the month.")
    usage: list[ModelUsage] = strawberry.field(description="Usage by model.")
    charges: list[StatementCharge] = strawberry.field(
        description="Subscription and settlement charges of the month."
    )
    summary_csv_url: str = strawberry.field(description="A signed link to this statement as CSV.")
    usage_csv_url: str = strawberry.field(
        description="A signed link to the usage by day × model × project as CSV."
    )

    @classmethod
    def from_data(cls, data: StatementData, info: Info) -> Statement:
        settings = info.context.settings

        def link(document: str) -> str:
            return document_link(settings, "statements", f"{data.organization_id}/{data.month}/{document}")

        return cls(
            month=data.month,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            opening_balance=Money.from_nanos(data.opening_balance_nanos),
            credits_bought=Money.from_nanos(data.credits_bought_nanos),
            credits_granted=Money.from_nanos(data.credits_granted_nanos),
            credits_used=Money.from_nanos(data.credits_used_nanos),
            credits_expired=Money.from_nanos(data.credits_expired_nanos),
            credits_refunded=Money.from_nanos(data.credits_refunded_nanos),
            settlement=Money.from_nanos(data.settlement_nanos),
            closing_balance=Money.from_nanos(data.closing_balance_nanos),
            credits_held=Money.from_nanos(data.credits_held_nanos),
            subscription_charges=Money.from_nanos(data.subscription_charges_nanos),
            usage=[
                ModelUsage(
                    model_id=u.model_id,
                    requests=u.requests,
                    input_tokens=u.input_tokens,
                    output_tokens=u.output_tokens,
                    cost=Money.from_nanos(u.cost_nanos),
                    billed=Money.from_nanos(u.billed_nanos),
                )
                for u in data.usage
            ],
            charges=[
                StatementCharge(
                    charge_id=c.charge_id,
                    purpose=c.purpose,
                    description=c.description,
                    amount=Money.from_nanos(c.amount_nanos),
                    paid_at=c.paid_at,
                )
                for c in data.charges
            ],
            summary_csv_url=link("summary.csv"),
            usage_csv_url=link("usage.csv"),
        )


_ERRORS = ForbiddenError | NotFoundError | UnauthenticatedError | InvalidInputError
ReceiptsResult = Annotated[
    Receipts | _ERRORS,
    strawberry.union("ReceiptsResult", description="Receipts, or why they cannot be shown."),
]
StatementResult = Annotated[
    Statement | _ERRORS,
    strawberry.union("StatementResult", description="The statement, or why it cannot be shown."),
]
