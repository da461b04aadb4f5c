"""Admission keys live in the database: created once, shared, rotated with the previous kept for the admission lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import update

from app.db import Database
from app.fleet.keys import load_keys, rotate_key
from app.fleet.models import AdmissionKey
from app.fleet.service import build_fleet
from app.fleet.tokens import Admission, new_nonce
from app.services import Services
from app.settings import Settings


async def test_every_process_on_the_database_signs_with_the_same_key(
    database: Database, database_url: str
) -> None:
    first, previous = await load_keys(database, 600)
    other = Database(database_url)  # another replica, or this one after a restart
    try:
        assert await load_keys(other, 600) == (first, previous) and previous == []
    finally:
        await other.dispose()
    assert len(first) == 32


async def test_a_rotated_key_keeps_verifying_for_the_admission_lifetime(database: Database) -> None:
    old, _ = await load_keys(database, 600)
    assert await rotate_key(database) == 2
    new, previous = await load_keys(database, 600)
    assert new != old and previous == [old]
    async with database.transaction() as session:  # the admission lifetime (and the margin) went by
        await session.execute(
            update(AdmissionKey)
            .where(AdmissionKey.id == 1)
            .values(retired_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert await load_keys(database, 600) == (new, [])


async def test_a_configured_key_replaced_keeps_verifying_as_the_previous_one(
    database: Database, services: Services, settings: Settings
) -> None:
    before = build_fleet(
        database, services, settings.model_copy(update={"fleet_admission_key": SecretStr("old")})
    )
    after = build_fleet(database, services, settings.model_copy(
        update={"fleet_admission_key": SecretStr("new"), "fleet_admission_previous_key": SecretStr("old")}
    ))  # fmt: skip
    admission = Admission("org_1", "proj_1", "key_1", "gpt-oss-120b", "paygo", 10, 1_796_284_246, new_nonce())
    signed_before = before.admissions.codec.encode(admission)
    assert after.admissions.codec.decode(signed_before) == admission
    assert before.admissions.codec.decode(after.admissions.codec.encode(admission)) is None
