"""ACME Payments: a partner's payment provider plugin for the inference cloud's billing API.

Found through the entry point ``acme`` in the group ``inference_billing.payments`` and chosen with
``provider = "acme"`` in plugins.toml. The service calls ``make_plugin`` with the ``[providers.acme]``
table and the environment variables declared below (and no others).

Settings: ``refund_limit_cents`` (refunds up to it are approved, default 1000) and
``publishable_key`` (handed to the console, default ``pk_acme_sandbox``).
Environment: ``ACME_WEBHOOK_SECRET``, the HMAC-SHA256 key of the ``x-acme-signature`` webhook header.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acme_payments.plugin import AcmeProvider
from app.payments.config import setting
from app.payments.errors import PluginConfigError

REQUIRED_ENV: tuple[str, ...] = ("ACME_WEBHOOK_SECRET",)
OPTIONAL_ENV: tuple[str, ...] = ()

__all__ = ["AcmeProvider", "make_plugin"]


def make_plugin(*, settings: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> AcmeProvider:
    """The ACME provider configured from its plugins.toml table and the environment."""
    unknown = sorted(set(settings) - {"refund_limit_cents", "publishable_key"})
    if unknown:
        raise PluginConfigError(f"unknown setting(s) {unknown}; known: publishable_key, refund_limit_cents")
    limit = setting(settings, "refund_limit_cents", int, 1000)
    if limit < 0:
        raise PluginConfigError(f"refund_limit_cents must not be negative, got {limit}")
    return AcmeProvider(
        webhook_secret=env["ACME_WEBHOOK_SECRET"],
        refund_limit_cents=limit,
        publishable_key=setting(settings, "publishable_key", str, "pk_acme_sandbox"),
    )
