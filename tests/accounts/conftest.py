"""Account tests run behind a trusted proxy, so that each request can name its client address."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings
from tests.conftest import FLEET_TOKEN


@pytest.fixture
def settings(database_url: str, plugins_toml: Path) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="http://console.test",
        log_level="WARNING",
        plugins_toml=plugins_toml,
        fleet_token=FLEET_TOKEN,
        trusted_proxy_header="X-Forwarded-For",
    )
