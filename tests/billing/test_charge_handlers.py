"""The charge handlers: one table, installed at start-up, which refuses to start with a purpose unhandled."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import cli
from app.asgi import create_app
from app.domain import charge_handlers
from app.domain.billing import charges
from app.domain.billing.charges import ChargeHandlers, MissingChargeHandler
from app.domain.billing.models import ChargePurpose
from app.settings import Settings


@pytest.fixture
def subscription_unhandled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table as it would be with the SUBSCRIPTION success handler forgotten."""
    table = charge_handlers.CHARGE_HANDLERS
    success = {p: h for p, h in table.on_success.items() if p is not ChargePurpose.SUBSCRIPTION}
    monkeypatch.setattr(charge_handlers, "CHARGE_HANDLERS", ChargeHandlers(success, table.on_failure))
    monkeypatch.setattr(charges, "_handlers", charges.installed_handlers())  # restored after the test


def test_every_purpose_has_a_success_handler() -> None:
    assert set(charge_handlers.CHARGE_HANDLERS.on_success) == set(ChargePurpose)
    charge_handlers.install_charge_handlers()
    assert charges.installed_handlers() is charge_handlers.CHARGE_HANDLERS


def test_create_app_refuses_to_start_naming_the_unhandled_purpose(
    subscription_unhandled: None, plugins_toml: Path, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", plugins_toml=plugins_toml
    )
    before = charges.installed_handlers()
    with pytest.raises(MissingChargeHandler, match=r"success handler .*: SUBSCRIPTION\."):
        create_app(settings)
    assert charges.installed_handlers() is before  # a refused table changes nothing


def test_the_job_runner_refuses_to_run_naming_the_unhandled_purpose(subscription_unhandled: None) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["run-jobs", "retry-pending-charges"])
    assert "SUBSCRIPTION" in str(exited.value.code)


def test_a_purpose_missing_from_several_is_each_named() -> None:
    with pytest.raises(MissingChargeHandler) as raised:
        charges.install_handlers(
            ChargeHandlers(
                {ChargePurpose.PURCHASE: charge_handlers.CHARGE_HANDLERS.on_success[ChargePurpose.PURCHASE]}
            )
        )
    assert all(p.value in str(raised.value) for p in ChargePurpose if p is not ChargePurpose.PURCHASE)
