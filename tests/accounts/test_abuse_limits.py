"""Sign-in limits per client and per account: a sprayer is slowed, the owner is not locked out."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from app.clock import FrozenClock
from app.db import Database
from app.domain.accounts import passwords
from app.domain.accounts.clients import Client, client_of
from app.domain.accounts.service import admit_sign_up, sign_in
from app.domain.errors import ErrorCode, Throttled, Unauthenticated
from app.settings import Settings
from tests.support import World

ATTACKER = Client(address="192.0.2.66")
OWNER = Client(address="203.0.113.7")


async def attempt(db: Database, settings: Settings, email: str, password: str, client: Client) -> str:
    try:
        await sign_in(db, email=email, password=password, settings=settings, client=client)
    except Throttled:
        return "throttled"
    except Unauthenticated as exc:
        assert exc.code is ErrorCode.INVALID_CREDENTIALS
        return "wrong"
    return "signed in"


async def test_100_attempts_over_100_addresses_from_one_client_are_slowed(
    database: Database, settings: Settings, world: World, clock: FrozenClock
) -> None:
    answers = [
        await attempt(database, settings, f"victim{i}@example.com", "Summer2026!", ATTACKER)
        for i in range(100)
    ]
    free = settings.sign_in_client_max_failures
    assert answers[:free] == ["wrong"] * free
    assert answers[free:] == ["throttled"] * (100 - free)  # each further attempt must wait, doubling
    # another client is not affected
    assert (
        await attempt(database, settings, "admin@example.com", "correct horse battery", OWNER) == "signed in"
    )


async def test_the_delay_grows_and_lifts(
    database: Database, settings: Settings, world: World, clock: FrozenClock
) -> None:
    free = settings.sign_in_client_max_failures
    for i in range(free):
        await attempt(database, settings, f"v{i}@example.com", "x" * 12, ATTACKER)
    with pytest.raises(Throttled) as first:
        await sign_in(database, email="v@example.com", password="x" * 12, settings=settings, client=ATTACKER)
    assert first.value.retry_after_seconds <= 2
    clock.advance(seconds=2)
    assert await attempt(database, settings, "v@example.com", "x" * 12, ATTACKER) == "wrong"
    with pytest.raises(Throttled) as second:
        await sign_in(database, email="v@example.com", password="x" * 12, settings=settings, client=ATTACKER)
    assert second.value.retry_after_seconds >= 2


async def test_the_owner_signs_in_from_a_known_client_while_an_attacker_fails_on_their_address(
    database: Database, settings: Settings, world: World
) -> None:
    email = "admin@example.com"
    assert await attempt(database, settings, email, "correct horse battery", OWNER) == "signed in"
    for _ in range(settings.sign_in_max_failures):
        assert await attempt(database, settings, email, "guess guess guess", ATTACKER) == "wrong"
    assert await attempt(database, settings, email, "correct horse battery", ATTACKER) == "throttled"
    assert (
        await attempt(database, settings, email, "correct horse battery", Client("198.51.100.9"))
        == "throttled"
    )
    assert await attempt(database, settings, email, "correct horse battery", OWNER) == "signed in"


async def test_parallel_attempts_cannot_slip_past_the_limit_together(
    database: Database, settings: Settings, world: World, clock: FrozenClock
) -> None:
    answers = await asyncio.gather(
        *(attempt(database, settings, f"p{i}@example.com", "x" * 12, ATTACKER) for i in range(40))
    )
    assert answers.count("wrong") == settings.sign_in_client_max_failures


async def test_sign_ups_per_client_are_limited(database: Database, settings: Settings) -> None:
    for i in range(settings.sign_up_client_per_hour):
        await admit_sign_up(database, email=f"new{i}@example.com", settings=settings, client=ATTACKER)
    with pytest.raises(Throttled):
        await admit_sign_up(database, email="one-more@example.com", settings=settings, client=ATTACKER)
    await admit_sign_up(database, email="one-more@example.com", settings=settings, client=OWNER)


def test_the_client_address_comes_from_the_trusted_proxy_header_only_when_configured() -> None:
    headers = {"x-forwarded-for": "10.9.9.9, 203.0.113.7", "user-agent": "curl/8"}
    assert client_of(headers, "10.0.0.2", trusted_header=None) == Client("10.0.0.2", "curl/8")
    assert client_of(headers, "10.0.0.2", trusted_header="X-Forwarded-For") == Client("203.0.113.7", "curl/8")
    assert (
        client_of(headers, "10.0.0.2", trusted_header="X-Forwarded-For", trusted_hops=2).address == "10.9.9.9"
    )
    assert client_of({}, "10.0.0.2", trusted_header="X-Forwarded-For").address == "10.0.0.2"


async def test_password_hashing_runs_off_the_event_loop_on_a_bounded_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each hash runs on the pool's threads, never on the loop's, and no more at once than the pool has."""
    loop_thread, threads, running, most = threading.get_ident(), set(), 0, 0
    lock = threading.Lock()
    real_hash = passwords.hasher.hash

    def hash_and_note(password: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.get_ident())
        try:
            time.sleep(0.005)  # long enough for the hashes to overlap if the pool let them
            return real_hash(password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords, "hasher", SimpleNamespace(hash=hash_and_note))
    await asyncio.gather(*(passwords.hash_password(f"pass {i}") for i in range(20)))
    assert threads and loop_thread not in threads
    assert most <= passwords.HASH_WORKERS
    assert (
        passwords._pool._max_workers == passwords.HASH_WORKERS <= 1 + (__import__("os").cpu_count() or 2) // 2
    )
