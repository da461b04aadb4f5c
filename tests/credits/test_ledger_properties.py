"""Random purchases, declines, burns, expiries, auto-recharges, outages, settlements, refunds and
disputes keep the ledger whole.

After every step: balance == sum of the ledger; no grant below zero or above its amount; each grant's
remaining == amount - consumptions - expiry - refunds - dispute holds + releases; nothing granted
without a succeeded charge and no succeeded charge without its grant (see tests/credits/support.py:
check_ledger). SQLite only. Refunds are approved here by a partner-like policy plugin; disputes arrive
as provider events, redelivered at random.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select
from sqlmodel import col

from app import clock as clock_module
from app.db import Database
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.billing import retries
from app.domain.billing.accounts import attach_payment_method
from app.domain.billing.errors import PaymentFailed, PaymentUnavailable
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.credits.auto_recharge import (
    auto_recharge_config,
    configure_auto_recharge,
    maybe_auto_recharge,
)
from app.domain.credits.expiry import expire_grants
from app.domain.credits.ledger import burn_credits
from app.domain.credits.models import CreditGrant
from app.domain.credits.purchases import add_credits, grant_promotional_credits
from app.domain.credits.refunds import request_refund
from app.domain.credits.settlement import settle_debts
from app.domain.errors import Conflict
from app.domain.money import NANOS_PER_CENT
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.provider_events.service import handle_event
from app.payments import Payments, hookimpl, load_payments
from app.payments.types import RefundDecision, WebhookEvent
from app.settings import Settings
from tests.credits.support import DOLLAR, check_ledger

T = TypeVar("T")


class ApproveRefunds:
    """A partner's policy plugin that approves every refund (the shipped policy refuses them)."""

    @hookimpl
    def refund_decision(self) -> RefundDecision:
        return RefundDecision(approved=True, reason="approved by the test's policy")


CARDS = ("pm_card_visa", "pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds")
FAULTS = ("lost_response", "timeout", "error")


