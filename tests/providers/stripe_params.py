"""Stripe's request parameters as the pinned SDK declares them: the stand-in refuses anything else.

The official SDK ships, for the API version it pins, a TypedDict per resource method in
``stripe.params`` (``PaymentIntentCreateParams``, …): which names exist at every depth, which are
required, which values a field takes. A request is checked against them after Stripe's form
encoding is decoded, so an unknown or removed parameter (``payment_method_types`` on a SetupIntent
since 2026-09-30) or a missing required one is answered 400, as Stripe answers it.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

import stripe.params
import typing_extensions
from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject

# what a request may carry besides its parameters: the SDK's options travel in headers, never the body
_OPTIONS = frozenset(RequestOptions.__annotations__)


class ParameterError(Exception):
    """A parameter the pinned API version does not take, or a required one missing."""

    def __init__(self, message: str, *, param: str, code: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def params_class(name: str) -> type:
    """The TypedDict ``stripe.params.<name>`` (the SDK loads them lazily)."""
    return typing.cast(type, getattr(stripe.params, name))


@functools.cache
def _fields(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """The TypedDict's fields with their types resolved, and its required names (request options left out)."""
    own = {name: hint for name, hint in cls.__annotations__.items() if name not in _OPTIONS}
    holder = types.SimpleNamespace(__annotations__=own)
    module = vars(sys.modules[cls.__module__])
    hints = typing.get_type_hints(holder, globalns=module, include_extras=True)
    required = frozenset(getattr(cls, "__required_keys__", frozenset()) - _OPTIONS)
    return hints, required


def check(cls: type, params: dict[str, Any]) -> None:
    """Raise ParameterError unless the decoded form parameters fit the TypedDict ``cls``."""
    _check_dict(cls, params, "")


def _check_dict(cls: type, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise ParameterError(
            f"Invalid object: {path} must be a hash", param=path, code="parameter_invalid_object"
        )
    hints, required = _fields(cls)
    for name in value:
        if name not in hints:
            where = _join(path, name)
            raise ParameterError(
                f"Received unknown parameter: {where}", param=where, code="parameter_unknown"
            )
    for name in sorted(required - set(value)):
        where = _join(path, name)
        raise ParameterError(f"Missing required param: {where}.", param=where, code="parameter_missing")
    for name, item in value.items():
        _check_value(hints[name], item, _join(path, name))


def _check_value(hint: Any, value: Any, path: str) -> None:
    origin = get_origin(hint)
    if origin in (Required, NotRequired):
        _check_value(get_args(hint)[0], value, path)
    elif origin in (Union, types.UnionType):
        problems = []
        for option in get_args(hint):
            try:
                _check_value(option, value, path)
                return
            except ParameterError as problem:
                problems.append(problem)
        # an unknown name inside an object is the most telling of the reasons
        raise next((p for p in problems if p.code == "parameter_unknown"), problems[0])
    elif origin is Literal:
        allowed = [_encoded(option) for option in get_args(hint)]
        if value not in allowed:
            raise ParameterError(
                f"Invalid {path}: must be one of {', '.join(a or '(empty)' for a in allowed)}",
                param=path,
                code="parameter_invalid_string" if isinstance(value, str) else "parameter_invalid_object",
            )
    elif origin is list:
        if not isinstance(value, list):
            raise ParameterError(f"Invalid array: {path}", param=path, code="parameter_invalid_array")
        for index, item in enumerate(value):
            _check_value(get_args(hint)[0], item, f"{path}[{index}]")
    elif origin is dict or origin is UntypedStripeObject:
        if not isinstance(value, dict):
            raise ParameterError(
                f"Invalid object: {path} must be a hash", param=path, code="parameter_invalid_object"
            )
    elif typing_extensions.is_typeddict(hint):
        _check_dict(hint, value, path)
    else:
        _check_scalar(hint, value, path)


def _check_scalar(hint: Any, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise ParameterError(f"Invalid {path}: a value is expected", param=path, code="parameter_invalid")
    if hint is bool and value not in {"true", "false"}:
        raise ParameterError(f"Invalid boolean: {value}", param=path, code="parameter_invalid_boolean")
    if hint is int and not value.lstrip("-").isdigit():
        raise ParameterError(f"Invalid integer: {value}", param=path, code="parameter_invalid_integer")


def _encoded(option: Any) -> str:
    """A literal as Stripe's form encoding sends it."""
    if isinstance(option, bool):
        return "true" if option else "false"
    return str(option)


def _join(path: str, name: str) -> str:
    return f"{path}[{name}]" if path else name
