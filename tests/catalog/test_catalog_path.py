"""CATALOG_PATH chooses the catalog file; a bad one stops start-up with the file and line at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.catalog import DEFAULT_PATH, CatalogError
from app.services import build_services
from app.settings import Settings


async def test_catalog_path_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plugins_toml: Path
) -> None:
    custom = tmp_path / "catalog.toml"
    custom.write_text(
        DEFAULT_PATH.read_text().replace('display_name = "GPT OSS 120B"', 'display_name = "GPT OSS"')
    )
    monkeypatch.setenv("CATALOG_PATH", str(custom))
    settings = Settings(plugins_toml=plugins_toml)
    assert settings.catalog_path == custom
    services = build_services(settings)
    try:
        assert services.catalog.source == custom
        assert services.catalog.model("gpt-oss-120b").display_name == "GPT OSS"  # type: ignore[union-attr]
    finally:
        await services.aclose()


def test_a_bad_catalog_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plugins_toml: Path
) -> None:
    broken = tmp_path / "catalog.toml"
    broken.write_text(DEFAULT_PATH.read_text().replace("capacity = 100", "capacity = -1", 1))
    monkeypatch.setenv("CATALOG_PATH", str(broken))
    with pytest.raises(CatalogError, match=rf"{broken}:\d+: capacity of tier 'starter'"):
        build_services(Settings(plugins_toml=plugins_toml))
