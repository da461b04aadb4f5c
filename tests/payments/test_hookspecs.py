"""Every hook has documentation and a test: the spec file is the plugin authors' reference."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.payments import hookspecs
from app.payments.facade import Payments

TESTS = Path(__file__).resolve().parents[1]
# Hooks whose facade method has another name, because the name reads better at the call site.
FACADE_NAMES = {"payment_provider_name": "provider_name", "payments_shutdown": "aclose"}


def hook_specs() -> dict[str, Callable[..., Any]]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {name: value for name, value in vars(hookspecs).items() if hasattr(value, marker)}


def firstresult(spec: Callable[..., Any]) -> bool:
    return bool(getattr(spec, f"{hookspecs.PROJECT_NAME}_spec")["firstresult"])


def test_the_spec_file_has_the_hooks_the_product_needs() -> None:
    assert {
        "payment_provider_name",
        "create_customer",
        "setup_payment_method",
        "attach_payment_method",
        "detach_payment_method",
        "set_default_payment_method",
        "list_payment_methods",
        "charge",
        "refund",
        "update_billing_address",
        "parse_webhook",
        "refund_decision",
        "billing_event",
    } <= set(hook_specs())


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_every_hook_is_documented(name: str) -> None:
    spec = hook_specs()[name]
    doc = inspect.getdoc(spec) or ""
    parameters = inspect.signature(spec).parameters

    missing = [f":param {parameter}:" for parameter in parameters if f":param {parameter}:" not in doc]
    assert doc.splitlines() and not missing, f"{name}: docstring lacks {missing or 'a summary'}"
    assert ":returns:" in doc, f"{name}: docstring lacks :returns:"
    if firstresult(spec):
        assert "first non-None result wins" in doc, (
            f"{name}: firstresult hook must say the first non-None result wins"
        )


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_every_hook_argument_is_passed_to_implementations(name: str) -> None:
    # pluggy silently leaves out spec arguments that have a default value: implementations never get them.
    defaults = [
        p.name for p in inspect.signature(hook_specs()[name]).parameters.values() if p.default is not p.empty
    ]
    assert not defaults, f"{name}: arguments with defaults are not passed to implementations: {defaults}"


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_every_hook_is_tested(name: str) -> None:
    word = re.compile(rf"\b{re.escape(name)}\b")
    sources = [path for path in TESTS.rglob("test_*.py") if path.resolve() != Path(__file__).resolve()]

    assert any(word.search(path.read_text(encoding="utf-8")) for path in sources), (
        f"hook {name} is mentioned by no test under {TESTS}"
    )


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_every_hook_is_reachable_through_the_facade(name: str) -> None:
    assert hasattr(Payments, FACADE_NAMES.get(name, name)), f"Payments has no method for the hook {name}"
