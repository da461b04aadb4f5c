"""Buying credits, auto-recharge, refund requests and promotional grants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.credits import auto_recharge, purchases, refunds
from app.graphql.billing.types import Charge
from app.graphql.context import Info
from app.graphql.credits.types import AutoRechargeAttempt, CreditGrant, Credits, RefundRequest, load_credits
from app.graphql.errors import INPUT, PaymentAuthenticationRequired, PaymentError, mutation, result_union
from app.graphql.ids import node_id, org_id
from app.graphql.money import Money
from app.graphql.orgs.types import InOrganization


@strawberry.input(description="Auto-recharge settings; amounts are decimal strings of whole cents, in USD.")
class AutoRechargeInput:
    threshold: str = strawberry.field(description="A balance below this starts a recharge, e.g. `10`.")
    recharge_to: str = strawberry.field(
        description="The balance a recharge brings back; above the threshold."
    )
    monthly_cap: str | None = strawberry.field(
        default=None, description="The most auto-recharge may charge a calendar month; null: no cap."
    )


@strawberry.input(description="Credits to buy with the organization's default card.")
class AddCreditsInput:
    organization_id: relay.GlobalID = strawberry.field(description="The Team organization.")
    amount: str = strawberry.field(description="USD, whole cents, e.g. `25` or `25.50`; $10 to $10,000.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The console's key for this click (8 to 100 of `A-Za-z0-9_.:-`, a UUID will do): "
        "a retry with the same key never charges twice.",
    )
    auto_recharge: AutoRechargeInput | None = strawberry.field(
        default=None, description="Also enable auto-recharge with these settings once the purchase succeeded."
    )


@strawberry.input(description="A payment the cardholder has authenticated in the provider's UI.")
class CompletePaymentInput:
    charge_id: relay.GlobalID = strawberry.field(
        description="The Charge ID that `PaymentAuthenticationRequired.chargeId` gave."
    )


@strawberry.input(description="Enable or change auto-recharge.")
class ConfigureAutoRechargeInput(AutoRechargeInput):
    organization_id: relay.GlobalID = strawberry.field(description="The Team organization.")


@strawberry.input(description="The organization whose auto-recharge stops.")
class DisableAutoRechargeInput:
    organization_id: relay.GlobalID = strawberry.field(description="The Team organization.")


@strawberry.input(description="A refund request for purchased credits.")
class RequestRefundInput:
    grant_id: relay.GlobalID = strawberry.field(description="The purchase (a CreditGrant ID).")
    reason: str = strawberry.field(description="Why the refund is asked (1 to 500 characters).")
    amount: str | None = strawberry.field(
        default=None, description="USD, whole cents; null: everything left of the purchase."
    )


@strawberry.input(description="Staff only: promotional credits with their own expiry.")
class GrantPromotionalCreditsInput:
    organization_id: relay.GlobalID = strawberry.field(description="The Team organization.")
    amount: str = strawberry.field(description="USD, whole cents, e.g. `50`.")
    expires_at: datetime = strawberry.field(
        description="When what is left expires (ISO 8601; within 5 years)."
    )
    note: str = strawberry.field(
        description="Why they are given, shown with the grant (1 to 200 characters)."
    )


@strawberry.type(description="The credits bought.")
class AddCreditsPayload(InOrganization):
    grant: CreditGrant = strawberry.field(description="The new credit grant.")
    charge: Charge = strawberry.field(description="The charge that paid for it.")
    balance: Money = strawberry.field(description="The balance after the purchase.")
    auto_recharge_attempt: AutoRechargeAttempt | None = strawberry.field(
        description="The recharge that enabling auto-recharge made at once, if the balance was below the threshold."
    )

    @strawberry.field(description="The organization's credits as they are now.")
    async def credits(self, info: Info) -> Credits:
        return await load_credits(info, self.organization_id)


@strawberry.type(description="The payment, completed after the cardholder authenticated it.")
class CompletePaymentPayload(InOrganization):
    charge: Charge = strawberry.field(description="The payment, succeeded.")
    grant: CreditGrant | None = strawberry.field(
        description="The credits it bought; null for a payment that bought none (a month's usage beyond credits)."
    )
    balance: Money = strawberry.field(description="The balance now.")

    @strawberry.field(description="The organization's credits as they are now.")
    async def credits(self, info: Info) -> Credits:
        return await load_credits(info, self.organization_id)


@strawberry.type(description="Auto-recharge as it is now.")
class AutoRechargePayload(InOrganization):
    recharge: AutoRechargeAttempt | None = strawberry.field(
        description="The recharge made at once (enabled below the threshold); null when none was due."
    )

    @strawberry.field(description="The organization's credits, with the auto-recharge settings.")
    async def credits(self, info: Info) -> Credits:
        return await load_credits(info, self.organization_id)


@strawberry.type(description="The refund request, approved by a partner's policy.")
class RefundPayload(InOrganization):
    refund_request: RefundRequest = strawberry.field(description="The request and its decision.")


@strawberry.type(description="The promotional credits granted.")
class GrantPromotionalCreditsPayload(InOrganization):
    grant: CreditGrant = strawberry.field(description="The new grant.")


AddCreditsResult = result_union(
    "AddCreditsResult", AddCreditsPayload, PaymentError, PaymentAuthenticationRequired
)
CompletePaymentResult = result_union(
    "CompletePaymentResult", CompletePaymentPayload, PaymentError, PaymentAuthenticationRequired
)
ConfigureAutoRechargeResult = result_union("ConfigureAutoRechargeResult", AutoRechargePayload, PaymentError)
DisableAutoRechargeResult = result_union("DisableAutoRechargeResult", AutoRechargePayload)
RequestRefundResult = result_union("RequestRefundResult", RefundPayload, PaymentError)
GrantPromotionalCreditsResult = result_union("GrantPromotionalCreditsResult", GrantPromotionalCreditsPayload)


def _config(info: Info, value: AutoRechargeInput) -> auto_recharge.AutoRechargeConfig:
    return auto_recharge.auto_recharge_config(
        threshold=value.threshold,
        recharge_to=value.recharge_to,
        monthly_cap=value.monthly_cap,
        settings=info.context.settings,
    )


@strawberry.type
class CreditMutations:
    @mutation(
        "Buy credits with the default card (Organization Admins of Team organizations). Only a successful "
        "charge grants them; a decline is a PaymentError and changes nothing."
    )
    async def add_credits(self, info: Info, input: Annotated[AddCreditsInput, INPUT]) -> AddCreditsResult:
        organization_id = org_id(input.organization_id)
        purchase = await purchases.add_credits(
            info.context.db,
            info.context.actor(),
            organization_id,
            payments=info.context.services.payments,
            amount=input.amount,
            idempotency_key=input.idempotency_key,
            settings=info.context.settings,
            auto_recharge=_config(info, input.auto_recharge) if input.auto_recharge else None,
        )
        return AddCreditsPayload(
            organization_id=organization_id,
            grant=CreditGrant.from_model(purchase.grant),
            charge=Charge.from_model(purchase.charge),
            balance=Money.from_nanos(purchase.balance_nanos),
            auto_recharge_attempt=AutoRechargeAttempt.from_model(purchase.recharge)
            if purchase.recharge
            else None,
        )

    @mutation(
        "Complete a payment the cardholder has authenticated (3-D Secure: a purchase, an auto-recharge, a "
        "month's settlement, a subscription's charge; Organization Admins): it is read again at the provider "
        "and applied once, "
        "whether this or the provider's own report comes first. Still waiting for the cardholder: "
        "PaymentAuthenticationRequired again."
    )
    async def complete_payment(
        self, info: Info, input: Annotated[CompletePaymentInput, INPUT]
    ) -> CompletePaymentResult:
        completed = await purchases.complete_purchase(
            info.context.db,
            info.context.actor(),
            node_id(input.charge_id, "Charge", "chargeId"),
            payments=info.context.services.payments,
        )
        return CompletePaymentPayload(
            organization_id=completed.charge.organization_id,
            charge=Charge.from_model(completed.charge),
            grant=CreditGrant.from_model(completed.grant) if completed.grant else None,
            balance=Money.from_nanos(completed.balance_nanos),
        )

    @mutation(
        "Enable or change auto-recharge (Organization Admins of Team organizations). Below the threshold "
        "already, it recharges at once."
    )
    async def configure_auto_recharge(
        self, info: Info, input: Annotated[ConfigureAutoRechargeInput, INPUT]
    ) -> ConfigureAutoRechargeResult:
        organization_id = org_id(input.organization_id)
        attempt = await auto_recharge.configure_auto_recharge(
            info.context.db,
            info.context.actor(),
            organization_id,
            _config(info, input),
            payments=info.context.services.payments,
            settings=info.context.settings,
        )
        return AutoRechargePayload(
            organization_id=organization_id,
            recharge=AutoRechargeAttempt.from_model(attempt) if attempt else None,
        )

    @mutation("Switch auto-recharge off (Organization Admins of Team organizations).")
    async def disable_auto_recharge(
        self, info: Info, input: Annotated[DisableAutoRechargeInput, INPUT]
    ) -> DisableAutoRechargeResult:
        organization_id = org_id(input.organization_id)
        async with info.context.transaction() as session:
            await auto_recharge.disable_auto_recharge(session, info.context.actor(), organization_id)
        return AutoRechargePayload(organization_id=organization_id, recharge=None)

    @mutation(
        "Ask for a purchase's credits back (Organization Admins). The payment plugins decide; the shipped "
        "policy refuses (REFUND_REFUSED: all purchases are final). Every request is recorded."
    )
    async def request_refund(
        self, info: Info, input: Annotated[RequestRefundInput, INPUT]
    ) -> RequestRefundResult:
        request = await refunds.request_refund(
            info.context.db,
            info.context.actor(),
            node_id(input.grant_id, "CreditGrant", "grantId"),
            payments=info.context.services.payments,
            reason=input.reason,
            amount=input.amount,
        )
        return RefundPayload(
            organization_id=request.organization_id, refund_request=RefundRequest.from_model(request)
        )

    @mutation("Give promotional credits with their own expiry (platform staff only).")
    async def grant_promotional_credits(
        self, info: Info, input: Annotated[GrantPromotionalCreditsInput, INPUT]
    ) -> GrantPromotionalCreditsResult:
        async with info.context.transaction() as session:
            grant = await purchases.grant_promotional_credits(
                session,
                info.context.actor(),
                org_id(input.organization_id),
                amount=input.amount,
                expires_at=input.expires_at,
                note=input.note,
                settings=info.context.settings,
            )
        return GrantPromotionalCreditsPayload(
            organization_id=grant.organization_id, grant=CreditGrant.from_model(grant)
        )
