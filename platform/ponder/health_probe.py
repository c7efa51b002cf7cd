"""A health probe shared by every caller: however many health checks arrive, the
downstream (a decoder replica) is asked at most once per `ttl_s`, and checks that arrive
while a probe is in flight wait for that one. Health calls need no token, so without this
a flood of them would be a flood of decoder calls."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class SharedProbe:
    """healthy() answers from the last probe while it is fresh, else probes once."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        timeout_s: float,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._clock = clock
        self._answer: tuple[float, bool] | None = None  # (when, healthy)
        self._in_flight: asyncio.Task[bool] | None = None
        self.probes = 0  # downstream calls made, for tests and metrics

    async def healthy(self) -> bool:
        if self._answer is not None and self._clock() - self._answer[0] < self._ttl_s:
            return self._answer[1]
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self._run())
        # shield: a caller that goes away does not cancel the probe the others wait for
        return await asyncio.shield(self._in_flight)

    async def _run(self) -> bool:
        self.probes += 1
        try:
            await asyncio.wait_for(self._probe(), timeout=self._timeout_s)
            healthy = True
        except Exception as error:  # any failure means not serving; report, don't raise
            log.warning("health probe failed: %s", type(error).__name__)
            healthy = False
        finally:
            self._in_flight = None
        self._answer = (self._clock(), healthy)
        return healthy
