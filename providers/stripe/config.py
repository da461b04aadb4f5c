"""The Stripe provider's configuration: settings from plugins.toml, secrets from the environment."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from app.payments.config import setting
from app.payments.errors import PluginConfigError

logger = logging.getLogger("providers.stripe")

SECRET_KEY_ENV = "STRIPE_SECRET_KEY"
WEBHOOK_SECRET_ENV = "STRIPE_WEBHOOK_SECRET"
DEFAULT_API_BASE = "https://api.stripe.com"
# The Stripe API version every request is sent with, and that the webhook endpoint must be created with.
# Moving it is a code change: the parameters the provider sends are checked against this version's.
API_VERSION = "2026-10-28.endive"
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
KNOWN_SETTINGS = (
    "api_base",
    "api_version",
    "max_network_retries",
    "publishable_key",
    "request_timeout_seconds",
    "webhook_tolerance_seconds",
)


class Mode(StrEnum):
    """Stripe's two worlds: test-mode keys move no real money, live-mode keys do."""

    TEST = "test"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class StripeConfig:
    """Everything the Stripe provider needs, checked; the secrets are never logged or shown in repr."""

    secret_key: str
    webhook_secret: str
    publishable_key: str
    mode: Mode
    api_base: str = DEFAULT_API_BASE
    api_version: str = API_VERSION
    max_network_retries: int = 2
    request_timeout_seconds: float = 20.0
    webhook_tolerance_seconds: int = 300

    def __repr__(self) -> str:
        return f"StripeConfig(mode={self.mode}, api_base={self.api_base!r}, api_version={self.api_version!r})"


def read_config(settings: Mapping[str, Any], env: Mapping[str, str]) -> StripeConfig:
    """Check the [providers.stripe] table and the two secrets; each problem names what to fix."""
    unknown = sorted(set(settings) - set(KNOWN_SETTINGS))
    if unknown:
        raise PluginConfigError(f"unknown setting(s) {unknown}; known: {', '.join(KNOWN_SETTINGS)}")
    secret_key = _required(env, SECRET_KEY_ENV)
    webhook_secret = _required(env, WEBHOOK_SECRET_ENV)
    mode = _mode_of_secret_key(secret_key)
    if not webhook_secret.startswith("whsec_"):
        raise PluginConfigError(
            f"{WEBHOOK_SECRET_ENV} must be the endpoint's signing secret (whsec_…) from the Stripe dashboard"
        )

    publishable_key = setting(settings, "publishable_key", str, "")
    expected_prefix = f"pk_{mode}_"
    if not publishable_key.startswith(expected_prefix):
        raise PluginConfigError(
            f"publishable_key must be the {mode}-mode publishable key ({expected_prefix}…) matching "
            f"{SECRET_KEY_ENV}, got {publishable_key!r}"
        )
    api_base = setting(settings, "api_base", str, DEFAULT_API_BASE).rstrip("/")
    parts = urlsplit(api_base)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise PluginConfigError(
            f"api_base must be an http(s) URL such as {DEFAULT_API_BASE}, got {api_base!r}"
        )
    if mode is Mode.LIVE and parts.scheme != "https":
        raise PluginConfigError(f"api_base must use https with a live-mode key, got {api_base!r}")
    api_version = setting(settings, "api_version", str, API_VERSION)
    if not _API_VERSION.fullmatch(api_version):
        raise PluginConfigError(
            f"api_version must be a Stripe API version such as {API_VERSION!r}, got {api_version!r}"
        )
    retries = setting(settings, "max_network_retries", int, 2)
    if not 0 <= retries <= 5:
        raise PluginConfigError(f"max_network_retries must be between 0 and 5, got {retries!r}")
    timeout = setting(settings, "request_timeout_seconds", float, 20.0)
    if timeout <= 0:
        raise PluginConfigError(f"request_timeout_seconds must be positive, got {timeout!r}")
    tolerance = setting(settings, "webhook_tolerance_seconds", int, 300)
    if tolerance <= 0:
        # Stripe's SDK reads 0 as "no limit", which would accept replays of old events forever.
        raise PluginConfigError(f"webhook_tolerance_seconds must be positive, got {tolerance!r}")
    return StripeConfig(
        secret_key=secret_key,
        webhook_secret=webhook_secret,
        publishable_key=publishable_key,
        mode=mode,
        api_base=api_base,
        api_version=api_version,
        max_network_retries=retries,
        request_timeout_seconds=timeout,
        webhook_tolerance_seconds=tolerance,
    )


def log_start(config: StripeConfig) -> None:
    """Say at start-up which mode the service charges in, so a test key in production is noticed."""
    money = (
        "LIVE mode, real cards are charged" if config.mode is Mode.LIVE else "test mode, no real money moves"
    )
    pinned = "" if config.api_version == API_VERSION else f", overriding the pinned {API_VERSION}"
    logger.info("stripe: %s (api %s, API version %s%s)", money, config.api_base, config.api_version, pinned)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise PluginConfigError(f"the environment variable {name} is not set")
    return value


def _mode_of_secret_key(key: str) -> Mode:
    # Secret keys (sk_) and restricted keys (rk_) both carry the mode in their prefix.
    for prefix in ("sk_", "rk_"):
        for mode in Mode:
            if key.startswith(f"{prefix}{mode}_"):
                return mode
    raise PluginConfigError(
        f"{SECRET_KEY_ENV} must be a Stripe secret key (sk_test_…, sk_live_… or a restricted rk_…), "
        "not a publishable key or another value"
    )
