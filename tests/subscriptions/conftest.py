"""Subscription tests run at a frozen time, with Acme's admin holding a working card unless a test says otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import clock as clock_module


@pytest.fixture(autouse=True)
def frozen(clock: clock_module.FrozenClock) -> Iterator[clock_module.FrozenClock]:
    """Every subscription test runs on the frozen clock (2026-11-23 12:00 UTC unless moved)."""
    yield clock


@pytest.fixture
def balances(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Credit balances by organization id (nanos) as who-pays reads them; absent: 0."""
    figures: dict[str, int] = {}

    async def balances_of(session: object, organization_ids: list[str]) -> dict[str, int]:
        return {organization_id: figures.get(organization_id, 0) for organization_id in organization_ids}

    monkeypatch.setattr("app.domain.plans.service.balances_of", balances_of)
    return figures
