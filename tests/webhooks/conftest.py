"""The app over Stripe: the SDK talks to the local stand-in, the secrets are in the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mail_server import smtp_server, smtp_settings
from tests.providers.stripe_standin import STRIPE_ENV, StripeStandIn, stripe_plugins_toml
from tests.support import GraphQL, World
from tests.webhooks.support import Console

__all__ = ["console", "plugins_toml", "smtp_server", "smtp_settings"]


@pytest.fixture
def plugins_toml(tmp_path: Path, stripe_standin: StripeStandIn, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides tests/conftest.py's fixture: Stripe chosen, pointed at the stand-in, its keys in the environment."""
    for name, value in STRIPE_ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "plugins.toml"
    path.write_text(stripe_plugins_toml(stripe_standin))
    return path


@pytest.fixture
def console(gql: GraphQL, world: World) -> Console:
    """The console of Acme's admin: GraphQL operations by name."""
    return Console(gql, world)
