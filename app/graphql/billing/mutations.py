"""Setting up and removing payment methods, and the billing address."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.billing import address as addresses
from app.domain.billing import methods
from app.graphql.billing.types import BillingAddress, PaymentMethod
from app.graphql.context import Info
from app.graphql.errors import INPUT, PaymentError, mutation, result_union
from app.graphql.ids import node_id, org_id
from app.graphql.orgs.types import InOrganization


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


@strawberry.type(description="The card as it is now, and its organization (whose billing lists the cards).")
class PaymentMethodPayload(InOrganization):
    payment_method: PaymentMethod = strawberry.field(description="The card.")


@strawberry.type(description="The card is removed; the cards left on file, and their organization.")
class RemovePaymentMethodPayload(InOrganization):
    removed_payment_method_id: relay.GlobalID = strawberry.field(description="The card removed.")
    payment_methods: list[PaymentMethod] = strawberry.field(description="The cards left, the default first.")


@strawberry.type(description="The billing address as the provider now holds it, and its organization.")
class BillingAddressPayload(InOrganization):
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
            info.context.actor(),
            org_id(input.organization_id),
            payments=info.context.services.payments,
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
            info.context.actor(),
            org_id(input.organization_id),
            payments=info.context.services.payments,
            provider_ref=input.payment_method_ref,
            make_default=input.make_default,
        )
        return PaymentMethodPayload(
            organization_id=card.organization_id, payment_method=PaymentMethod.from_model(card)
        )

    @mutation("Remove a card; the newest other card becomes the default (Organization Admins).")
    async def remove_payment_method(
        self, info: Info, input: Annotated[PaymentMethodIdInput, INPUT]
    ) -> RemovePaymentMethodResult:
        organization_id = await methods.remove_payment_method(
            info.context.db,
            info.context.actor(),
            _card_id(input.payment_method_id),
            payments=info.context.services.payments,
        )
        left = await methods.payment_methods(await info.context.session(), organization_id)
        return RemovePaymentMethodPayload(
            organization_id=organization_id,
            removed_payment_method_id=input.payment_method_id,
            payment_methods=[PaymentMethod.from_model(c) for c in left],
        )

    @mutation("Make a card on file the one charges go to (Organization Admins).")
    async def set_default_payment_method(
        self, info: Info, input: Annotated[PaymentMethodIdInput, INPUT]
    ) -> SetDefaultPaymentMethodResult:
        card = await methods.set_default_payment_method(
            info.context.db,
            info.context.actor(),
            _card_id(input.payment_method_id),
            payments=info.context.services.payments,
        )
        return PaymentMethodPayload(
            organization_id=card.organization_id, payment_method=PaymentMethod.from_model(card)
        )

    @mutation(
        "Set the billing address; it is checked and sent to the payment provider (Organization Admins)."
    )
    async def set_billing_address(
        self, info: Info, input: Annotated[SetBillingAddressInput, INPUT]
    ) -> SetBillingAddressResult:
        organization_id = org_id(input.organization_id)
        account = await addresses.set_billing_address(
            info.context.db,
            info.context.actor(),
            organization_id,
            addresses.AddressInput(
                name=input.name,
                line1=input.line1,
                line2=input.line2,
                city=input.city,
                postal_code=input.postal_code,
                state=input.state,
                country=input.country,
            ),
            payments=info.context.services.payments,
        )
        address = BillingAddress.from_account(account)
        assert address is not None
        return BillingAddressPayload(organization_id=organization_id, billing_address=address)
