"""Misses asked for together are loaded together; a dropped load is not joined; failures reach every asker."""

from __future__ import annotations

import asyncio

import pytest

from app.fleet.batching import Batcher


class Loads:
    """A loader that records each batch it was asked for, and waits for `release` before answering."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.batches.append(keys)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {key: f"{key}@{len(self.batches)}" for key in keys if key != "missing"}


async def test_misses_of_one_moment_are_one_load_and_the_next_ones_wait_for_the_next() -> None:
    loads = Loads()
    batcher = Batcher(loads, name="things", max_batch=3)
    first = [asyncio.create_task(batcher.get(key)) for key in ("a", "b", "a", "missing")]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = asyncio.create_task(batcher.get("c"))  # while the first load is out
    loads.release.set()
    assert await asyncio.gather(*first) == ["a@1", "b@1", "a@1", None]
    assert await later == "c@2"
    assert loads.batches == [["a", "b", "missing"], ["c"]]  # "a" once; at most max_batch a load


async def test_a_dropped_load_is_not_joined_by_later_askers() -> None:
    loads = Loads()
    batcher = Batcher(loads, name="things", max_batch=10)
    before = asyncio.create_task(batcher.get("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert batcher.drop(["a", "b"]) == ["a"]  # it was running
    after = asyncio.create_task(batcher.get("a"))
    loads.release.set()
    assert (await before, await after) == ("a@1", "a@2")  # the asker after the change got a new read


async def test_a_failed_load_reaches_every_asker_and_the_next_ask_loads_again() -> None:
    loads = Loads()
    loads.fail = ConnectionError("database away")
    batcher = Batcher(loads, name="things", max_batch=10)
    batcher.prefetch(["p"])  # nobody awaits it
    askers = [asyncio.create_task(batcher.get(key)) for key in ("a", "b")]
    loads.release.set()
    for asker in askers:
        with pytest.raises(ConnectionError):
            await asker
    loads.fail = None
    assert (await batcher.get("a") or "").startswith("a@")  # the next ask loads again
    assert loads.batches[-1] == ["a"]


async def test_one_asker_giving_up_does_not_cancel_the_load_for_the_others() -> None:
    loads = Loads()
    batcher = Batcher(loads, name="things", max_batch=10)
    impatient = asyncio.create_task(batcher.get("a"))
    patient = asyncio.create_task(batcher.get("a"))
    await asyncio.sleep(0)
    impatient.cancel()
    loads.release.set()
    assert await patient == "a@1"
    assert impatient.cancelled()
