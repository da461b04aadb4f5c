"""Usage reports are checked against their admission, and one bad record never fails its neighbours."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from app.db import Database
from app.domain.usage.models import UsageMinute, UsageRecord
from app.fleet.tokens import Admission, new_nonce
from app.fleet.usage import UsageItem
from tests.conftest import FLEET_TOKEN
from tests.fleet.conftest import Fleet
from tests.support import GraphQL, World

PRICE_IN, PRICE_OUT = 350, 750  # gpt-oss-120b, nano-dollars per token


def record(
    admission_id: str, request_id: str, input_tokens: Any = 10, output_tokens: Any = 5
) -> dict[str, Any]:
    return {"request_id": request_id, "admission_id": admission_id, "model": "gpt-oss-120b",
            "input_tokens": input_tokens, "output_tokens": output_tokens}  # fmt: skip


async def admission(fleet: Fleet, key: str, **kwargs: Any) -> str:
    answer = await fleet.admit(key, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()["admission_id"]  # type: ignore[no-any-return]


async def stored(database: Database) -> list[tuple[str, str]]:
    async with database.transaction() as session:
        rows = await session.execute(select(UsageRecord.organization_id, UsageRecord.request_id))
        return sorted((org, request_id) for org, request_id in rows)


async def test_request_ids_are_unique_per_organization_only(
    fleet: Fleet, personal_key: str, acme_key: str, database: Database, world: World
) -> None:
    ours = await fleet.report([record(await admission(fleet, acme_key), "chat-1")])
    theirs = await fleet.report([record(await admission(fleet, personal_key), "chat-1")])
    assert (
        ours.json()["results"] == theirs.json()["results"] == [{"request_id": "chat-1", "status": "accepted"}]
    )
    assert [org for org, _ in await stored(database)].count(world.acme_id) == 1
    assert len(await stored(database)) == 2  # another organization's id never marks ours a duplicate


async def test_one_admission_bills_one_request(fleet: Fleet, acme_key: str, database: Database) -> None:
    admitted = await admission(fleet, acme_key)
    first = await fleet.report([record(admitted, "a-1")])
    assert first.json()["results"] == [{"request_id": "a-1", "status": "accepted"}]
    again = await fleet.report([record(admitted, "a-1"), record(admitted, "a-2")])
    repeat, second = again.json()["results"]
    assert repeat == {"request_id": "a-1", "status": "duplicate"}
    assert (second["request_id"], second["code"], second["param"]) == (
        "a-2",
        "admission_already_used",
        "admission_id",
    )
    assert "'a-1'" in second["message"]
    # the same within one batch: the first request of an admission is billed, the next refused
    fresh = await admission(fleet, acme_key)
    batch = (await fleet.report([record(fresh, "b-1"), record(fresh, "b-2")])).json()["results"]
    assert batch[0] == {"request_id": "b-1", "status": "accepted"}
    assert batch[1]["code"] == "admission_already_used"
    assert [request_id for _, request_id in await stored(database)] == ["a-1", "b-1"]


async def test_tokens_over_the_reservation_are_billed_and_taken_from_the_limits(
    fleet: Fleet, personal_key: str, database: Database
) -> None:
    admitted = await admission(fleet, personal_key, input_tokens=1, max_output_tokens=1)
    answer = await fleet.report([record(admitted, "long", input_tokens=1, output_tokens=20_001)])
    assert answer.json()["results"] == [
        {"request_id": "long", "status": "accepted", "over_reservation_tokens": 20_000}
    ]
    async with database.transaction() as session:
        row = await session.scalar(select(UsageRecord).where(UsageRecord.request_id == "long"))
    assert row is not None and row.cost_nanos == PRICE_IN + 20_001 * PRICE_OUT
    # the free tier's 60,000 tokens per minute: 2 reserved, then 20,000 more taken when the usage came
    probe = await fleet.admit(personal_key, input_tokens=1, max_output_tokens=0)
    assert 39_990 <= int(probe.headers["x-ratelimit-remaining-tokens-minute"]) <= 40_100


async def test_implausible_token_counts_are_refused(fleet: Fleet, acme_key: str, database: Database) -> None:
    admitted = await admission(fleet, acme_key, input_tokens=1, max_output_tokens=1)
    answer = await fleet.report([record(admitted, "huge", input_tokens=1, output_tokens=5_000_000)])
    (result,) = answer.json()["results"]
    assert (result["code"], result["param"]) == ("implausible_tokens", "output_tokens")
    assert "131,072" in result["message"]
    assert await stored(database) == []
    # the admission is still unused: the fleet may report the request's real figures
    ok = await fleet.report([record(admitted, "huge", input_tokens=1, output_tokens=1)])
    assert ok.json()["results"] == [{"request_id": "huge", "status": "accepted"}]


async def test_whole_numbers_written_with_a_fraction_are_integers(fleet: Fleet, acme_key: str) -> None:
    admitted = await admission(fleet, acme_key)
    answer = await fleet.report([record(admitted, "float", input_tokens=172.0, output_tokens=1e1)])
    assert answer.json()["results"] == [{"request_id": "float", "status": "accepted"}]
    refused = await fleet.report([record(await admission(fleet, acme_key), "half", input_tokens=172.5)])
    assert refused.status_code == 400 and refused.json()["param"] == "input_tokens"


async def test_a_bad_record_is_refused_alone(fleet: Fleet, acme_key: str, database: Database) -> None:
    records = [record(await admission(fleet, acme_key), f"good-{n}") for n in range(100)]
    records.insert(37, record(await admission(fleet, acme_key), "bad\x00id"))
    results = (await fleet.report(records)).json()["results"]
    assert [r.get("status") for r in results].count("accepted") == 100
    assert (results[37]["code"], results[37]["param"]) == ("invalid_request", "request_id")
    assert len(await stored(database)) == 100


async def test_a_record_the_database_refuses_fails_no_neighbour(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    """Straight to the group commit, past the edge's checks: PostgreSQL refuses a NUL, SQLite stores it."""
    writer = client.app.state.fleet.writer  # type: ignore[attr-defined]

    def item(request_id: str) -> UsageItem:
        granted = Admission(world.acme_id, world.project_a_id, world.key_a_id, "gpt-oss-120b", "free", 20,
                            0, new_nonce())  # fmt: skip
        return UsageItem(request_id, "adm_test", granted, 10, 5)

    items = [item(f"good-{n}") for n in range(100)]
    items.insert(51, item("bad\x00id"))
    statuses = await writer.submit(items)
    if database.is_sqlite:
        assert statuses == ["accepted"] * 101
        return
    assert statuses.count("accepted") == 100 and statuses[51] == "refused"
    code, message = items[51].refusal
    assert code == "unstorable_record" and "0x00" in message
    await writer.fold()
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 100
        assert await session.scalar(select(func.sum(UsageMinute.requests))) == 100


