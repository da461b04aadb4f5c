"""The app's long-lived services, built once at start-up and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.catalog.loader import load_catalog
from app.domain.catalog.models import Catalog
from app.payments.facade import Payments
from app.payments.manager import load_payments
from app.settings import Settings, get_settings


@dataclass
class Services:
    catalog: Catalog
    payments: Payments
    settings: Settings = field(default_factory=get_settings)  # what the jobs read their settings from

    def model_ids(self) -> set[str]:
        return {model.id for model in self.catalog.models}

    async def aclose(self) -> None:
        """Release what the services hold (provider clients, connections)."""
        await self.payments.aclose()


def build_services(settings: Settings) -> Services:
    """Load and check everything the app needs; bad configuration stops start-up here."""
    return Services(
        catalog=load_catalog(settings.catalog_path),
        payments=load_payments(settings.plugins_toml),
        settings=settings,
    )
