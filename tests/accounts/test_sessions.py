"""Sign-up, sign-in, sessions: what the console does before anything else."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.support import GraphQL

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    __typename
    ... on SessionPayload { token expiresAt user { id email name } }
    ... on Error { code message field }
  }
}
"""
SIGN_IN = """
mutation($input: SignInInput!) {
  signIn(input: $input) {
    __typename
    ... on SessionPayload { token user { email } }
    ... on TooManyAttemptsError { retryAfterSeconds }
    ... on Error { code message field }
  }
}
"""
ME = """
{ me { user { email } isStaff sessionExpiresAt
       organizations { role organization { name type organizationId projects { edges { node { name isDefault } } } } } } }
"""
SIGN_OUT = "mutation($input: SignOutInput!) { signOut(input: $input) { __typename ... on SignOutPayload { revokedSessions } ... on Error { code } } }"


async def sign_up(gql: GraphQL, email: str, password: str = "correct horse battery", name: str = "") -> dict:
    data = await gql(SIGN_UP, {"input": {"email": email, "password": password, "name": name}})
    return data["signUp"]  # type: ignore[no-any-return]


async def test_sign_up_creates_personal_organization_with_default_project(gql: GraphQL) -> None:
    result = await sign_up(gql, "Ada@Example.com", name="Ada")
    assert result["__typename"] == "SessionPayload"
    assert len(result["token"]) >= 43  # 256 bits, URL-safe base64

    me = (await gql(ME, token=result["token"]))["me"]
    assert me["user"]["email"] == "Ada@Example.com"
    [membership] = me["organizations"]
    assert membership["role"] == "ORGANIZATION_ADMIN"
    assert membership["organization"]["type"] == "PERSONAL"
    assert membership["organization"]["projects"]["edges"] == [
        {"node": {"name": "Default", "isDefault": True}}
    ]


async def test_email_is_unique_whatever_its_case(gql: GraphQL) -> None:
    await sign_up(gql, "ada@example.com")
    again = await sign_up(gql, "ADA@EXAMPLE.COM")
    assert again["__typename"] == "ConflictError"
    assert again["code"] == "EMAIL_TAKEN"
    assert again["field"] == "email"


async def test_bad_sign_up_input_gets_typed_errors(gql: GraphQL) -> None:
    cases = [
        ({"email": "not-an-email", "password": "long enough password"}, "INVALID_EMAIL", "email"),
        ({"email": "a@" + "x" * 300 + ".com", "password": "long enough password"}, "INVALID_EMAIL", "email"),
        ({"email": "bob@example.com", "password": "short"}, "TOO_SHORT", "password"),
        ({"email": "bob@example.com", "password": "p" * 2000}, "TOO_LONG", "password"),
        (
            {"email": "bob@example.com", "password": "long enough password", "name": "n" * 500},
            "TOO_LONG",
            "name",
        ),
    ]
    for payload, code, field in cases:
        result = await sign_up(gql, payload["email"], payload["password"], payload.get("name", ""))
        assert result["__typename"] == "InvalidInputError", payload
        assert (result["code"], result["field"]) == (code, field)


async def test_sign_in_and_sign_out(gql: GraphQL) -> None:
    await sign_up(gql, "ada@example.com")
    signed_in = (
        await gql(SIGN_IN, {"input": {"email": "ADA@example.com", "password": "correct horse battery"}})
    )["signIn"]
    assert signed_in["__typename"] == "SessionPayload"
    token = signed_in["token"]
    assert (await gql(ME, token=token))["me"]["user"]["email"] == "ada@example.com"

    out = (await gql(SIGN_OUT, {"input": {}}, token=token))["signOut"]
    assert out == {"__typename": "SignOutPayload", "revokedSessions": 1}
    assert (await gql(ME, token=token))["me"] is None
    again = (await gql(SIGN_OUT, {"input": {}}, token=token))["signOut"]
    assert again["__typename"] == "UnauthenticatedError"


async def test_sign_out_everywhere_ends_every_session(gql: GraphQL) -> None:
    first = (await sign_up(gql, "ada@example.com"))["token"]
    second = (
        await gql(SIGN_IN, {"input": {"email": "ada@example.com", "password": "correct horse battery"}})
    )["signIn"]["token"]
    out = (await gql(SIGN_OUT, {"input": {"everywhere": True}}, token=second))["signOut"]
    assert out["revokedSessions"] == 2
    assert (await gql(ME, token=first))["me"] is None


async def test_wrong_password_and_unknown_email_look_the_same(gql: GraphQL) -> None:
    await sign_up(gql, "ada@example.com")
    wrong = (await gql(SIGN_IN, {"input": {"email": "ada@example.com", "password": "wrong password!"}}))[
        "signIn"
    ]
    unknown = (await gql(SIGN_IN, {"input": {"email": "nobody@example.com", "password": "wrong password!"}}))[
        "signIn"
    ]
    assert (
        wrong
        == unknown
        == {
            "__typename": "UnauthenticatedError",
            "code": "INVALID_CREDENTIALS",
            "message": "Wrong email or password.",
            "field": None,
        }
    )


async def test_repeated_failures_lock_the_address_for_other_clients_then_it_opens_again(
    gql: GraphQL, client: httpx.AsyncClient, clock
) -> None:  # type: ignore[no-untyped-def]
    await sign_up(gql, "ada@example.com")  # from 127.0.0.1: a client Ada is known from
    attacker = {"X-Forwarded-For": "192.0.2.66"}

    async def sign_in_from(headers: dict[str, str], password: str) -> dict:
        body = {"query": SIGN_IN, "variables": {"input": {"email": "ada@example.com", "password": password}}}
        return (await client.post("/graphql", json=body, headers=headers)).json()["data"]["signIn"]  # type: ignore[no-any-return]

    for _ in range(5):
        assert (await sign_in_from(attacker, "wrong password!"))["code"] == "INVALID_CREDENTIALS"
    locked = await sign_in_from(attacker, "correct horse battery")
    assert locked["__typename"] == "TooManyAttemptsError"
    assert 0 < locked["retryAfterSeconds"] <= 15 * 60 + 1
    owner = await sign_in_from({}, "correct horse battery")  # the owner is not kept out
    assert owner["__typename"] == "SessionPayload"

    clock.advance(minutes=16)
    opened = await sign_in_from(attacker, "correct horse battery")
    assert opened["__typename"] == "SessionPayload"


async def test_expired_session_says_so(gql: GraphQL, clock) -> None:  # type: ignore[no-untyped-def]
    token = (await sign_up(gql, "ada@example.com"))["token"]
    clock.advance(days=15)
    assert (await gql(ME, token=token))["me"] is None
    create = 'mutation { createOrganization(input: {name: "Acme"}) { __typename ... on Error { code } } }'
    assert (await gql(create, token=token))["createOrganization"] == {
        "__typename": "UnauthenticatedError",
        "code": "SESSION_EXPIRED",
    }
    assert timedelta(days=15)
