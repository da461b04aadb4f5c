"""Strings, lists and page arguments from outside are checked where they enter: clear errors, never internal ones."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from strawberry.relay import to_base64

from app.asgi import create_app
from app.db import Database
from app.services import Services
from app.settings import Settings
from tests.support import GraphQL, World

RENAME = "mutation($input: RenameOrganizationInput!) { renameOrganization(input: $input) { __typename } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


async def test_a_nul_in_a_variable_is_refused_naming_it(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    body = await gql.raw(
        RENAME, {"input": {"organizationId": acme, "name": "Ac\x00me"}}, token=world.token("admin")
    )
    assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"]
    assert "$input.name" in body["errors"][0]["message"]
    name = await gql("query($id: ID!) { node(id: $id) { ... on Organization { name } } }", {"id": acme},
                     token=world.token("admin"))  # fmt: skip
    assert name["node"]["name"] == "Acme"


async def test_a_nul_in_a_string_literal_is_refused(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    query = f'mutation {{ renameOrganization(input: {{organizationId: "{acme}", name: "Ac\\u0000me"}}) {{ __typename }} }}'
    body = await gql.raw(query, token=world.token("admin"))
    assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"]


async def test_a_lone_surrogate_is_a_bad_request(client: httpx.AsyncClient, world: World) -> None:
    body = b'{"query": "{ __typename }", "variables": {"name": "\\ud800"}}'
    answer = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400


@pytest.mark.parametrize("inner", ["Project:\x00", "Organization:org\x00x", "ApiKey:\x00\x00"])
async def test_a_nul_hidden_in_a_global_id_is_not_found(gql: GraphQL, world: World, inner: str) -> None:
    """Base64 hides the NUL from the edge's string check: the ID's own decoding refuses it."""
    global_id = to_base64(*inner.split(":", 1))
    body = await gql.raw(
        "query($id: ID!) { node(id: $id) { id } }", {"id": global_id}, token=world.token("admin")
    )
    assert "INTERNAL_SERVER_ERROR" not in codes(body), body
    assert body["data"] in (None, {"node": None})
    mutation = await gql.raw(
        "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename ... on Error { code field } } }",
        {"input": {"projectId": global_id, "name": "k"}},
        token=world.token("admin"),
    )
    assert "INTERNAL_SERVER_ERROR" not in codes(mutation), mutation


USAGE = """
query($input: UsageInput!) { usage(input: $input) { __typename ... on Error { code field message } } }
"""


async def test_list_filters_have_a_maximum_length(
    gql: GraphQL, world: World, client: httpx.AsyncClient
) -> None:
    window = {"organizationId": world.gid("Organization", world.acme_id), "from": "2026-11-01T00:00:00Z",
              "to": "2026-11-02T00:00:00Z", "granularity": "HOUR"}  # fmt: skip
    many = await gql(
        USAGE, {"input": {**window, "models": [f"m{n}" for n in range(101)]}}, token=world.token("admin")
    )
    assert many["usage"]["__typename"] == "InvalidInputError"
    assert (many["usage"]["code"], many["usage"]["field"]) == ("TOO_LONG", "models")
    huge = json.dumps({"query": USAGE, "variables": {"input": {**window, "models": ["m"] * 40_000}}})
    answer = await client.post("/graphql", content=huge, headers={"content-type": "application/json",
                                                                  "Authorization": f"Bearer {world.token('admin')}"})  # fmt: skip
    assert answer.status_code == 413


PAGE = "query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Organization { projects(first: $first, after: $after) { edges { node { name } } } } } }"  # noqa: E501


@pytest.mark.parametrize(
    ("first", "after", "argument"),
    [
        (-1, None, "first"),
        (101, None, "first"),
        (10, "not a cursor", "after"),
        (10, "YXJyYXljb25uZWN0aW9uOmFiYw==", "after"),  # "arrayconnection:abc"
        (10, "a2V5c2V0Olsid2hhdCJd", "after"),  # "keyset:[\"what\"]"
    ],
)
async def test_page_arguments_are_checked_naming_the_argument(
    gql: GraphQL, world: World, first: int, after: str | None, argument: str
) -> None:
    variables = {"id": world.gid("Organization", world.acme_id), "first": first, "after": after}
    body = await gql.raw(PAGE, variables, token=world.token("admin"))
    assert body["errors"], body
    assert "INTERNAL_SERVER_ERROR" not in codes(body), body
    assert argument in body["errors"][0]["message"], body["errors"][0]["message"]


async def test_a_literal_page_size_is_checked_before_execution(gql: GraphQL, world: World) -> None:
    query = "{ me { organizations { organization { projects(last: 1000) { edges { node { name } } } } } } }"
    body = await gql.raw(query, token=world.token("admin"))
    assert (
        body["data"] is None
        and "Argument 'last' of 'projects' must be from 0 to 100" in body["errors"][0]["message"]
    )


async def test_without_introspection_no_field_is_suggested(
    settings: Settings, database: Database, services: Services
) -> None:
    closed = settings.model_copy(update={"graphql_introspection": False, "graphql_ide": False})
    app = create_app(closed, database=database, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        answer = await http.post("/graphql", json={"query": "{ mee { id } }"})
        message = answer.json()["errors"][0]["message"]
        assert "Cannot query field 'mee'" in message and "Did you mean" not in message
        variables = await http.post(
            "/graphql", json={"query": "mutation($i: SignInInput!) { signIn(input: $i) { __typename } }",
                              "variables": {"i": {"emial": "a@example.com", "password": "x"}}},
        )  # fmt: skip
        assert "Did you mean" not in json.dumps(variables.json())
        assert (await http.get("/schema/openapi.json")).status_code == 404
        assert (await http.get("/schema")).status_code == 404
        introspection = await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        assert introspection.json()["data"] is None
    await app.state.fleet.stop()


async def test_with_introspection_suggestions_and_the_schema_stay(client: httpx.AsyncClient) -> None:
    answer = await client.post("/graphql", json={"query": "{ mee { id } }"})
    assert "Did you mean 'me'?" in answer.json()["errors"][0]["message"]
    assert (await client.get("/schema/openapi.json")).status_code == 200
