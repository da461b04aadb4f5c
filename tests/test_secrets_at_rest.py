"""A dump of the database holds no password, session token or API key secret in clear."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import SQLModel

from app.db import Database
from tests.support import GraphQL

PASSWORD = "a very particular password 1234"


async def dump(database: Database) -> str:
    """Every row of every table as text."""
    lines = []
    async with database.write_engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in await connection.execute(text(f'SELECT * FROM "{table.name}"')):
                lines.append(f"{table.name}: {tuple(row)}")
    return "\n".join(lines)


async def test_no_secret_is_stored_in_clear(gql: GraphQL, database: Database) -> None:
    signed_up = await gql(
        'mutation($p: String!) { signUp(input: {email: "ada@example.com", password: $p}) '
        "{ ... on SessionPayload { token } } }",
        {"p": PASSWORD},
    )
    token = signed_up["signUp"]["token"]
    signed_in = await gql(
        'mutation($p: String!) { signIn(input: {email: "ada@example.com", password: $p}) '
        "{ ... on SessionPayload { token } } }",
        {"p": PASSWORD},
    )
    me = await gql(
        "{ me { organizations { organization { projects { edges { node { id } } } } } } }", token=token
    )
    project_id = me["me"]["organizations"][0]["organization"]["projects"]["edges"][0]["node"]["id"]
    created = await gql(
        'mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "k"}) { ... on CreateApiKeyPayload { secret } } }',
        {"p": project_id},
        token=token,
    )
    secret = created["createApiKey"]["secret"]
    assert secret.startswith("csk-") and len(secret) >= 44

    contents = await dump(database)
    assert "ada@example.com" in contents  # the dump is real
    for value in (PASSWORD, token, signed_in["signIn"]["token"], secret, secret[4:]):
        assert value not in contents
