"""The schema as GraphiQL users meet it: exported to schema.graphql, and documented everywhere."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)

from app.graphql.schema import build_schema
from app.settings import get_settings

schema = build_schema(get_settings())
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def test_schema_graphql_is_the_exported_schema() -> None:
    exported = schema.as_str() + "\n"
    assert SCHEMA_FILE.read_text() == exported, (
        "schema.graphql is out of date: run `.venv/bin/python -m app.cli export-schema`"
    )


def undocumented() -> list[str]:
    missing = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        elif isinstance(graphql_type, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, v in graphql_type.values.items() if not v.description]
        else:
            assert isinstance(graphql_type, (GraphQLScalarType, GraphQLUnionType))
    return missing


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    assert undocumented() == []
