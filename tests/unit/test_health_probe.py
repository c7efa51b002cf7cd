"""The shared health probe: one downstream call per ttl, however many checks arrive."""

from __future__ import annotations

import asyncio

from ponder.health_probe import SharedProbe


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_checks_asks_the_decoder_once_per_ttl() -> None:
    clock = Clock()
    calls: list[float] = []
    healthy = True

    async def decoder() -> None:
        calls.append(clock.now)
        await asyncio.sleep(0.01)
        if not healthy:
            raise RuntimeError("replica gone")

    async def scenario() -> None:
        nonlocal healthy
        probe = SharedProbe(decoder, timeout_s=1.0, ttl_s=1.0, clock=clock)
        answers = await asyncio.gather(*(probe.healthy() for _ in range(500)))
        assert all(answers) and len(calls) == 1  # one in flight, shared by all 500
        assert await probe.healthy() and len(calls) == 1  # fresh: no call
        healthy = False
        clock.now = 1.5
        assert not await probe.healthy() and len(calls) == 2
        assert not await probe.healthy() and len(calls) == 2  # a failure is reused too
        healthy = True
        clock.now = 3.0
        assert await probe.healthy() and probe.probes == 3

    asyncio.run(scenario())


def test_a_hung_decoder_is_not_serving_after_the_timeout() -> None:
    async def hangs() -> None:
        await asyncio.sleep(60)

    async def scenario() -> None:
        probe = SharedProbe(hangs, timeout_s=0.05, ttl_s=0.0)
        assert not await probe.healthy()

    asyncio.run(scenario())


def test_a_caller_that_goes_away_does_not_cancel_the_shared_probe() -> None:
    async def slow() -> None:
        await asyncio.sleep(0.05)

    async def scenario() -> None:
        probe = SharedProbe(slow, timeout_s=1.0, ttl_s=10.0)
        impatient = asyncio.ensure_future(probe.healthy())
        patient = asyncio.ensure_future(probe.healthy())
        await asyncio.sleep(0.01)
        impatient.cancel()
        assert await patient and probe.probes == 1

    asyncio.run(scenario())
