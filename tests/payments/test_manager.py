"""plugins.toml and the plugin manager: bad files are named, built-ins and partners load the same way."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.payments import hookimpl, load_payments
from app.payments.config import plugins_toml_path
from app.payments.errors import PluginConfigError
from tests.payments.partner import FAKE, charge, partner_package

WriteToml = Callable[[str], Path]
Install = Callable[..., None]

# plugins.toml ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '[payments]\nprovider = "nope"\n',
            ["'nope' is not a known payment provider", "known providers: fake"],
        ),
        ('[providers.fake]\nstate_path = "x.json"\n', ["missing [payments]", "known providers: fake"]),
        ('[payments\nprovider = "fake"', ["not valid TOML"]),
        ("[payments]\nprovider = 3\n", ["[payments] provider must be"]),
        (
            '[payments]\nprovider = "fake"\ntimeout_seconds = "soon"\n',
            ["timeout_seconds must be a positive number"],
        ),
        ('[payments]\nprovider = "fake"\nplugins = "acme"\n', ["plugins must be a list"]),
        ('[payments]\nprovider = "fake"\nprovdier = "x"\n', ["unknown key(s) ['provdier'] in [payments]"]),
        ('payments = "fake"\n', ["payments must be a table"]),
        ('[payments]\nprovider = "fake"\n[stripe]\nx = 1\n', ["unknown top-level key(s) ['stripe']"]),
        ('[payments]\nprovider = "fake"\nproviders = 1\n', ["unknown key(s) ['providers']"]),
        ('[payments]\nprovider = "fake"\n[providers]\nfake = 1\n', ["[providers.fake] must be a table"]),
        (
            '[payments]\nprovider = "fake"\n[providers.fake]\nstate_path = 3\n',
            ["[providers.fake] state_path must be"],
        ),
        (
            '[payments]\nprovider = "fake"\n[providers.fake]\nstate_pth = "x"\n',
            ["[providers.fake] unknown setting"],
        ),
        (
            '[payments]\nprovider = "fake"\n[providers.fake]\nlatency_seconds = -1\n',
            ["latency_seconds must not"],
        ),
    ],
)
def test_a_bad_plugins_toml_is_refused_with_the_problem_named(
    write_plugins_toml: WriteToml, text: str, named: list[str]
) -> None:
    path = write_plugins_toml(text)

    with pytest.raises(PluginConfigError) as refused:
        load_payments(path, env={})

    assert str(path) in str(refused.value)
    for words in named:
        assert words in str(refused.value)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[providers.stripe]\napi_key = "sk_test_123"', "providers.stripe.api_key"),
        ('[providers.stripe]\nwebhook_secret = "x"', "providers.stripe.webhook_secret"),
        ('[providers.fake]\npassword = "hunter2"', "providers.fake.password"),
        ('[plugins.acme]\nkey = "sk_live_abc"', "plugins.acme.key"),
        ('[plugins.acme]\nkeys = ["whsec_abc"]', "plugins.acme.keys"),
    ],
)
def test_a_secret_in_plugins_toml_is_refused(write_plugins_toml: WriteToml, table: str, key: str) -> None:
    path = write_plugins_toml(f'[payments]\nprovider = "fake"\n{table}\n')

    with pytest.raises(PluginConfigError, match="looks like a secret") as refused:
        load_payments(path, env={})

    assert f"'{key}'" in str(refused.value) and "environment" in str(refused.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PluginConfigError, match="file not found"):
        load_payments(tmp_path / "absent.toml", env={})


def test_the_file_comes_from_PLUGINS_TOML_else_the_repository(write_plugins_toml: WriteToml) -> None:
    path = write_plugins_toml(FAKE)

    assert plugins_toml_path({"PLUGINS_TOML": str(path)}) == path
    assert plugins_toml_path({}) == Path(__file__).resolve().parents[2] / "plugins.toml"
    assert load_payments(env={"PLUGINS_TOML": str(path)}).provider_name == "fake"


def test_the_repository_plugins_toml_chooses_the_fake_provider() -> None:
    payments = load_payments(env={})

    assert payments.provider_name == "fake"
    assert payments.plugin_names == ("default_policies", "provider:fake")


# One provider, found by name -------------------------------------------------------------------


async def test_a_partners_provider_is_found_by_its_entry_point_name(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    package = partner_package(OPTIONAL_ENV=("ACME_KEY",))
    installed_plugins(acme=package)
    path = write_plugins_toml('[payments]\nprovider = "acme"\n')

    payments = load_payments(path, env={"ACME_KEY": "k", "OTHER_SECRET": "not for acme"})

    [acme] = package.created
    assert acme.env == {"ACME_KEY": "k"}  # only what it declared
    assert payments.provider_name == "acme" and payments.provider is acme
    assert (await charge(payments)).charge_ref == "acme-k-1"


def test_an_installed_provider_that_is_not_chosen_is_not_loaded(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    package = partner_package()
    installed_plugins(acme=package)

    payments = load_payments(write_plugins_toml(FAKE), env={})

    assert package.created == []
    assert payments.plugin_names == ("default_policies", "provider:fake")


def test_known_providers_include_installed_entry_points(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    installed_plugins(acme=partner_package())

    with pytest.raises(PluginConfigError, match="known providers: acme, fake"):
        load_payments(write_plugins_toml('[payments]\nprovider = "zzz"\n'), env={})


def test_a_required_environment_variable_is_named_when_missing(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    installed_plugins(acme=partner_package(REQUIRED_ENV=("ACME_API_KEY",)))

    with pytest.raises(PluginConfigError, match="needs the environment variable.*ACME_API_KEY"):
        load_payments(write_plugins_toml('[payments]\nprovider = "acme"\n'), env={})


def test_a_second_payment_provider_is_refused(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    installed_plugins(rogue=SimpleNamespace(payment_provider_name=hookimpl(lambda: "rogue")))
    path = write_plugins_toml(
        '[payments]\nprovider = "fake"\nplugins = ["rogue"]\n[providers.fake]\nstate_path = ""\n'
    )

    with pytest.raises(PluginConfigError, match="exactly one payment provider must be active"):
        load_payments(path, env={})


def test_a_provider_must_say_its_name_and_the_same_one(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    installed_plugins(
        silent=SimpleNamespace(make_plugin=lambda **_: SimpleNamespace()),
        liar=partner_package(),
    )

    with pytest.raises(PluginConfigError, match="payment_provider_name: none"):
        load_payments(write_plugins_toml('[payments]\nprovider = "silent"\n'), env={})
    with pytest.raises(PluginConfigError, match="calls itself 'acme'"):
        load_payments(write_plugins_toml('[payments]\nprovider = "liar"\n'), env={})


def test_a_plugin_that_cannot_be_imported_is_named(
    write_plugins_toml: WriteToml, monkeypatch: pytest.MonkeyPatch
) -> None:
    def entry_points(**_: str) -> list[importlib.metadata.EntryPoint]:
        return [
            importlib.metadata.EntryPoint("broken", "no_such_package.plugin", "inference_billing.payments")
        ]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    with pytest.raises(PluginConfigError, match="'broken'.*cannot be loaded"):
        load_payments(write_plugins_toml('[payments]\nprovider = "broken"\n'), env={})


def test_an_unknown_extra_plugin_is_named(write_plugins_toml: WriteToml) -> None:
    path = write_plugins_toml('[payments]\nprovider = "fake"\nplugins = ["nothere"]\n')

    with pytest.raises(PluginConfigError, match="lists 'nothere', but no installed package declares it"):
        load_payments(path, env={})


# Every hook implementation matches a spec ----------------------------------------------------------


@pytest.mark.parametrize(
    ("plugin", "problem"),
    [
        (SimpleNamespace(refund_decisoin=hookimpl(lambda org_id: None)), "unknown hook 'refund_decisoin'"),
        (SimpleNamespace(refund_decision=hookimpl(lambda org_id, charge_id: None)), "charge_id"),
        (SimpleNamespace(billing_event=hookimpl(lambda event, org_id: None)), "event"),
    ],
)
def test_a_hook_implementation_that_matches_no_spec_is_refused(
    write_plugins_toml: WriteToml, installed_plugins: Install, plugin: object, problem: str
) -> None:
    installed_plugins(partner=plugin)
    path = write_plugins_toml(
        '[payments]\nprovider = "fake"\nplugins = ["partner"]\n[providers.fake]\nstate_path = ""\n'
    )

    with pytest.raises(PluginConfigError) as refused:
        load_payments(path, env={})

    assert "partner" in str(refused.value) and problem in str(refused.value)


def test_an_async_def_hook_implementation_is_refused(
    write_plugins_toml: WriteToml, installed_plugins: Install
) -> None:
    async def refund_decision(org_id: str) -> None:
        return None

    installed_plugins(partner=SimpleNamespace(refund_decision=hookimpl(refund_decision)))
    path = write_plugins_toml(
        '[payments]\nprovider = "fake"\nplugins = ["partner"]\n[providers.fake]\nstate_path = ""\n'
    )

    with pytest.raises(PluginConfigError, match="implements refund_decision with 'async def'"):
        load_payments(path, env={})
