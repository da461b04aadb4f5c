"""JSON log lines: one request id ties a request's lines and comes back in the answer; no secret in any line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from app.asgi import create_app
from app.db import Database
from app.domain.notifications.mailer import deliver_due
from app.observability.logs import scrub
from app.services import Services
from app.settings import Settings
from tests.conftest import FLEET_TOKEN
from tests.fleet.conftest import Fleet, buy_credits, new_key
from tests.invitations.support import invite_one, queued_token
from tests.support import GraphQL, World

Lines = Callable[[], list[dict[str, Any]]]

PASSWORD = "Sup3r-Secret-Passw0rd!"
CARD = "4242 4242 4242 4242"
SIGN_UP = """mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { ... on SessionPayload { token } ... on Error { code } } }"""


@pytest.fixture
def json_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"log_format": "json", "log_level": "INFO"})


@pytest.fixture
async def client(
    json_settings: Settings, database: Database, services: Services, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app logging JSON lines to the captured stderr."""
    app = create_app(json_settings, database=database, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http
    await app.state.fleet.stop()


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]) -> Lines:
    """Every JSON log line written so far (what an operator's log shipper reads)."""
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        seen.extend(json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{"))
        return seen

    return read


async def test_a_graphql_request_s_lines_share_its_id_and_name_its_operation(
    client: httpx.AsyncClient, lines: Lines
) -> None:
    variables = {"input": {"email": "not-an-email", "password": "long enough password"}}
    answer = await client.post(
        "/graphql",
        json={"query": SIGN_UP, "variables": variables, "operationName": "SignUp"},
        headers={"X-Request-ID": "console-7f3a"},
    )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "console-7f3a"
    mine = [line for line in lines() if line.get("request_id") == "console-7f3a"]
    access = [line for line in mine if line["logger"] == "app.access"]
    assert len(access) == 1 and access[0]["status"] == 200 and access[0]["path"] == "/graphql"
    assert access[0]["operation"] == "SignUp" and access[0]["level"] == "INFO" and access[0]["time"]


async def test_a_fleet_request_gets_an_id_and_its_organization(
    client: httpx.AsyncClient,
    lines: Lines,
    gql: GraphQL,
    world: World,
    database: Database,
    settings: Settings,
) -> None:
    await buy_credits(database, client_payments(client), settings, world, "10.00")
    key = await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))
    answer = await Fleet(client).admit(key)
    request_id = answer.headers["x-request-id"]
    assert answer.status_code == 200 and len(request_id) == 32
    mine = [line for line in lines() if line.get("request_id") == request_id]
    assert [line["path"] for line in mine if line["logger"] == "app.access"] == ["/fleet/v1/admissions"]
    assert {line["organization_id"] for line in mine} == {world.acme_id}
    # a caller's id that is not a sane token is replaced, not logged
    odd = await Fleet(client).http.get("/healthz", headers={"X-Request-ID": "x" * 65})
    assert len(odd.headers["x-request-id"]) == 32


def client_payments(client: httpx.AsyncClient) -> Any:
    return client._transport.app.state.services.payments  # type: ignore[attr-defined]


