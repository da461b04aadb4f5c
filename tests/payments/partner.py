"""A partner's payment provider package, as the payment plugin tests install it through an entry point."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from app.payments import Payments, hookimpl
from app.payments.types import ChargePurpose, ChargeResult, ChargeStatus

FAKE = '[payments]\nprovider = "fake"\n[providers.fake]\nstate_path = ""\n'


class PartnerProvider:
    """A partner's payment provider as its package would ship it: every charge succeeds."""

    def __init__(self, name: str = "acme", env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.env = dict(env or {})
        self.closed = 0

    @hookimpl
    def payment_provider_name(self) -> str:
        return self.name

    @hookimpl
    def charge(self, customer_ref: str, amount: int, currency: str, idempotency_key: str) -> ChargeResult:
        return ChargeResult(
            status=ChargeStatus.SUCCEEDED,
            charge_ref=f"acme-{idempotency_key}",
            amount=amount,
            currency=currency,
        )

    @hookimpl
    def payments_shutdown(self) -> Awaitable[None]:
        async def close() -> None:
            self.closed += 1

        return close()


def partner_package(**attributes: Any) -> SimpleNamespace:
    """What an entry point of a partner's provider package loads: a module with make_plugin."""
    created: list[PartnerProvider] = []

    def make_plugin(
        *, settings: Mapping[str, Any], env: Mapping[str, str], base_dir: Path
    ) -> PartnerProvider:
        created.append(PartnerProvider(str(settings.get("call_me", "acme")), env))
        return created[-1]

    return SimpleNamespace(make_plugin=make_plugin, created=created, **attributes)


async def charge(payments: Payments, amount: int = 100) -> ChargeResult:
    return await payments.charge(
        customer_ref="cus_1",
        amount=amount,
        currency="usd",
        purpose=ChargePurpose.PURCHASE,
        description="Credits",
        idempotency_key="k-1",
    )
