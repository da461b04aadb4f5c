"""What the console needs to show the payment provider's own card form."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.errors import UnauthenticatedError, field_with_errors


@strawberry.type(
    description="The payment provider's own UI for cards: the console loads it to collect and authenticate them."
)
class PaymentProvider:
    name: str = strawberry.field(description="The active payment provider, e.g. `stripe` or `fake`.")
    publishable_key: str = strawberry.field(
        description="The provider's public key for its UI (not a secret); empty when it has no UI for the console."
    )
    script_url: str | None = strawberry.field(
        description="Where the provider's UI script is loaded from (Stripe.js from js.stripe.com, never a copy; "
        "a path of this app for the fake provider's 3-D Secure dialog); null when the provider has no script."
    )


PaymentProviderResult = Annotated[
    PaymentProvider | UnauthenticatedError,
    strawberry.union(
        "PaymentProviderResult",
        description="The payment provider's UI, or UNAUTHENTICATED without a signed-in user.",
    ),
]


@strawberry.type
class BillingQueries:
    @field_with_errors(
        "The payment provider whose UI collects cards (`setUpPaymentMethod`) and authenticates payments "
        "(`PaymentAuthenticationRequired`); any signed-in user."
    )
    async def payment_provider(self, info: Info) -> PaymentProviderResult:
        info.context.actor()
        ui = info.context.services.payments.payment_ui
        return PaymentProvider(name=ui.provider, publishable_key=ui.publishable_key, script_url=ui.script_url)
