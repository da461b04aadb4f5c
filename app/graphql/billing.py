"""Payment methods, billing address and billing history (Org Admins, Team and Personal organizations)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app.domain.billing import address as addresses
from app.domain.billing import methods
from app.domain.billing.models import BillingAccount, ChargePurpose, ChargeStatus
from app.domain.billing.models import Charge as ChargeModel
from app.domain.billing.models import PaymentMethod as PaymentMethodModel
from app.domain.errors import NotFound
from app.domain.money import cents_to_nanos
from app.domain.orgs.access import require_org_admin
from app.graphql.context import Info
from app.graphql.errors import INPUT, ForbiddenError, PaymentError, describe_enum, mutation, result_union
from app.graphql.ids import node_id
from app.graphql.money import Money
from app.graphql.paging import QueryPage
from app.graphql.types import _visible

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
    REQUIRES_ACTION="The card needs the cardholder's authentication (3-D Secure); nothing was taken. A purchase, "
    "auto-recharge or settlement completes once it is authenticated (`completePayment`); a subscription "
    "charge has failed (its renewal is retried).",
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

        return await _visible(info, lookup, node_ids, required)


@strawberry.type(description="One charge of the organization's payment method: its billing history.")
class Charge(relay.Node):
    charge_id: relay.NodeID[str]
    purpose: ChargePurposeEnum = strawberry.field(description="What the charge paid for.")  # type: ignore[valid-type]
    amount: Money = strawberry.field(description="The amount charged.")
    status: ChargeStatusEnum = strawberry.field(description="How the charge ended.")  # type: ignore[valid-type]
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

        return await _visible(info, lookup, node_ids, required)


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

    @relay.connection(relay.ListConnection[Charge], description="Every charge, newest first.")
    def charges(self, info: Info) -> Iterable[Charge]:
        return QueryPage(info, methods.billing_history(self.organization_id), Charge.from_model)  # type: ignore[return-value]


BillingResult = Annotated[
    Billing | ForbiddenError,
    strawberry.union(
        "BillingResult", description="Billing, or FORBIDDEN for anyone but an Organization Admin."
    ),
]


@strawberry.input(description="The organization that adds a card.")
class SetUpPaymentMethodInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.input(description="A card collected by the provider's UI, to keep on file.")
class AttachPaymentMethodInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    payment_method_ref: str = strawberry.field(
        description="The provider's reference of the collected card (e.g. `pm_…` from the set-up's confirmation)."
    )
    make_default: bool = strawberry.field(
        default=True, description="Charge this card from now on (the first card is always the default)."
    )


@strawberry.input(description="A card on file.")
class PaymentMethodIdInput:
    payment_method_id: relay.GlobalID = strawberry.field(description="The card (a PaymentMethod ID).")


@strawberry.input(description="The billing address sent to the payment provider and shown on receipts.")
class SetBillingAddressInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    name: str = strawberry.field(description="Who is billed (1 to 200 characters).")
    line1: str = strawberry.field(description="Street address (1 to 200 characters).")
    line2: str = strawberry.field(default="", description="Apartment, suite, floor (optional).")
    city: str = strawberry.field(description="City (1 to 100 characters).")
    postal_code: str = strawberry.field(
        default="", description="Postal or ZIP code; required in the US and Canada."
    )
    state: str = strawberry.field(
        default="", description="State or province; required in the US, Canada and Australia (code or name)."
    )
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code, e.g. `US` or `DE`.")


@strawberry.type(description="What the console hands to the provider's UI to collect a card.")
class PaymentMethodSetupPayload:
    client_secret: str = strawberry.field(
        description="The set-up's client secret, for the provider's UI only."
    )
    publishable_key: str = strawberry.field(description="The provider's public key for its UI.")
    provider: str = strawberry.field(description="The payment provider's name, e.g. `stripe`.")
    setup_ref: str = strawberry.field(description="The provider's reference of the set-up.")


@strawberry.type(description="The card as it is now.")
class PaymentMethodPayload:
    payment_method: PaymentMethod = strawberry.field(description="The card.")


@strawberry.type(description="The card is removed; the cards left on file.")
class RemovePaymentMethodPayload:
    removed_payment_method_id: relay.GlobalID = strawberry.field(description="The card removed.")
    payment_methods: list[PaymentMethod] = strawberry.field(description="The cards left, the default first.")


@strawberry.type(description="The billing address as the provider now holds it.")
class BillingAddressPayload:
    billing_address: BillingAddress = strawberry.field(description="The address.")


SetUpPaymentMethodResult = result_union("SetUpPaymentMethodResult", PaymentMethodSetupPayload, PaymentError)
AttachPaymentMethodResult = result_union("AttachPaymentMethodResult", PaymentMethodPayload, PaymentError)
RemovePaymentMethodResult = result_union(
    "RemovePaymentMethodResult", RemovePaymentMethodPayload, PaymentError
)
SetDefaultPaymentMethodResult = result_union(
    "SetDefaultPaymentMethodResult", PaymentMethodPayload, PaymentError
)
SetBillingAddressResult = result_union("SetBillingAddressResult", BillingAddressPayload, PaymentError)


def org_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "Organization", "organizationId")


def _card_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "PaymentMethod", "paymentMethodId")


@strawberry.type
class BillingMutations:
    @mutation(
        "Start adding a card: returns what the provider's UI needs to collect it (Organization Admins)."
    )
    async def set_up_payment_method(
        self, info: Info, input: Annotated[SetUpPaymentMethodInput, INPUT]
    ) -> SetUpPaymentMethodResult:
        setup = await methods.set_up_payment_method(
            info.context.db,
            info.context.services.payments,
            info.context.actor(),
            org_id(input.organization_id),
        )
        return PaymentMethodSetupPayload(
            client_secret=setup.client_secret,
            publishable_key=setup.publishable_key,
            provider=setup.provider,
            setup_ref=setup.setup_ref,
        )

    @mutation("Keep a card collected by the provider's UI on file (Organization Admins).")
    async def attach_payment_method(
        self, info: Info, input: Annotated[AttachPaymentMethodInput, INPUT]
    ) -> AttachPaymentMethodResult:
        card = await methods.add_payment_method(
            info.context.db,
            info.context.services.payments,
            info.context.actor(),
            org_id(input.organization_id),
            provider_ref=input.payment_method_ref,
            make_default=input.make_default,
        )
        await info.context.end_read()
        return PaymentMethodPayload(payment_method=PaymentMethod.from_model(card))

    @mutation("Remove a card; the newest other card becomes the default (Organization Admins).")
    async def remove_payment_method(
        self, info: Info, input: Annotated[PaymentMethodIdInput, INPUT]
    ) -> RemovePaymentMethodResult:
        organization_id = await methods.remove_payment_method(
            info.context.db,
            info.context.services.payments,
            info.context.actor(),
            _card_id(input.payment_method_id),
        )
        await info.context.end_read()
        left = await methods.payment_methods(await info.context.session(), organization_id)
        return RemovePaymentMethodPayload(
            removed_payment_method_id=input.payment_method_id,
            payment_methods=[PaymentMethod.from_model(c) for c in left],
        )

    @mutation("Make a card on file the one charges go to (Organization Admins).")
    async def set_default_payment_method(
        self, info: Info, input: Annotated[PaymentMethodIdInput, INPUT]
    ) -> SetDefaultPaymentMethodResult:
        card = await methods.set_default_payment_method(
            info.context.db,
            info.context.services.payments,
            info.context.actor(),
            _card_id(input.payment_method_id),
        )
        await info.context.end_read()
        return PaymentMethodPayload(payment_method=PaymentMethod.from_model(card))

    @mutation(
        "Set the billing address; it is checked and sent to the payment provider (Organization Admins)."
    )
    async def set_billing_address(
        self, info: Info, input: Annotated[SetBillingAddressInput, INPUT]
    ) -> SetBillingAddressResult:
        account = await addresses.set_billing_address(
            info.context.db,
            info.context.services.payments,
            info.context.actor(),
            org_id(input.organization_id),
            addresses.AddressInput(
                name=input.name,
                line1=input.line1,
                line2=input.line2,
                city=input.city,
                postal_code=input.postal_code,
                state=input.state,
                country=input.country,
            ),
        )
        await info.context.end_read()
        address = BillingAddress.from_account(account)
        assert address is not None
        return BillingAddressPayload(billing_address=address)
