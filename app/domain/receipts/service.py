"""Receipts: issued in the transaction that settles a charge as succeeded, numbered without gaps.

The number comes from a per-organization counter row incremented by one atomic statement in that
same transaction: concurrent settlements of one organization queue on the row (PostgreSQL) or on
the write lock (SQLite), and a transaction that rolls back takes its number back with it. So the
numbers are unique and gapless. The receipt copies what it needs (card, billing address, the
organization's name) so that it reads the same after they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.models import BillingAccount, Charge, PaymentMethod
from app.domain.errors import NotFound
from app.domain.money import NANOS_PER_CENT, format_amount
from app.domain.notifications.models import Notice
from app.domain.notifications.recipients import notify
from app.domain.orgs.access import require_org_admin
from app.domain.orgs.models import Organization
from app.domain.receipts.links import document_link
from app.domain.receipts.models import Receipt, ReceiptCounter
from app.domain.rowsets import dialect_insert, is_sqlite
from app.settings import Settings

RECEIPT_NOT_FOUND = "No receipt with this ID is visible to you."
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "state", "country")


async def next_number(session: AsyncSession, organization_id: str) -> int:
    """The organization's next receipt number, taken in the caller's transaction."""
    table: Any = ReceiptCounter.__table__  # type: ignore[attr-defined]
    statement = (
        dialect_insert(is_sqlite(session), table)
        .values(organization_id=organization_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[table.c.organization_id], set_={"last_number": table.c.last_number + 1}
        )
        .returning(table.c.last_number)
    )
    return int((await session.execute(statement)).scalar_one())


async def issue_receipt(session: AsyncSession, charge: Charge) -> Receipt:
    """The receipt of a charge that just succeeded (once: a second call returns the first)."""
    existing = await session.scalar(select(Receipt).where(col(Receipt.charge_id) == charge.id))
    if existing is not None:
        return existing
    organization = await session.get(Organization, charge.organization_id)
    account = await session.get(BillingAccount, charge.organization_id)
    card = (
        await session.scalar(
            select(PaymentMethod)
            .where(col(PaymentMethod.organization_id) == charge.organization_id)
            .where(col(PaymentMethod.provider_ref) == charge.payment_method_ref)
        )
        if charge.payment_method_ref
        else None
    )
    period = charge.details or {}
    receipt = Receipt(
        organization_id=charge.organization_id,
        number=await next_number(session, charge.organization_id),
        charge_id=charge.id,
        purpose=charge.purpose,
        description=charge.description,
        amount_cents=charge.amount_cents,
        currency=charge.currency,
        period_start=_moment(period.get("period_start")),
        period_end=_moment(period.get("period_end")),
        card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None,
        organization_name=organization.name if organization else "",
        billing_address=(
            {f: getattr(account, f"address_{f}") for f in ADDRESS_FIELDS if getattr(account, f"address_{f}")}
            if account
            else {}
        ),
        provider_charge_ref=charge.provider_charge_ref,
        issued_at=charge.settled_at or clock.now(),
    )
    session.add(receipt)
    return receipt


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class ReceiptView:
    """A receipt with the labels its page and email show."""

    receipt: Receipt

    def __getattr__(self, name: str) -> Any:
        return getattr(self.receipt, name)

    @property
    def number_label(self) -> str:
        return f"{self.receipt.organization_id.removeprefix('org_')[:8].upper()}-{self.receipt.number:05d}"

    @property
    def amount_label(self) -> str:
        return f"${format_amount(self.receipt.amount_cents * NANOS_PER_CENT)} {self.receipt.currency.upper()}"

    @property
    def card_label(self) -> str:
        if not self.receipt.card_brand:
            return "the card on file"
        return f"{self.receipt.card_brand.title()} ending in {self.receipt.card_last4}"

    @property
    def address_lines(self) -> list[str]:
        address = self.receipt.billing_address
        city = " ".join(filter(None, [address.get("postal_code"), address.get("city")]))
        lines = [address.get("name"), address.get("line1"), address.get("line2"), city, address.get("state")]
        return [str(line) for line in [*lines, address.get("country")] if line]


async def list_receipts(
    session: AsyncSession,
    actor: Actor,
    organization_id: str,
    *,
    before: int | None = None,
    limit: int | None = None,
) -> list[Receipt]:
    """The organization's receipts, newest first, numbered below ``before`` (Org Admins: they see billing)."""
    await require_org_admin(session, actor, organization_id)
    query = select(Receipt).where(col(Receipt.organization_id) == organization_id)
    if before is not None:
        query = query.where(col(Receipt.number) < before)
    return list(await session.scalars(query.order_by(col(Receipt.number).desc()).limit(limit)))


async def get_receipt(session: AsyncSession, actor: Actor, receipt_id: str) -> Receipt:
    """One receipt, for an Org Admin of its organization; NotFound for anyone else."""
    receipt = await session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFound(RECEIPT_NOT_FOUND, field="receiptId")
    try:
        await require_org_admin(session, actor, receipt.organization_id)
    except NotFound:
        raise NotFound(RECEIPT_NOT_FOUND, field="receiptId") from None
    return receipt


async def email_receipts(db: Database, *, settings: Settings, limit: int = 100) -> int:
    """Queue each new receipt's email to the recipients who chose receipts; each receipt once."""
    async with db.reader() as session:
        due = list(
            await session.scalars(
                select(col(Receipt.id))
                .where(col(Receipt.emailed_at).is_(None))
                .order_by(col(Receipt.issued_at))
                .limit(limit)
            )
        )
    sent = 0
    for receipt_id in due:
        async with db.transaction() as session:
            claimed = await session.execute(
                update(Receipt)
                .where(col(Receipt.id) == receipt_id)
                .where(col(Receipt.emailed_at).is_(None))
                .values(emailed_at=clock.now())
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another replica took it
            receipt = await session.get(Receipt, receipt_id)
            assert receipt is not None
            await notify(
                session,
                receipt.organization_id,
                notice=Notice.RECEIPTS,
                template="receipt",
                receipt=ReceiptView(receipt),
                link=document_link(settings, "receipts", receipt.id),
                console_path="Billing > Receipts",
            )
            sent += 1
    return sent
