"""The plugin manager: built-ins and partners' packages load the same way, checked before use.

A plugin is found by name: first among the built-ins (``BUILTIN_PROVIDERS``, ``BUILTIN_PLUGINS``), then
among the entry points of the group ``inference_billing.payments`` that installed packages declare::

    [project.entry-points."inference_billing.payments"]
    acme = "acme_payments.plugin"

What a name points to is either a module (or object) with hook implementations, registered as it is,
or one exposing a factory ``make_plugin(*, settings, env, base_dir)`` that returns the plugin object:
``settings`` is the plugin's table from plugins.toml, ``env`` holds only the environment variables the
module declares in ``REQUIRED_ENV`` / ``OPTIONAL_ENV`` (secrets live there, never in the file) and
``base_dir`` is the directory relative paths are resolved against. Payment providers use the factory.

Entry points are looked up by name rather than with ``pm.load_setuptools_entrypoints``: that registers
every installed package's module as it is, which would make every installed provider active and leave
no way to hand a provider its settings.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy

from app.payments import hookspecs
from app.payments.config import PaymentsConfig, plugins_toml_path, read_config
from app.payments.errors import PluginConfigError
from app.payments.facade import Payments

ENTRY_POINT_GROUP = "inference_billing.payments"
# Payment providers shipped with the service; exactly one provider is registered, the chosen one.
BUILTIN_PROVIDERS: dict[str, str] = {"fake": "providers.fake", "stripe": "providers.stripe"}
# Plugins always registered, first, so that any plugin registered later is asked before them.
BUILTIN_PLUGINS: dict[str, str] = {"default_policies": "app.payments.policies"}


def load_payments(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Payments:
    """Read plugins.toml (``path``, else $PLUGINS_TOML, else the repository's) and build the facade."""
    env = dict(os.environ) if env is None else env
    config = read_config(path or plugins_toml_path(env), known_providers=known_providers())
    manager, provider = build_plugin_manager(config, env=env)
    return Payments(
        manager, provider=provider, provider_name=config.provider, timeout_seconds=config.timeout_seconds
    )


def known_providers() -> list[str]:
    """Names a provider may be chosen by: the built-ins and every installed entry point of the group."""
    names = set(BUILTIN_PROVIDERS) | {ep.name for ep in _entry_points()}
    return sorted(names - set(BUILTIN_PLUGINS))


def build_plugin_manager(
    config: PaymentsConfig, *, env: Mapping[str, str]
) -> tuple[pluggy.PluginManager, object]:
    """Register the default policies, the chosen provider and the listed plugins; check them all."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for name, module in BUILTIN_PLUGINS.items():
        _register(manager, config, name, _instantiate(config, name, importlib.import_module(module), {}, env))

    provider_target = _find_provider(config)
    provider = _instantiate(
        config, config.provider, provider_target, config.settings_for_provider(config.provider), env
    )
    _register(manager, config, f"provider:{config.provider}", provider)

    for name in config.plugins:
        target = _find_plugin(config, name)
        _register(
            manager, config, name, _instantiate(config, name, target, config.settings_for_plugin(name), env)
        )

    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginConfigError(f"{config.path}: plugin {manager.get_name(exc.plugin)!r}: {exc}") from exc
    _refuse_async_impls(manager, config)
    _check_single_provider(manager, config, provider)
    return manager, provider


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    # Through the module attribute, so that tests can stand in an installed package.
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(config: PaymentsConfig, name: str) -> object | None:
    matches = [ep for ep in _entry_points() if ep.name == name]
    if len(matches) > 1:
        values = ", ".join(ep.value for ep in matches)
        raise PluginConfigError(f"{config.path}: several packages declare the plugin {name!r}: {values}")
    if not matches:
        return None
    try:
        target: object = matches[0].load()
        return target
    except Exception as exc:  # any import-time failure of a third-party package is a configuration problem
        raise PluginConfigError(
            f"{config.path}: plugin {name!r} (entry point {matches[0].value!r}) cannot be loaded: {exc!r}"
        ) from exc


def _find_provider(config: PaymentsConfig) -> object:
    if config.provider in BUILTIN_PROVIDERS:
        return importlib.import_module(BUILTIN_PROVIDERS[config.provider])
    target = None if config.provider in BUILTIN_PLUGINS else _load_entry_point(config, config.provider)
    if target is None:
        raise PluginConfigError(
            f"{config.path}: [payments] provider = {config.provider!r} is not a known payment provider "
            f"(known providers: {', '.join(known_providers())}; partners' providers are found by entry "
            f"point in the group {ENTRY_POINT_GROUP!r})"
        )
    return target


def _find_plugin(config: PaymentsConfig, name: str) -> object:
    if name in BUILTIN_PLUGINS or name in BUILTIN_PROVIDERS or name == config.provider:
        raise PluginConfigError(f"{config.path}: [payments] plugins lists {name!r}, which is loaded already")
    target = _load_entry_point(config, name)
    if target is None:
        installed = ", ".join(sorted(ep.name for ep in _entry_points())) or "none"
        raise PluginConfigError(
            f"{config.path}: [payments] plugins lists {name!r}, but no installed package declares it "
            f"in the entry point group {ENTRY_POINT_GROUP!r} (installed: {installed})"
        )
    return target


def _instantiate(
    config: PaymentsConfig, name: str, target: object, settings: Mapping[str, Any], env: Mapping[str, str]
) -> object:
    factory = getattr(target, "make_plugin", None)
    if factory is None:
        if settings:
            raise PluginConfigError(f"{config.path}: plugin {name!r} takes no settings, but some are given")
        return target
    required = tuple(getattr(target, "REQUIRED_ENV", ()))
    optional = tuple(getattr(target, "OPTIONAL_ENV", ()))
    missing = [var for var in required if not env.get(var)]
    if missing:
        raise PluginConfigError(
            f"plugin {name!r} (chosen in {config.path}) needs the environment variable(s) {', '.join(missing)}"
        )
    # A plugin sees only the variables it declared, so that no plugin reads another's secrets by accident.
    declared = {var: env[var] for var in (*required, *optional) if var in env}
    try:
        return factory(settings=dict(settings), env=declared, base_dir=config.base_dir)
    except PluginConfigError as exc:
        section = "providers" if name == config.provider else "plugins"
        raise PluginConfigError(f"{config.path}: [{section}.{name}] {exc}") from exc


def _register(manager: pluggy.PluginManager, config: PaymentsConfig, name: str, plugin: object) -> None:
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginConfigError(
            f"{config.path}: plugin {name!r} does not match the hook specs: {exc}"
        ) from exc
    except ValueError as exc:  # pluggy: the same object or name registered twice
        raise PluginConfigError(f"{config.path}: plugin {name!r} cannot be registered: {exc}") from exc


def _refuse_async_impls(manager: pluggy.PluginManager, config: PaymentsConfig) -> None:
    for hook_name, caller in vars(manager.hook).items():
        for impl in caller.get_hookimpls():
            if inspect.iscoroutinefunction(impl.function):
                raise PluginConfigError(
                    f"{config.path}: plugin {impl.plugin_name!r} implements {hook_name} with 'async def'; "
                    "hook implementations are plain functions that return an awaitable "
                    "(see app/payments/hookspecs.py)"
                )


def _check_single_provider(manager: pluggy.PluginManager, config: PaymentsConfig, provider: object) -> None:
    impls = manager.hook.payment_provider_name.get_hookimpls()
    names = [impl.plugin_name for impl in impls]
    if len(impls) != 1 or impls[0].plugin is not provider:
        raise PluginConfigError(
            f"{config.path}: exactly one payment provider must be active, the chosen {config.provider!r}; "
            f"plugins implementing payment_provider_name: {names or 'none'}"
        )
    answered = impls[0].function()
    if answered != config.provider:
        raise PluginConfigError(
            f"{config.path}: provider {config.provider!r} calls itself {answered!r}; they must be the same"
        )
