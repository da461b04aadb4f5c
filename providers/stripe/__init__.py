"""The Stripe payment provider, on the official SDK used asynchronously.

Environment (secrets, never in plugins.toml; a missing one stops start-up naming it):

* ``STRIPE_SECRET_KEY``: the API secret key, ``sk_test_…`` (test mode) or ``sk_live_…`` (live mode);
  restricted keys ``rk_…`` work too. The mode is logged at start-up, never the key.
* ``STRIPE_WEBHOOK_SECRET``: the signing secret (``whsec_…``) of the endpoint ``POST /webhooks/stripe``.

Settings ([providers.stripe] in plugins.toml):

* ``publishable_key``: the public key handed to the console for Stripe's own card form (``pk_test_…`` /
  ``pk_live_…``, the same mode as the secret key). Required.
* ``api_base``: where the API is, default ``https://api.stripe.com`` (tests point it at a local stand-in;
  a live key is only ever sent over https).
* ``api_version``: the Stripe API version requests are sent with; default the pinned
  ``providers.stripe.config.API_VERSION``. Only for an operator who must stay on an older version for a while:
  the provider's requests are written for, and tested against, the pinned one.
* ``max_network_retries``: the SDK's retries of a failed connection, with the same idempotency key. Default 2.
* ``request_timeout_seconds``: one HTTP request's limit. Default 20.
* ``webhook_tolerance_seconds``: how old a signed webhook may be before it is refused as a replay. Default 300.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from providers.stripe.config import (
    SECRET_KEY_ENV,
    WEBHOOK_SECRET_ENV,
    Mode,
    StripeConfig,
    log_start,
    read_config,
)
from providers.stripe.plugin import StripeProvider

REQUIRED_ENV: tuple[str, ...] = (SECRET_KEY_ENV, WEBHOOK_SECRET_ENV)
OPTIONAL_ENV: tuple[str, ...] = ()

__all__ = ["Mode", "StripeConfig", "StripeProvider", "make_plugin"]


def make_plugin(*, settings: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> StripeProvider:
    """The Stripe provider configured from its plugins.toml table and the environment."""
    config = read_config(settings, env)
    log_start(config)
    return StripeProvider(config)