async def test_a_masked_error_s_correlation_id_is_on_its_log_line(
    client: httpx.AsyncClient, lines: Lines, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr("app.domain.orgs.service.memberships_of", broken)
    answer = await client.post(
        "/graphql",
        json={"query": "query Me { me { organizations { role } } }"},
        headers={"Authorization": f"Bearer {world.token('admin')}"},
    )
    correlation_id = answer.json()["errors"][0]["extensions"]["correlationId"]
    assert correlation_id == answer.headers["x-request-id"]
    errors = [line for line in lines() if line.get("correlation_id") == correlation_id]
    assert len(errors) == 1 and errors[0]["level"] == "ERROR" and errors[0]["operation"] == "Me"
    assert "the database fell over" in errors[0]["exc_info"]


async def test_an_outage_inside_a_resolver_is_service_unavailable_not_a_bug(
    client: httpx.AsyncClient, lines: Lines, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def cut_off(*_: Any, **__: Any) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr("app.domain.orgs.service.memberships_of", cut_off)
    answer = await client.post(
        "/graphql",
        json={"query": "query Me { me { organizations { role } } }"},
        headers={"Authorization": f"Bearer {world.token('admin')}"},
    )
    (error,) = answer.json()["errors"]
    assert error["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "correlationId": answer.headers["x-request-id"],
    }
    assert "retry shortly" in error["message"]
    logged = [line for line in lines() if line.get("correlation_id") == answer.headers["x-request-id"]]
    assert len(logged) == 1 and "service unavailable" in logged[0]["message"] and "exc_info" not in logged[0]


async def test_no_secret_reaches_the_logs(
    client: httpx.AsyncClient,
    lines: Lines,
    gql: GraphQL,
    world: World,
    database: Database,
    json_settings: Settings,
) -> None:
    signed_up = await gql(SIGN_UP, {"input": {"email": "new@example.com", "password": PASSWORD}})
    session_token = signed_up["signUp"]["token"]
    await gql("query Me { me { user { id } } }", token=session_token)
    await client.post(
        "/graphql",
        json={"query": "{ me { user { id } } }"},
        headers={"Authorization": "Bearer " + "forged-token-1234567"},
    )
    # secrets where they do not belong: echoed back by validation errors
    await gql.raw(SIGN_UP, {"input": {"email": ["x"], "password": PASSWORD}})
    await gql.raw("query Card($card: Int) { __typename }", {"card": CARD})
    await gql.raw(
        "query Card($cardNumber: Int, $cvc: Int) { __typename }",
        {"cardNumber": "4000056655665556", "cvc": "123x"},
    )
    await gql.raw(SIGN_UP, {"input": {"email": "c@example.com", "password": PASSWORD, "card": CARD}})
    # an API key at work, and thrown at the fleet API wrongly
    await buy_credits(database, client_payments(client), json_settings, world, "10.00")
    api_key = await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))
    await Fleet(client).admit(api_key)
    await client.post(
        "/fleet/v1/admissions",
        content=f'{{"api_key": "{api_key}", "model": 5',
        headers={"Authorization": f"Bearer {FLEET_TOKEN}"},
    )
    await client.post(
        "/fleet/v1/admissions", json={"api_key": api_key}, headers={"Authorization": f"Bearer {api_key}"}
    )
    await client.get(f"/healthz?api_key={api_key}", headers={"X-Request-ID": api_key.replace("_", "-")})
    # an invitation whose link is logged instead of mailed (no SMTP)
    await invite_one(gql, world, "guest@example.com")
    tokens = [await queued_token(database, "guest@example.com")]
    await deliver_due(database, json_settings)

    text = "\n".join(json.dumps(line) for line in lines())
    for secret in [PASSWORD, session_token, "forged-token-1234567", api_key, api_key[4:], FLEET_TOKEN, CARD, "4242424242424242", "4000056655665556", *tokens]:  # fmt: skip
        assert secret not in text, f"{secret!r} is in the logs"
    assert "app.access" in text and "Email" in text


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ('{"password": "hunter2hunter2"}', "hunter2hunter2"),
        ("card 4242-4242-4242-4242 declined", "4242-4242-4242-4242"),
        ("key csk-AbC123xyz789", "AbC123xyz789"),
        ("STRIPE_SECRET_KEY=sk_live_51Habcdef", "51Habcdef"),
        ("https://console/accept?token=s3cr3t-link-token", "s3cr3t-link-token"),
    ],
)
def test_the_scrubber_masks_what_looks_like_a_credential(line: str, hidden: str) -> None:
    assert hidden not in scrub(line)


def test_the_scrubber_leaves_ordinary_numbers() -> None:
    assert scrub("balance 25000000000000 nanos, 1234567890123 requests") == (
        "balance 25000000000000 nanos, 1234567890123 requests"
    )
