"""What reaches GraphQL from outside is checked first: the body's shape, and every string in it.

No database stores a NUL character or half of a surrogate pair (PostgreSQL refuses them, and the
error would surface as an internal one), so a string holding one is refused where it enters:
in the variables, or as a literal in the document. A malformed body is a 400, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
from cross_web import HTTPException
from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
BAD_TEXT = "BAD_USER_INPUT"


def decode_body(data: str | bytes) -> dict[str, Any]:
    """The JSON body of a GraphQL request: an object, else a 400 saying what is wrong."""
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise HTTPException(400, f"The body is not valid JSON in UTF-8: {exc}") from None
    except RecursionError:
        raise HTTPException(400, "The body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "The body must be a JSON object with `query` and, optionally, `variables`.")
    return value


def unstorable_text(value: Any, path: str) -> str | None:
    """The path of the first string in `value` holding a NUL or a lone surrogate, or None."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return where
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
            stack.extend((k, f"{where} (a key)") for k in item if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def variable_errors(variables: dict[str, Any] | None) -> list[GraphQLError]:
    """An error for each variable holding a string that no database could store."""
    errors = []
    for name, value in (variables or {}).items():
        where = unstorable_text(value, f"${name}")
        if where is not None:
            errors.append(_refusal(f"The variable {where} holds a NUL character or an invalid code point."))
    return errors


def literal_errors(document: DocumentNode) -> list[GraphQLError]:
    """An error for each string literal of the document that no database could store."""
    return [
        _refusal("A string in the query holds a NUL character or an invalid code point.", node)
        for node in _string_literals(document)
        if _UNSTORABLE.search(node.value)
    ]


def _refusal(message: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": BAD_TEXT})


def _string_literals(document: DocumentNode) -> Iterator[StringValueNode]:
    found: list[StringValueNode] = []

    class Strings(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            found.append(node)

    visit(document, Strings())
    return iter(found)


_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Drop graphql-core's "Did you mean …?" hints: with introspection off they would reveal the schema."""
    for error in errors:
        error.message = _SUGGESTION.sub("", error.message)


def storable(text: str) -> bool:
    """Whether a database can store this text (no NUL, no lone surrogate)."""
    return _UNSTORABLE.search(text) is None


def page_argument_error(error: BaseException) -> str | None:
    """What Strawberry's list connection refused of after/before/first/last, or None for any other error.

    It raises plain ValueError / TypeError (a bad base64 cursor, "arrayconnection:x"), which would
    read as internal errors: they are recognised by where they were raised.
    """
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if (
            frame.f_code.co_name == "from_arguments"
            and frame.f_globals.get("__name__") == "strawberry.relay.utils"
        ):
            message = str(error)
            return (
                message
                if message.startswith("Argument '")
                else "Argument 'after' or 'before' is not a cursor this list gave out."
            )
        traceback = traceback.tb_next
    return None
