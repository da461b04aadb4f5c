"""The fleet's HTTP surface: the service token, bodies refused before anything is done, the OpenAPI description."""

from __future__ import annotations

import httpx
import pytest

from app.fleet.api import MAX_BODY_BYTES
from tests.conftest import FLEET_TOKEN

ERROR_KEYS = {"message", "type", "param", "code"}
AUTHORIZED = {"Authorization": f"Bearer {FLEET_TOKEN}"}


@pytest.mark.parametrize("path", ["/fleet/v1/admissions", "/fleet/v1/usage"])
@pytest.mark.parametrize("authorization", [None, "Bearer nope", f"Basic {FLEET_TOKEN}", FLEET_TOKEN])
async def test_without_the_service_token_nothing_is_read(
    client: httpx.AsyncClient, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = await client.post(path, content=b"not even json", headers=headers)
    assert answer.status_code == 401
    assert set(answer.json()) == ERROR_KEYS and answer.json()["code"] == "invalid_service_token"


async def test_a_missing_field_is_named(client: httpx.AsyncClient) -> None:
    body = {"api_key": "csk-x", "input_tokens": 1, "max_output_tokens": 1}
    answer = await client.post("/fleet/v1/admissions", json=body, headers=AUTHORIZED)
    assert answer.status_code == 400 and answer.json()["param"] == "model"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    answer = await client.post("/fleet/v1/usage", content=b'{"records": [', headers=AUTHORIZED)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_json"


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/fleet/v1/usage", content=b" " * (MAX_BODY_BYTES + 1), headers=AUTHORIZED)
    assert answer.status_code == 413 and answer.json()["code"] == "request_too_large"


async def test_the_openapi_schema_describes_the_fleet_api(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["components"]["securitySchemes"]["fleetToken"] == {
        "type": "http", "scheme": "bearer", "description": "The fleet's service token (FLEET_TOKEN).",
    }  # fmt: skip
    admit = document["paths"]["/fleet/v1/admissions"]["post"]
    assert admit["security"] == [{"fleetToken": []}] and "Retry-After" in admit["description"]
    body = admit["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["api_key", "model", "input_tokens", "max_output_tokens"]
    assert body["properties"]["max_output_tokens"]["maximum"] == 10_000_000
    assert body["additionalProperties"] is False
    assert set(admit["responses"]) == {"200", "400", "401", "402", "404", "413", "429", "503"}
    assert admit["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Admitted"
    }
    assert set(document["components"]["schemas"]["FleetError"]["properties"]) == ERROR_KEYS

    usage = document["paths"]["/fleet/v1/usage"]["post"]
    one_of = usage["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    record, batch = one_of
    assert record["title"] == "UsageReport" and "output_tokens" in record["properties"]
    assert batch["properties"]["records"]["items"] == record
    assert batch["properties"]["records"]["maxItems"] == 10_000


async def test_the_fleets_posts_skip_the_framework_and_other_methods_reach_it(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litestar.routes.http import HTTPRoute

    routed: list[str] = []
    handle = HTTPRoute.handle

    async def counted(self: HTTPRoute, scope: object, receive: object, send: object) -> None:
        routed.append(self.path)
        await handle(self, scope, receive, send)  # type: ignore[arg-type]

    monkeypatch.setattr(HTTPRoute, "handle", counted)
    auth = {"Authorization": f"Bearer {FLEET_TOKEN}"}
    admitted = await client.post("/fleet/v1/admissions", headers=auth, json={"api_key": "csk-unknown", "model": "m",
                                                                              "input_tokens": 1, "max_output_tokens": 1})  # fmt: skip
    assert admitted.status_code == 401 and admitted.headers["x-request-id"]  # answered, with its request id
    assert (
        await client.post("/fleet/v1/usage", json={})
    ).status_code == 401  # the token is checked there too
    assert routed == []  # Litestar routed neither
    assert (await client.get("/fleet/v1/admissions", headers=auth)).status_code == 405  # Litestar's answer


async def test_a_bug_on_the_fast_path_is_a_500_in_the_fleets_error_shape(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = client._transport.app.state.fleet  # type: ignore[attr-defined]

    async def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fleet, "admit", broken)
    answer = await client.post("/fleet/v1/admissions", headers={"Authorization": f"Bearer {FLEET_TOKEN}"},
                               json={"api_key": "k", "model": "m", "input_tokens": 1, "max_output_tokens": 1})  # fmt: skip
    assert answer.status_code == 500
    assert answer.json() == {"message": "An internal error occurred.", "type": "api_error", "param": None,
                             "code": "internal_error"}  # fmt: skip