class CreditLedger(RuleBasedStateMachine):
    """One Team organization, its admin and staff, a fake provider, a frozen clock."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-"))
        self.settings = Settings(
            database_url=f"sqlite+aiosqlite:///{self.folder / 'db.sqlite3'}", log_level="WARNING"
        )
        self.db = Database(self.settings.database_url)
        toml = self.folder / "plugins.toml"
        toml.write_text('[payments]\nprovider = "fake"\n[providers.fake]\nstate_path = ""\n')
        self.payments: Payments = load_payments(toml, env={})
        self.clock = clock_module.FrozenClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        self.previous_clock = clock_module.install(self.clock)
        self.payments._manager.register(ApproveRefunds())
        self.keys: list[str] = []
        self.disputes: dict[str, dict[str, Any]] = {}  # open ones, by id
        self.run(self.db.create_all())
        self.org_id, self.admin, self.staff = self.run(self._world())

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    async def _world(self) -> tuple[str, Actor, Actor]:
        async with self.db.transaction() as session:
            admin = User(
                email="admin@example.com",
                email_normalized="admin@example.com",
                password_hash="x",
                name="Admin",
            )
            staff = User(
                email="staff@example.com",
                email_normalized="staff@example.com",
                password_hash="x",
                is_staff=True,
            )
            session.add_all([admin, staff])
            await session.flush()
            organization = await create_organization(
                session, owner=admin, name="Acme", type=OrganizationType.TEAM
            )
        return organization.id, Actor(admin.id), Actor(staff.id, is_staff=True)

    def teardown(self) -> None:
        self.run(self.payments.aclose())
        self.run(self.db.dispose())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        clock_module.install(self.previous_clock)
        shutil.rmtree(self.folder, ignore_errors=True)

    # Rules ---------------------------------------------------------------------------------------

    @initialize(ref=st.sampled_from(CARDS))
    def a_card(self, ref: str) -> None:
        self.run(attach_payment_method(self.db, self.org_id, payments=self.payments, provider_ref=ref))

    @rule(ref=st.sampled_from(CARDS))
    def change_card(self, ref: str) -> None:
        self.run(attach_payment_method(self.db, self.org_id, payments=self.payments, provider_ref=ref))

    @rule(cents=st.integers(1_000, 6_000), fault=st.none() | st.sampled_from(FAULTS))
    def buy(self, cents: int, fault: str | None) -> None:
        key = f"click-{len(self.keys):04d}"
        self.keys.append(key)
        if fault:
            self.payments.provider.faults.fail_next(1, fault, operation="charge")  # type: ignore[attr-defined]
        self._purchase(cents, key)

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data())
    def retry_a_click(self, data: st.DataObject) -> None:
        self._purchase(None, data.draw(st.sampled_from(self.keys)))

    def _purchase(self, cents: int | None, key: str) -> None:
        amount = f"{cents / 100:.2f}" if cents else None
        try:
            self.run(
                add_credits(
                    self.db, self.admin, self.org_id,
                    payments=self.payments, amount=amount or self._amount_of(key), idempotency_key=key,
                    settings=self.settings,
                )
            )  # fmt: skip
        except (PaymentFailed, PaymentUnavailable, Conflict):
            pass

    def _amount_of(self, key: str) -> str:
        # a retry repeats the click's amount; the first attempt's amount is stored with its charge
        from sqlalchemy import select

        from app.domain.billing.models import Charge

        async def stored() -> str:
            async with self.db.reader() as session:
                charge = await session.scalar(select(Charge).where(Charge.idempotency_key.endswith(key)))  # type: ignore[attr-defined]
            return f"{charge.amount_cents / 100:.2f}" if charge else "10.00"

        return self.run(stored())

    @rule(nanos=st.integers(1, 40 * DOLLAR), fault=st.none() | st.sampled_from(FAULTS))
    def burn(self, nanos: int, fault: str | None) -> None:
        async def burn_then_recharge() -> None:
            async with self.db.transaction() as session:
                result = await burn_credits(session, self.org_id, nanos, "usage")
            if result.auto_recharge_due:
                if fault:
                    self.payments.provider.faults.fail_next(1, fault, operation="charge")  # type: ignore[attr-defined]
                await maybe_auto_recharge(
                    self.db, self.org_id, payments=self.payments, settings=self.settings
                )

        self.run(burn_then_recharge())

    @rule(threshold=st.integers(0, 20), span=st.integers(1, 30), cap=st.none() | st.integers(1, 80))
    def configure_auto_recharge(self, threshold: int, span: int, cap: int | None) -> None:
        config = auto_recharge_config(
            threshold=str(threshold), recharge_to=str(threshold + span), monthly_cap=None if cap is None else str(cap),
            settings=self.settings,
        )  # fmt: skip
        self.run(
            configure_auto_recharge(
                self.db, self.admin, self.org_id, config, payments=self.payments, settings=self.settings
            )
        )

    @rule(cents=st.integers(1, 3_000), days=st.integers(1, 400))
    def promotion(self, cents: int, days: int) -> None:
        async def grant() -> None:
            async with self.db.transaction() as session:
                await grant_promotional_credits(
                    session, self.staff, self.org_id, amount=f"{cents / 100:.2f}",
                    expires_at=self.clock.now() + timedelta(days=days), note="promo", settings=self.settings,
                )  # fmt: skip

        self.run(grant())

    @rule(days=st.integers(1, 200))
    def time_passes_and_credits_expire(self, days: int) -> None:
        self.clock.advance(days=days)
        self.run(expire_grants(self.db))

    @rule(retry=st.booleans(), fault=st.none() | st.sampled_from(FAULTS))
    def month_end(self, retry: bool, fault: str | None) -> None:
        now = self.clock.now()
        first = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, 1, tzinfo=UTC)
        self.clock.at = first + timedelta(hours=30) if retry else first
        if fault:
            self.payments.provider.faults.fail_next(1, fault, operation="charge")  # type: ignore[attr-defined]
        self.run(settle_debts(self.db, payments=self.payments, settings=self.settings, retry=retry))

    @rule()
    def pending_charges_are_retried(self) -> None:
        self.clock.advance(minutes=5)
        self.run(retries.retry_pending(self.db, payments=self.payments))

    @rule(data=st.data(), part=st.integers(1, 100))
    def a_refund_is_approved(self, data: st.DataObject, part: int) -> None:
        async def refund() -> None:
            grants = await self._paid_grants()
            if not grants:
                return
            grant = data.draw(st.sampled_from(grants))
            cents = max(1, grant.remaining_nanos // NANOS_PER_CENT * part // 100)
            try:
                await request_refund(
                    self.db, self.admin, grant.id, payments=self.payments, reason="unused",
                    amount=f"{cents / 100:.2f}",
                )  # fmt: skip
            except (Conflict, PaymentUnavailable):
                pass  # nothing left to refund, or the provider will be asked again

        self.run(refund())

    @rule(data=st.data(), redelivered=st.booleans())
    def a_purchase_is_disputed(self, data: st.DataObject, redelivered: bool) -> None:
        async def dispute() -> None:
            paid = await self._paid_charges()
            if not paid:
                return
            charge = data.draw(st.sampled_from(paid))
            obj = {
                "id": f"dp_{len(self.disputes)}_{charge.id}",
                "amount": charge.amount_cents,
                "currency": charge.currency,
                "payment_intent": charge.provider_charge_ref,
                "reason": "fraudulent",
                "status": "needs_response",
            }
            self.disputes[obj["id"]] = obj
            for _ in range(1 + redelivered):
                await self._event("charge.dispute.created", obj)

        self.run(dispute())

    @precondition(lambda self: bool(self.disputes))
    @rule(data=st.data(), won=st.booleans())
    def a_dispute_closes(self, data: st.DataObject, won: bool) -> None:
        obj = self.disputes.pop(data.draw(st.sampled_from(sorted(self.disputes))))
        self.run(self._event("charge.dispute.closed", obj | {"status": "won" if won else "lost"}))

    async def _event(self, event_type: str, obj: dict[str, Any]) -> None:
        event = WebhookEvent(
            id=f"evt_{event_type}_{obj['id']}_{obj['status']}", type=event_type, data={"object": obj}
        )
        await handle_event(self.db, provider="fake", event=event)

    async def _paid_charges(self) -> list[Charge]:
        async with self.db.reader() as session:
            query = (
                select(Charge)
                .where(col(Charge.status) == ChargeStatus.SUCCEEDED)
                .order_by(col(Charge.created_at))
            )
            return list(await session.scalars(query))  # purchases, recharges and settlements alike

    async def _paid_grants(self) -> list[CreditGrant]:
        async with self.db.reader() as session:
            query = (
                select(CreditGrant)
                .where(col(CreditGrant.charge_id).is_not(None))
                .where(col(CreditGrant.remaining_nanos) > 0)
            )
            return list(await session.scalars(query.order_by(col(CreditGrant.created_at))))

    @invariant()
    def the_ledger_is_whole(self) -> None:
        self.run(check_ledger(self.db))


CreditLedger.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_ledger_stays_whole = CreditLedger.TestCase
