"""The ledger's invariants, checked from what is stored: each problem found names its organization.

Every balance equals the sum of its entries and the active grants less the debt; every grant's
remainder equals its amount less what consumptions, expiries and refunds took; every succeeded
purchase or auto-recharge charge has exactly its grant, every paid settlement its entry, and
nothing is granted without a charge (promotional grants aside). Run by `python -m app.cli
check-ledger` and by the tests after every money flow.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from app.db import Database
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.models import (
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantSource,
    GrantState,
)
from app.domain.money import NANOS_PER_CENT


class _Problems(list[str]):
    def add(self, organization_id: str, text: str) -> None:
        self.append(f"organization {organization_id}: {text}")


async def audit_ledger(db: Database) -> list[str]:
    """What is wrong with the stored ledger (empty: every invariant holds)."""
    async with db.reader() as session:
        accounts = list(await session.scalars(select(CreditAccount)))
        entries = list(await session.scalars(select(CreditLedgerEntry)))
        grants = list(await session.scalars(select(CreditGrant)))
        uses = list(await session.scalars(select(CreditConsumption)))
        charges = list(await session.scalars(select(Charge)))
    problems = _Problems()
    ledger_sum: dict[str, int] = defaultdict(int)
    debt_made: dict[str, int] = defaultdict(int)
    taken: dict[str, int] = defaultdict(int)
    settled_by_charge: dict[str, int] = defaultdict(int)
    for entry in entries:
        org = entry.organization_id
        ledger_sum[org] += entry.amount_nanos
        if entry.kind is EntryKind.USAGE:
            if not (entry.amount_nanos <= 0 and 0 <= entry.uncovered_nanos <= -entry.amount_nanos):
                problems.add(
                    org,
                    f"usage entry {entry.id} has amount {entry.amount_nanos}, uncovered {entry.uncovered_nanos}",
                )
            debt_made[org] += entry.uncovered_nanos
        if entry.kind in (EntryKind.EXPIRY, EntryKind.REFUND):
            if not (entry.grant_id and entry.amount_nanos < 0):
                problems.add(
                    org,
                    f"{entry.kind.value.lower()} entry {entry.id} takes {entry.amount_nanos} from grant {entry.grant_id}",
                )
            taken[entry.grant_id or ""] -= entry.amount_nanos
        if entry.kind is EntryKind.SETTLEMENT:
            if not (entry.charge_id and entry.amount_nanos > 0):
                problems.add(
                    org, f"settlement entry {entry.id} of {entry.amount_nanos} from charge {entry.charge_id}"
                )
            debt_made[org] -= entry.amount_nanos
            settled_by_charge[entry.charge_id or ""] += 1
    consumed: dict[str, int] = defaultdict(int)
    for use in uses:
        if use.amount_nanos <= 0:
            problems.add(use.organization_id, f"consumption {use.id} of {use.amount_nanos}")
        consumed[use.grant_id] += use.amount_nanos
        if use.entry_id is None:
            debt_made[use.organization_id] -= use.amount_nanos
    active: dict[str, int] = defaultdict(int)
    for grant in grants:
        org, remaining = grant.organization_id, grant.remaining_nanos
        expected = grant.amount_nanos - consumed[grant.id] - taken[grant.id]
        if not 0 <= remaining <= grant.amount_nanos or remaining != expected:
            problems.add(
                org,
                f"grant {grant.id} has {remaining} left of {grant.amount_nanos}; its entries leave {expected}",
            )
        if grant.state is GrantState.ACTIVE:
            active[org] += remaining
            if remaining <= 0:
                problems.add(org, f"grant {grant.id} is active with nothing left")
        elif remaining != 0:
            problems.add(org, f"grant {grant.id} is {grant.state.value} with {remaining} left")
    for account in accounts:
        org = account.organization_id
        if account.balance_nanos != ledger_sum[org]:
            problems.add(org, f"balance {account.balance_nanos} but its entries sum to {ledger_sum[org]}")
        if account.debt_nanos != debt_made[org]:
            problems.add(
                org, f"debt {account.debt_nanos} but uncovered usage less what paid it is {debt_made[org]}"
            )
        if not 0 <= account.settling_nanos <= account.debt_nanos:
            problems.add(org, f"settling {account.settling_nanos} of a debt of {account.debt_nanos}")
        if account.balance_nanos != active[org] - account.debt_nanos:
            problems.add(
                org,
                f"balance {account.balance_nanos} but active grants less debt are {active[org] - account.debt_nanos}",
            )
    for org in sorted(set(ledger_sum) - {account.organization_id for account in accounts}):
        problems.add(org, "ledger entries without a credit account")
    _audit_charges(grants, charges, settled_by_charge, problems)
    return problems


def _audit_charges(
    grants: list[CreditGrant], charges: list[Charge], settled_by_charge: dict[str, int], problems: _Problems
) -> None:
    """Nothing granted without a successful charge, no successful charge without its grant or settlement."""
    grants_by_charge: dict[str, list[CreditGrant]] = defaultdict(list)
    for grant in grants:
        if (grant.source is GrantSource.PROMOTIONAL) != (grant.charge_id is None):
            problems.add(
                grant.organization_id,
                f"{grant.source.value.lower()} grant {grant.id} with charge {grant.charge_id}",
            )
        if grant.charge_id is not None:
            grants_by_charge[grant.charge_id].append(grant)
    for charge in charges:
        paid = charge.status is ChargeStatus.SUCCEEDED
        if charge.purpose in (ChargePurpose.PURCHASE, ChargePurpose.AUTO_RECHARGE):
            granted = grants_by_charge.pop(charge.id, [])
            if len(granted) != (1 if paid else 0):
                problems.add(
                    charge.organization_id,
                    f"{charge.status.value.lower()} charge {charge.id} has {len(granted)} grants",
                )
            elif paid and granted[0].amount_nanos != charge.amount_cents * NANOS_PER_CENT:
                problems.add(
                    charge.organization_id,
                    f"charge {charge.id} of {charge.amount_cents} cents granted {granted[0].amount_nanos} nanos",
                )
        if charge.purpose is ChargePurpose.SETTLEMENT and settled_by_charge.pop(charge.id, 0) != (
            1 if paid else 0
        ):
            problems.add(
                charge.organization_id,
                f"{charge.status.value.lower()} settlement charge {charge.id} without its one entry",
            )
    for charge_id, orphans in grants_by_charge.items():
        problems.add(orphans[0].organization_id, f"grant {orphans[0].id} of unknown charge {charge_id}")
    for charge_id in settled_by_charge:
        problems.add("?", f"settlement entry of unknown charge {charge_id}")
