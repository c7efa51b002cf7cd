"""Per-tenant rate limits: a token bucket per tenant, kept in Redis so that every ingress
replica draws from the same bucket (in process memory when no Redis is configured).

The bucket refills at requests_per_s up to burst; a call takes one token or is refused
with ResourceExhausted carrying how long until a token is back (sent to the caller as
`retry-after-ms` trailing metadata). When Redis fails (down, or full and refusing
writes) the replica's in-memory bucket takes over: limits fail safe, not open.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ponder.errors import ResourceExhausted
from ponder.security.tokens import RateLimit

log = logging.getLogger(__name__)

# KEYS: bucket. ARGV: rate per s, burst. Redis' own clock, so replicas agree.
# Returns 0 when a token was taken, else the milliseconds until one is back.
_TAKE = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ms', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
"""


class RateLimiter:
    """take(tenant, limit) admits a call or raises ResourceExhausted."""

    def __init__(
        self,
        redis: Redis | None,
        key_prefix: str = "ponder",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock
        self._script = redis.register_script(_TAKE) if redis is not None else None
        self._local: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)

    async def take(self, tenant: str, limit: RateLimit | None) -> None:
        if limit is None:
            return
        wait_ms = await self._wait_ms(tenant, limit)
        if wait_ms > 0:
            raise ResourceExhausted(
                f"rate limit of tenant {tenant!r} reached ({limit.requests_per_s:g}/s, "
                f"burst {limit.burst}); retry in {wait_ms} ms",
                retry_after_s=wait_ms / 1000,
            )

    async def _wait_ms(self, tenant: str, limit: RateLimit) -> int:
        if self._script is not None:
            try:
                key = f"{self._prefix}:ratelimit:{tenant}"
                return int(await self._script(keys=[key], args=[limit.requests_per_s, limit.burst]))
            except RedisError as error:
                # Fail safe, not open: while Redis cannot answer (down, or out of memory and
                # refusing writes) each replica keeps the bucket in its own memory, so
                # limits stay in force (exact with one ingress replica, at most one bucket
                # per replica with more) and Redis trouble does not take the API down.
                log.warning("rate limit kept in process (Redis: %s)", type(error).__name__)
        return self._local_wait_ms(tenant, limit)

    def _local_wait_ms(self, tenant: str, limit: RateLimit) -> int:
        now = self._clock()
        tokens, at = self._local.get(tenant, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.requests_per_s)
        if tokens >= 1:
            self._local[tenant] = (tokens - 1, now)
            return 0
        self._local[tenant] = (tokens, now)
        return math.ceil((1 - tokens) / limit.requests_per_s * 1000)
