"""PayGo credits as the console shows them: balance, grants, ledger, auto-recharge and refund requests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app.domain.billing.models import Charge as ChargeModel
from app.domain.credits import queries
from app.domain.credits.models import (
    AttemptStatus,
    EntryKind,
    GrantSource,
    GrantState,
    RefundStatus,
)
from app.domain.credits.models import (
    AutoRechargeAttempt as AttemptModel,
)
from app.domain.credits.models import (
    CreditGrant as GrantModel,
)
from app.domain.credits.models import (
    CreditLedgerEntry as EntryModel,
)
from app.domain.credits.models import (
    RefundRequest as RefundModel,
)
from app.domain.errors import NotFound
from app.domain.orgs.access import require_org_admin
from app.graphql.billing.types import Charge
from app.graphql.context import Info
from app.graphql.errors import ForbiddenError, describe_enum
from app.graphql.money import Money
from app.graphql.paging import KeysetConnection, QueryPage
from app.graphql.visibility import visible_nodes

GrantSourceEnum = describe_enum(
    GrantSource,
    "Where credits came from.",
    PURCHASE="Bought by an Organization Admin.",
    AUTO_RECHARGE="Bought by auto-recharge when the balance fell below its threshold.",
    PROMOTIONAL="Given by platform staff; burned before paid credits.",
)
GrantStateEnum = describe_enum(
    GrantState,
    "Where a credit grant stands.",
    ACTIVE="Credits are left and usable.",
    DEPLETED="Used up (or refunded).",
    EXPIRED="Reached its expiry; what was left is gone.",
)
LedgerEntryKindEnum = describe_enum(
    EntryKind,
    "Why a balance changed.",
    PURCHASE="Credits bought.",
    AUTO_RECHARGE="Credits bought by auto-recharge.",
    PROMOTIONAL="Promotional credits given by staff.",
    USAGE="PayGo usage burned.",
    EXPIRY="Credits that expired unused.",
    SETTLEMENT="Usage beyond the credits (a negative balance) charged at the end of the month.",
    REFUND="Credits given back with a refund.",
)
AttemptStatusEnum = describe_enum(
    AttemptStatus,
    "How an auto-recharge attempt ended.",
    PENDING="The charge is with the payment provider.",
    SUCCEEDED="Charged; the credits were added.",
    FAILED="The charge failed; the admins were emailed. Three failures in a row switch auto-recharge off.",
    SKIPPED="Not charged: the monthly cap is reached. Auto-recharge resumes next month.",
)
RefundStatusEnum = describe_enum(
    RefundStatus,
    "Where a refund request stands.",
    REFUSED="Refused by the payment plugins' decision (the shipped policy: all purchases are final).",
    APPROVED="Approved; the credits were taken back and the provider's refund is under way.",
    REFUNDED="Refunded to the card.",
)


async def _org_admin_row(session: Any, actor: Any, model: Any, row_id: str) -> Any:
    row = await session.get(model, row_id)
    if row is None:
        raise NotFound("Nothing with this ID is visible to you.")
    await require_org_admin(session, actor, row.organization_id)
    return row


@strawberry.type(description="Credits granted at once: a purchase, an auto-recharge or a promotion.")
class CreditGrant(relay.Node):
    grant_id: relay.NodeID[str]
    charge_id: strawberry.Private[str | None]
    source: GrantSourceEnum = strawberry.field(description="Where the credits came from.")
    amount: Money = strawberry.field(description="The credits granted.")
    remaining: Money = strawberry.field(description="What is left of them.")
    state: GrantStateEnum = strawberry.field(description="Active, depleted or expired.")
    bought_at: datetime = strawberry.field(description="When they were bought or given (UTC).")
    expires_at: datetime = strawberry.field(
        description="When what is left expires (UTC): a year after purchase."
    )
    note: str | None = strawberry.field(description="Staff's note on a promotional grant.")

    @classmethod
    def from_model(cls, grant: GrantModel) -> CreditGrant:
        return cls(
            grant_id=grant.id,
            charge_id=grant.charge_id,
            source=grant.source,
            amount=Money.from_nanos(grant.amount_nanos),
            remaining=Money.from_nanos(grant.remaining_nanos),
            state=grant.state,
            bought_at=grant.bought_at,
            expires_at=grant.expires_at,
            note=grant.note,
        )

    @strawberry.field(description="The charge that paid for them; null for promotional credits.")
    async def charge(self, info: Info) -> Charge | None:
        if self.charge_id is None:
            return None
        charge = await (await info.context.session()).get(ChargeModel, self.charge_id)
        return Charge.from_model(charge) if charge else None

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, grant_id: str) -> CreditGrant:
            return cls.from_model(await _org_admin_row(session, actor, GrantModel, grant_id))

        return await visible_nodes(info, lookup, node_ids, required)


async def _grant(info: Info, grant_id: str) -> CreditGrant:
    assert info.context.loaders
    grant = await info.context.loaders.credit_grant.load(grant_id)
    assert grant is not None, "grants are never deleted"
    return CreditGrant.from_model(grant)


@strawberry.type(description="How much of one grant a debit used.")
class CreditConsumption:
    grant_id: strawberry.Private[str]
    amount: Money = strawberry.field(description="The credits taken from the grant.")

    @strawberry.field(description="The grant used.")
    async def grant(self, info: Info) -> CreditGrant:
        return await _grant(info, self.grant_id)


@strawberry.type(description="One change of the balance in the append-only ledger; the balance is their sum.")
class CreditLedgerEntry(relay.Node):
    entry_id: relay.NodeID[str]
    grant_id: strawberry.Private[str | None]
    kind: LedgerEntryKindEnum = strawberry.field(description="Why the balance changed.")
    amount: Money = strawberry.field(description="The change: positive adds credits, negative takes them.")
    balance_after: Money = strawberry.field(description="The balance right after this entry.")
    uncovered: Money = strawberry.field(
        description="For USAGE: the part no credits covered, which became a debt (charged at month end)."
    )
    reference: str = strawberry.field(description="What caused it: a usage batch, a charge's key, a grant.")
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")

    @classmethod
    def from_model(cls, entry: EntryModel) -> CreditLedgerEntry:
        return cls(
            entry_id=entry.id,
            grant_id=entry.grant_id,
            kind=entry.kind,
            amount=Money.from_nanos(entry.amount_nanos),
            balance_after=Money.from_nanos(entry.balance_after_nanos),
            uncovered=Money.from_nanos(entry.uncovered_nanos),
            reference=entry.reference,
            created_at=entry.created_at,
        )

    @strawberry.field(
        description="The grant this entry added, expired or refunded; null for usage and settlements."
    )
    async def grant(self, info: Info) -> CreditGrant | None:
        return None if self.grant_id is None else await _grant(info, self.grant_id)

    @strawberry.field(description="For USAGE: which grants it consumed, and how much of each.")
    async def consumptions(self, info: Info) -> list[CreditConsumption]:
        assert info.context.loaders
        rows = await info.context.loaders.consumptions_by_entry.load(self.entry_id)
        return [CreditConsumption(grant_id=r.grant_id, amount=Money.from_nanos(r.amount_nanos)) for r in rows]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, entry_id: str) -> CreditLedgerEntry:
            return cls.from_model(await _org_admin_row(session, actor, EntryModel, entry_id))

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="One auto-recharge: what it charged, or why it did not.")
class AutoRechargeAttempt:
    attempt_number: int = strawberry.field(description="The organization's attempts, counted from 1.")
    status: AttemptStatusEnum = strawberry.field(description="How it ended.")
    amount: Money = strawberry.field(description="What it charged (or tried to).")
    balance_before: Money = strawberry.field(description="The balance that started it.")
    message: str | None = strawberry.field(description="Why it failed or was skipped.")
    decline_code: str | None = strawberry.field(description="The provider's decline reason, when given.")
    created_at: datetime = strawberry.field(description="When it started (UTC).")
    settled_at: datetime | None = strawberry.field(description="When it ended (UTC).")

    @classmethod
    def from_model(cls, attempt: AttemptModel) -> AutoRechargeAttempt:
        return cls(
            attempt_number=attempt.attempt_no,
            status=attempt.status,
            amount=Money.from_nanos(attempt.amount_nanos),
            balance_before=Money.from_nanos(attempt.balance_before_nanos),
            message=attempt.message,
            decline_code=attempt.decline_code,
            created_at=attempt.created_at,
            settled_at=attempt.settled_at,
        )


@strawberry.type(description="Auto-recharge settings: off by default.")
class AutoRecharge:
    enabled: bool = strawberry.field(description="Whether auto-recharge is on.")
    threshold: Money = strawberry.field(description="A balance below this starts a recharge.")
    recharge_to: Money = strawberry.field(description="A recharge brings the balance back up to this.")
    monthly_cap: Money | None = strawberry.field(
        description="The most auto-recharge may charge a month; null: none."
    )
    spent_this_month: Money = strawberry.field(
        description="What auto-recharge charged this calendar month (UTC)."
    )
    consecutive_failures: int = strawberry.field(
        description="Failed recharges in a row; three switch it off."
    )
    paused_until: datetime | None = strawberry.field(
        description="No recharge before this (after a failure, or until next month when the cap is reached)."
    )


@strawberry.type(description="A refund request and the payment plugins' decision.")
class RefundRequest:
    grant_id: strawberry.Private[str]
    amount_requested: Money = strawberry.field(description="The credits asked back.")
    amount_refunded: Money = strawberry.field(description="The credits taken back for the refund.")
    reason: str = strawberry.field(description="The customer's reason.")
    status: RefundStatusEnum = strawberry.field(description="Refused, approved or refunded.")
    decision: str = strawberry.field(description="The decision's reason, e.g. `All purchases are final`.")
    created_at: datetime = strawberry.field(description="When it was asked (UTC).")

    @classmethod
    def from_model(cls, request: RefundModel) -> RefundRequest:
        return cls(
            grant_id=request.grant_id,
            amount_requested=Money.from_nanos(request.amount_nanos),
            amount_refunded=Money.from_nanos(request.refunded_nanos),
            reason=request.reason,
            status=request.status,
            decision=request.decision_reason,
            created_at=request.created_at,
        )

    @strawberry.field(description="The purchase it is about.")
    async def grant(self, info: Info) -> CreditGrant:
        return await _grant(info, self.grant_id)


@strawberry.type(description="An organization's PayGo credits; Organization Admins only.")
class Credits:
    organization_id: strawberry.Private[str]
    summary: strawberry.Private[queries.CreditSummary]

    @strawberry.field(description="The credit balance; negative when usage went beyond it (a debt).")
    def balance(self) -> Money:
        return Money.from_nanos(self.summary.balance_nanos)

    @strawberry.field(description="Usage beyond the credits not yet paid: charged after the month ends.")
    def debt(self) -> Money:
        return Money.from_nanos(self.summary.debt_nanos)

    @strawberry.field(description="The auto-recharge settings.")
    def auto_recharge(self) -> AutoRecharge:
        s = self.summary
        cap = s.auto_recharge_monthly_cap_nanos
        return AutoRecharge(
            enabled=s.auto_recharge_enabled,
            threshold=Money.from_nanos(s.auto_recharge_threshold_nanos),
            recharge_to=Money.from_nanos(s.auto_recharge_to_nanos),
            monthly_cap=None if cap is None else Money.from_nanos(cap),
            spent_this_month=Money.from_nanos(s.auto_recharge_spent_this_month_nanos),
            consecutive_failures=s.auto_recharge_failures,
            paused_until=s.auto_recharge_paused_until,
        )

    @relay.connection(KeysetConnection[CreditGrant], description="The full grant history, newest first.")
    def grants(
        self,
        info: Info,
        state: Annotated[
            GrantStateEnum | None,
            strawberry.argument(description="Only the grants in this state; null: all."),
        ] = None,
    ) -> Iterable[CreditGrant]:
        query = queries.grants(self.organization_id, None if state is None else GrantState(state))
        return QueryPage(info, query, CreditGrant.from_model)  # type: ignore[return-value]

    @relay.connection(KeysetConnection[CreditLedgerEntry], description="The ledger, newest first.")
    def ledger(
        self,
        info: Info,
        kind: Annotated[
            LedgerEntryKindEnum | None,
            strawberry.argument(description="Only the entries of this kind; null: all."),
        ] = None,
    ) -> Iterable[CreditLedgerEntry]:
        query = queries.ledger(self.organization_id, None if kind is None else EntryKind(kind))
        return QueryPage(info, query, CreditLedgerEntry.from_model)  # type: ignore[return-value]

    # attempts and refund requests need no global ID: plain objects on the connection's edges
    @relay.connection(
        KeysetConnection[AutoRechargeAttempt],  # type: ignore[type-var]
        description="Auto-recharge attempts, newest first.",
    )
    def auto_recharge_attempts(self, info: Info) -> Iterable[AutoRechargeAttempt]:
        query = queries.auto_recharge_attempts(self.organization_id)
        return QueryPage(info, query, AutoRechargeAttempt.from_model)  # type: ignore[return-value]

    @relay.connection(KeysetConnection[RefundRequest], description="Refund requests, newest first.")  # type: ignore[type-var]
    def refund_requests(self, info: Info) -> Iterable[RefundRequest]:
        return QueryPage(info, queries.refund_requests(self.organization_id), RefundRequest.from_model)  # type: ignore[return-value]


async def load_credits(info: Info, organization_id: str) -> Credits:
    """The organization's credits object (the caller checked the viewer is an Org Admin)."""
    summary = await queries.credit_summary(await info.context.session(), organization_id)
    return Credits(organization_id=organization_id, summary=summary)


CreditsResult = Annotated[
    Credits | ForbiddenError,
    strawberry.union(
        "CreditsResult", description="PayGo credits, or FORBIDDEN for anyone but an Organization Admin."
    ),
]
