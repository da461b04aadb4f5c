"""The demo data of `python3 dev.py serve`: the printed key is admitted by the fleet's API at once."""

from __future__ import annotations

import re

import httpx

from app.db import Database
from app.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from app.settings import Settings
from tests.conftest import FLEET_TOKEN


async def test_the_demo_key_runs_requests_on_its_credits(
    database: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    lines = await seed_demo(settings)
    assert any(DEMO_EMAIL in line and DEMO_PASSWORD in line for line in lines)
    key = re.search(r"csk-\w+", "\n".join(lines))
    assert key is not None
    admitted = await client.post(
        "/fleet/v1/admissions",
        json={"api_key": key.group(), "model": "gpt-oss-120b", "input_tokens": 10, "max_output_tokens": 100},
        headers={"Authorization": f"Bearer {FLEET_TOKEN}"},
    )
    assert admitted.status_code == 200 and admitted.json()["plan"] == "paygo"
    again = await seed_demo(settings)  # a second start changes nothing and shows no secret
    assert not any("csk-" in line for line in again)
