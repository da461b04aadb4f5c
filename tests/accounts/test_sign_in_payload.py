"""Signing up or in answers with the user and their organizations: the console needs no second round trip."""

from __future__ import annotations

from tests.support import GraphQL

PAYLOAD = """
... on SessionPayload {
  user { email }
  organizations { role organization { name type viewerCan { invite } projects { edges { node { name } } } } }
}
... on Error { code }
"""


async def test_sign_up_and_sign_in_answer_with_the_organizations(gql: GraphQL) -> None:
    signed_up = (
        await gql(
            f"mutation($input: SignUpInput!) {{ signUp(input: $input) {{ __typename {PAYLOAD} }} }}",
            {"input": {"email": "ada@example.com", "password": "correct horse battery"}},
        )
    )["signUp"]
    personal = {
        "role": "ORGANIZATION_ADMIN",
        "organization": {
            "name": "Personal",
            "type": "PERSONAL",
            "viewerCan": {"invite": False},
            "projects": {"edges": [{"node": {"name": "Default"}}]},
        },
    }
    assert signed_up == {
        "__typename": "SessionPayload",
        "user": {"email": "ada@example.com"},
        "organizations": [personal],
    }
    signed_in = (
        await gql(
            f"mutation($input: SignInInput!) {{ signIn(input: $input) {{ __typename {PAYLOAD} }} }}",
            {"input": {"email": "ADA@example.com", "password": "correct horse battery"}},
        )
    )["signIn"]
    assert signed_in["organizations"] == [personal]


async def test_a_failed_sign_in_reads_nothing(gql: GraphQL) -> None:
    refused = (
        await gql(
            f"mutation($input: SignInInput!) {{ signIn(input: $input) {{ __typename {PAYLOAD} }} }}",
            {"input": {"email": "nobody@example.com", "password": "correct horse battery"}},
        )
    )["signIn"]
    assert refused == {"__typename": "UnauthenticatedError", "code": "INVALID_CREDENTIALS"}
