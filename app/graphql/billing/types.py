"""Payment methods, charges, the billing address and billing history."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app.domain.billing import methods
from app.domain.billing.models import BillingAccount, ChargePurpose, ChargeStatus
from app.domain.billing.models import Charge as ChargeModel
from app.domain.billing.models import PaymentMethod as PaymentMethodModel
from app.domain.errors import NotFound
from app.domain.money import cents_to_nanos
from app.domain.orgs.access import require_org_admin
from app.graphql.context import Info
from app.graphql.errors import ForbiddenError, describe_enum
from app.graphql.money import Money
from app.graphql.paging import KeysetConnection, QueryPage
from app.graphql.visibility import visible_nodes

ChargePurposeEnum = describe_enum(
    ChargePurpose,
    "What a charge paid for.",
    PURCHASE="Credits bought by an Organization Admin.",
    AUTO_RECHARGE="Credits bought by auto-recharge when the balance fell below its threshold.",
    SETTLEMENT="Usage beyond the credits (a negative balance), charged after the month ended.",
    SUBSCRIPTION="A subscription's monthly fee.",
)

ChargeStatusEnum = describe_enum(
    ChargeStatus,
    "How a charge ended.",
    PENDING="Sent to the payment provider, outcome not known yet; it is settled shortly, never charged twice.",
    PROCESSING="Accepted by the payment provider, which tells the outcome shortly; nothing is granted until then.",
    SUCCEEDED="The money was taken.",
    DECLINED="The provider declined the card; nothing was taken.",
    REQUIRES_ACTION="The card needs the cardholder's authentication (3-D Secure); nothing was taken yet. The "
    "charge completes once it is authenticated (`completePayment`, or the provider's own report); one never "
    "authenticated is given up (FAILED) after its time limit.",
    FAILED="The charge could not be made (e.g. no payment method); nothing was taken.",
)


@strawberry.type(
    description="A card on file: only the provider's reference, brand, last four digits and expiry."
)
class PaymentMethod(relay.Node):
    payment_method_id: relay.NodeID[str]
    brand: str = strawberry.field(description="The card's brand, e.g. `visa`.")
    last4: str = strawberry.field(description="The last four digits of the card number.")
    exp_month: int = strawberry.field(description="Expiry month (1-12).")
    exp_year: int = strawberry.field(description="Expiry year, four digits.")
    is_default: bool = strawberry.field(description="Whether charges go to this card.")
    created_at: datetime = strawberry.field(description="When the card was added (UTC).")

    @classmethod
    def from_model(cls, card: PaymentMethodModel) -> PaymentMethod:
        return cls(
            payment_method_id=card.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            is_default=card.is_default,
            created_at=card.created_at,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, card_id: str) -> PaymentMethod:
            return cls.from_model(await methods.get_payment_method(session, actor, card_id))

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="One charge of the organization's payment method: its billing history.")
class Charge(relay.Node):
    charge_id: relay.NodeID[str]
    purpose: ChargePurposeEnum = strawberry.field(description="What the charge paid for.")
    amount: Money = strawberry.field(description="The amount charged.")
    status: ChargeStatusEnum = strawberry.field(description="How the charge ended.")
    description: str = strawberry.field(description="What the statement says.")
    decline_code: str | None = strawberry.field(
        description="The provider's reason for a decline, when given."
    )
    message: str | None = strawberry.field(
        description="The provider's message about the outcome, when given."
    )
    created_at: datetime = strawberry.field(description="When the charge was made (UTC).")
    settled_at: datetime | None = strawberry.field(description="When its outcome was known (UTC).")

    @classmethod
    def from_model(cls, charge: ChargeModel) -> Charge:
        return cls(
            charge_id=charge.id,
            purpose=charge.purpose,
            amount=Money.from_nanos(cents_to_nanos(charge.amount_cents)),
            status=charge.status,
            description=charge.description,
            decline_code=charge.decline_code,
            message=charge.message,
            created_at=charge.created_at,
            settled_at=charge.settled_at,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, charge_id: str) -> Charge:
            charge = await session.get(ChargeModel, charge_id)
            if charge is None:
                raise NotFound("No charge with this ID.")
            await require_org_admin(session, actor, charge.organization_id)
            return cls.from_model(charge)

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="The billing address, as sent to the payment provider.")
class BillingAddress:
    name: str = strawberry.field(description="Who is billed: a company or a person.")
    line1: str = strawberry.field(description="Street address.")
    line2: str = strawberry.field(description="Apartment, suite, floor (may be empty).")
    city: str = strawberry.field(description="City.")
    postal_code: str = strawberry.field(description="Postal or ZIP code (may be empty where none exist).")
    state: str = strawberry.field(
        description="State, province or region (a code where the country has them)."
    )
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code, e.g. `US`.")

    @classmethod
    def from_account(cls, account: BillingAccount | None) -> BillingAddress | None:
        if account is None or account.address_country is None:
            return None
        return cls(
            name=account.address_name or "",
            line1=account.address_line1 or "",
            line2=account.address_line2 or "",
            city=account.address_city or "",
            postal_code=account.address_postal_code or "",
            state=account.address_state or "",
            country=account.address_country,
        )


@strawberry.type(
    description="Payment methods, billing address and billing history; Organization Admins only."
)
class Billing:
    organization_id: strawberry.Private[str]

    @strawberry.field(description="The cards on file, the default first.")
    async def payment_methods(self, info: Info) -> list[PaymentMethod]:
        session = await info.context.session()
        return [
            PaymentMethod.from_model(c) for c in await methods.payment_methods(session, self.organization_id)
        ]

    @strawberry.field(description="The billing address; null until one is set.")
    async def billing_address(self, info: Info) -> BillingAddress | None:
        session = await info.context.session()
        return BillingAddress.from_account(await session.get(BillingAccount, self.organization_id))

    @relay.connection(KeysetConnection[Charge], description="Every charge, newest first.")
    def charges(self, info: Info) -> Iterable[Charge]:
        return QueryPage(info, methods.billing_history(self.organization_id), Charge.from_model)  # type: ignore[return-value]


BillingResult = Annotated[
    Billing | ForbiddenError,
    strawberry.union(
        "BillingResult", description="Billing, or FORBIDDEN for anyone but an Organization Admin."
    ),
]
