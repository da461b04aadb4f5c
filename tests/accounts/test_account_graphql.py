"""The account as the console drives it over GraphQL: sessions, reset by email, profile, abuse limits."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.notifications.models import OutboxMessage
from app.domain.notifications.service import revealed
from tests.support import GraphQL, World

STATUS = "{ sessionStatus }"
SESSIONS = "{ mySessions { __typename ... on UserSessions { sessions { id userAgent clientAddress current lastUsedAt } } ... on Error { code } } }"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(input: {email: $e}) { __typename ... on RequestPasswordResetPayload { message } ... on Error { code } } }"
RESET = """mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, newPassword: $p}) {
  __typename ... on SessionPayload { token user { email } } ... on Error { code field } } }"""
CHANGE = """mutation($c: String!, $p: String!) { changePassword(input: {currentPassword: $c, newPassword: $p}) {
  __typename ... on ChangePasswordPayload { endedSessions } ... on Error { code field message } } }"""
END = "mutation($id: ID!) { endSession(input: {sessionId: $id}) { __typename ... on EndSessionsPayload { endedSessions } ... on Error { code } } }"
PROFILE = 'mutation { updateProfile(input: {name: "Ada Lovelace"}) { __typename ... on UpdateProfilePayload { user { name } } } }'
SIGN_IN = """mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) {
  __typename ... on SessionPayload { token } ... on TooManyAttemptsError { retryAfterSeconds } ... on Error { code } } }"""
SIGN_UP = """mutation($e: String!, $p: String!) { signUp(input: {email: $e, password: $p}) {
  __typename ... on SessionPayload { token } ... on Error { code field message } } }"""


async def reset_tokens(db: Database) -> list[str]:
    async with db.reader() as session:
        messages = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == "password_reset")
            .order_by(OutboxMessage.created_at)
        )
        texts = [revealed(message)[0] for message in messages]  # tokens are sealed at rest
    return [m.group(1) for text in texts if (m := re.search(r"token=([A-Za-z0-9_-]+)", text))]


async def test_the_console_tells_an_expired_session_from_a_bad_token(
    clock: FrozenClock, gql: GraphQL, world: World
) -> None:
    token = world.token("admin")
    assert (await gql(STATUS))["sessionStatus"] == "NONE"
    assert (await gql(STATUS, token=token))["sessionStatus"] == "ACTIVE"
    assert (await gql(STATUS, token="not-a-token"))["sessionStatus"] == "INVALID"
    clock.advance(days=15)
    assert (await gql(STATUS, token=token))["sessionStatus"] == "EXPIRED"
    assert (await gql(SESSIONS, token=token))["mySessions"] == {
        "__typename": "UnauthenticatedError",
        "code": "SESSION_EXPIRED",
    }


async def test_own_sessions_are_listed_with_their_browser_and_can_be_ended(
    gql: GraphQL, client: httpx.AsyncClient, world: World
) -> None:
    headers = {"User-Agent": "Firefox/140", "X-Forwarded-For": "203.0.113.7"}
    body = {"query": SIGN_IN, "variables": {"e": "admin@example.com", "p": "correct horse battery"}}
    other = (await client.post("/graphql", json=body, headers=headers)).json()["data"]["signIn"]["token"]
    listed = (await gql(SESSIONS, token=world.token("admin")))["mySessions"]["sessions"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    firefox = next(s for s in listed if s["userAgent"] == "Firefox/140")
    assert firefox["clientAddress"] == "203.0.113.7" and firefox["lastUsedAt"]
    ended = (await gql(END, {"id": firefox["id"]}, token=world.token("admin")))["endSession"]
    assert ended == {"__typename": "EndSessionsPayload", "endedSessions": 1}
    assert (await gql(STATUS, token=other))["sessionStatus"] == "INVALID"
    # someone else's session ID is not found
    mine = (await gql(SESSIONS, token=world.token("outsider")))["mySessions"]["sessions"][0]["id"]
    assert (await gql(END, {"id": mine}, token=world.token("admin")))["endSession"]["code"] == "NOT_FOUND"
    assert (await gql(PROFILE, token=world.token("admin")))["updateProfile"]["user"]["name"] == "Ada Lovelace"


async def test_password_reset_by_email_over_graphql(
    gql: GraphQL, database: Database, world: World, clock: FrozenClock
) -> None:
    known = (await gql(REQUEST_RESET, {"e": "admin@example.com"}))["requestPasswordReset"]
    unknown = (await gql(REQUEST_RESET, {"e": "nobody@example.com"}))["requestPasswordReset"]
    assert known == unknown and known["__typename"] == "RequestPasswordResetPayload"
    [token] = await reset_tokens(database)
    done = (await gql(RESET, {"t": token, "p": "mauve tractor sings at dawn"}))["resetPassword"]
    assert done["__typename"] == "SessionPayload" and done["user"]["email"] == "admin@example.com"
    assert (await gql(STATUS, token=world.token("admin")))[
        "sessionStatus"
    ] == "INVALID"  # signed out elsewhere
    again = (await gql(RESET, {"t": token, "p": "another fine passphrase"}))["resetPassword"]
    assert again == {"__typename": "InvalidInputError", "code": "RESET_LINK_INVALID", "field": "token"}
    weak = await gql(CHANGE, {"c": "mauve tractor sings at dawn", "p": "password1234"}, token=done["token"])
    assert weak["changePassword"]["code"] == "WEAK_PASSWORD" and weak["changePassword"]["field"] == "password"


async def test_a_weak_password_is_refused_at_sign_up(gql: GraphQL) -> None:
    answer: dict[str, Any] = (await gql(SIGN_UP, {"e": "new@example.com", "p": "a" * 12}))["signUp"]
    assert (answer["code"], answer["field"]) == ("WEAK_PASSWORD", "password")
    assert "easy to guess" in answer["message"]


async def test_100_sign_ins_over_100_addresses_from_one_client_are_slowed_and_the_owner_still_gets_in(
    gql: GraphQL, client: httpx.AsyncClient, world: World, clock: FrozenClock
) -> None:
    async def sign_in(email: str, password: str, address: str) -> str:
        body = {"query": SIGN_IN, "variables": {"e": email, "p": password}}
        answer = (await client.post("/graphql", json=body, headers={"X-Forwarded-For": address})).json()
        return str(answer["data"]["signIn"]["__typename"])

    await sign_in("admin@example.com", "correct horse battery", "203.0.113.7")  # the owner's usual client
    spray = [await sign_in(f"user{i}@example.com", "Winter2026!!", "192.0.2.66") for i in range(100)]
    assert spray.count("UnauthenticatedError") == 20 and spray.count("TooManyAttemptsError") == 80
    for _ in range(10):  # on the owner's address, from another client
        await sign_in("admin@example.com", "guess guess guess", "192.0.2.77")
    assert await sign_in("admin@example.com", "correct horse battery", "192.0.2.77") == "TooManyAttemptsError"
    assert await sign_in("admin@example.com", "correct horse battery", "203.0.113.7") == "SessionPayload"
