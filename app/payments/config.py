"""Reading plugins.toml: which payment provider is active and the settings of each plugin.

The file holds settings only. Secrets come from the environment: a key or value in the file that looks
like a secret is refused, so that nobody commits an API key "just for now".
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.payments.errors import PluginConfigError

PLUGINS_TOML_ENV = "PLUGINS_TOML"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PLUGINS_TOML = REPO_ROOT / "plugins.toml"
DEFAULT_TIMEOUT_SECONDS = 30.0

_PAYMENTS_KEYS = {"provider", "timeout_seconds", "plugins"}
_TOP_LEVEL_KEYS = {"payments", "providers", "plugins"}
# Names that hold secrets in every provider's vocabulary; "publishable_key" is public by design.
_SECRET_KEY = re.compile(r"secret|passw(or)?d|token|api_?key|private_?key|credential|signing_?key", re.I)
# Stripe-style live/test secret keys, restricted keys and webhook signing secrets.
_SECRET_VALUE = re.compile(r"(sk|rk)_(live|test)_|whsec_")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    """The content of plugins.toml, checked."""

    path: Path
    provider: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    plugins: tuple[str, ...] = ()
    provider_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    plugin_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the settings are resolved against."""
        return self.path.parent

    def settings_for_provider(self, name: str) -> Mapping[str, Any]:
        """The [providers.<name>] table, empty when absent."""
        return self.provider_settings.get(name, {})

    def settings_for_plugin(self, name: str) -> Mapping[str, Any]:
        """The [plugins.<name>] table, empty when absent."""
        return self.plugin_settings.get(name, {})


def plugins_toml_path(env: Mapping[str, str] | None = None) -> Path:
    """$PLUGINS_TOML when set, else plugins.toml at the repository root."""
    env = os.environ if env is None else env
    configured = env.get(PLUGINS_TOML_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_PLUGINS_TOML


def read_config(path: Path, *, known_providers: list[str]) -> PaymentsConfig:
    """Read and check plugins.toml; every problem raises PluginConfigError naming file and key."""
    known = ", ".join(sorted(known_providers)) or "none"
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError as exc:
        raise PluginConfigError(f"{path}: file not found (set ${PLUGINS_TOML_ENV} or create it)") from exc
    except OSError as exc:
        raise PluginConfigError(f"{path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PluginConfigError(f"{path}: not valid TOML: {exc}") from exc

    unknown = sorted(set(document) - _TOP_LEVEL_KEYS)
    if unknown:
        raise PluginConfigError(
            f"{path}: unknown top-level key(s) {unknown}; expected {sorted(_TOP_LEVEL_KEYS)}"
        )
    _refuse_secrets(path, document, prefix="")

    payments = document.get("payments")
    if payments is None:
        raise PluginConfigError(
            f'{path}: missing [payments] table; add [payments] provider = "<name>" (known providers: {known})'
        )
    if not isinstance(payments, dict):
        raise PluginConfigError(f"{path}: payments must be a table")
    unknown = sorted(set(payments) - _PAYMENTS_KEYS)
    if unknown:
        raise PluginConfigError(
            f"{path}: unknown key(s) {unknown} in [payments]; expected {sorted(_PAYMENTS_KEYS)}"
        )

    provider = payments.get("provider")
    if not isinstance(provider, str) or not provider.strip():
        raise PluginConfigError(
            f"{path}: [payments] provider must be the name of a payment provider (known providers: {known})"
        )
    timeout = payments.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise PluginConfigError(
            f"{path}: [payments] timeout_seconds must be a positive number, got {timeout!r}"
        )
    plugins = payments.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(name, str) and name for name in plugins):
        raise PluginConfigError(f"{path}: [payments] plugins must be a list of plugin names, got {plugins!r}")

    return PaymentsConfig(
        path=path,
        provider=provider.strip(),
        timeout_seconds=float(timeout),
        plugins=tuple(plugins),
        provider_settings=_tables(path, document, "providers"),
        plugin_settings=_tables(path, document, "plugins"),
    )


def setting(settings: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
    """One typed setting of a plugin; a value of the wrong type raises PluginConfigError naming the key."""
    value = settings.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # TOML writes 1 for 1.0; a float setting accepts both
    # bool is an int subclass, and a flag is never meant where a number is expected.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise PluginConfigError(f"{key} must be of type {kind.__name__}, got {value!r}")
    return value


def _tables(path: Path, document: Mapping[str, Any], name: str) -> dict[str, Mapping[str, Any]]:
    section = document.get(name, {})
    if not isinstance(section, dict):
        raise PluginConfigError(f"{path}: {name} must be a table of [{name}.<name>] tables")
    for key, value in section.items():
        if not isinstance(value, dict):
            raise PluginConfigError(f"{path}: [{name}.{key}] must be a table, got {value!r}")
    return dict(section)


def _refuse_secrets(path: Path, value: Any, *, prefix: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if _SECRET_KEY.search(key) and not isinstance(item, dict):
                raise PluginConfigError(_secret_message(path, dotted))
            _refuse_secrets(path, item, prefix=dotted)
    elif isinstance(value, list):
        for item in value:
            _refuse_secrets(path, item, prefix=prefix)
    elif isinstance(value, str) and _SECRET_VALUE.match(value):
        raise PluginConfigError(_secret_message(path, prefix))


def _secret_message(path: Path, dotted_key: str) -> str:
    return (
        f"{path}: key '{dotted_key}' looks like a secret; plugins.toml holds settings only, "
        "secrets come from the environment (see the provider's documented variables)"
    )