async def test_malformed_bodies_are_400(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {FLEET_TOKEN}", "content-type": "application/json"}
    deep = b"[" * 5_000 + b"]" * 5_000
    bodies = (b"42", b'"text"', b"\xff\xfe", b"[" * 100_000, b'{"records": []}', b'{"request_id": "\\ud800"}',
              b'{"records": ' + deep + b"}", b'{"api_key": ' + deep + b"}")  # fmt: skip
    for path in ("/fleet/v1/usage", "/fleet/v1/admissions"):
        for body in bodies:
            answer = await client.post(path, content=body, headers=headers)
            assert answer.status_code == 400, (path, body[:20], answer.text)
            assert answer.json()["type"] == "invalid_request_error"


async def test_usage_checks_hold_through_graphql_graphs(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str
) -> None:
    """A refused record is in no graph: the roll-ups hold only what was accepted."""
    admitted = await admission(fleet, acme_key)
    await fleet.report([record(admitted, "g-1"), record(admitted, "g-2")])
    await fleet.fold()
    data = await gql(
        'query($o: ID!) { usage(input: {organizationId: $o, from: "2026-01-01T00:00:00Z", '
        'to: "2027-01-01T00:00:00Z", granularity: DAY}) { ... on UsageSeries { points { requests } } } }',
        {"o": world.gid("Organization", world.acme_id)},
        token=world.token("admin"),
    )
    assert data["usage"] == {"points": [{"requests": 1}]}
