"""The fake payment provider, used by default and in tests.

Settings ([providers.fake] in plugins.toml):

* ``state_path``: file keeping customers, cards, charges, refunds and idempotency records across
  restarts, relative to plugins.toml's directory; ``""`` keeps them in memory only.
  Default ``var/fake-provider.json``.
* ``publishable_key``: the public key handed to the console. Default ``pk_fake_local``.
* ``latency_seconds``: delay added to every call, to see a slow provider. Default 0.

Environment: ``FAKE_WEBHOOK_SECRET``, the HMAC-SHA256 key of the ``x-fake-signature`` webhook header;
when unset, the development value ``DEV_WEBHOOK_SECRET`` below.

Test cards: see ``providers.fake.cards`` (pm_card_visa succeeds, pm_card_chargeDeclined declines, …).
``pm_card_authenticationRequired`` asks for 3-D Secure: the console shows the fake provider's own dialog
(``payment_ui``'s script), which answers at the endpoint of ``providers.fake.web``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.payments.config import setting
from app.payments.errors import PluginConfigError
from providers.fake.cards import TEST_CARDS, TestCard, find_card
from providers.fake.faults import Faults
from providers.fake.plugin import FakeProvider

REQUIRED_ENV: tuple[str, ...] = ()
OPTIONAL_ENV: tuple[str, ...] = ("FAKE_WEBHOOK_SECRET",)
DEV_WEBHOOK_SECRET = "fake-dev-webhook-secret"
DEFAULT_STATE_PATH = "var/fake-provider.json"

__all__ = ["TEST_CARDS", "FakeProvider", "Faults", "TestCard", "find_card", "make_plugin"]


def make_plugin(*, settings: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> FakeProvider:
    """The fake provider configured from its plugins.toml table and the environment."""
    unknown = sorted(set(settings) - {"state_path", "publishable_key", "latency_seconds"})
    if unknown:
        raise PluginConfigError(
            f"unknown setting(s) {unknown}; known: latency_seconds, publishable_key, state_path"
        )
    state_path = setting(settings, "state_path", str, DEFAULT_STATE_PATH)
    latency = setting(settings, "latency_seconds", float, 0.0)
    if latency < 0:
        raise PluginConfigError(f"latency_seconds must not be negative, got {latency!r}")
    return FakeProvider(
        state_path=base_dir / state_path if state_path else None,
        publishable_key=setting(settings, "publishable_key", str, "pk_fake_local"),
        webhook_secret=env.get("FAKE_WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET,
        latency_seconds=latency,
    )
