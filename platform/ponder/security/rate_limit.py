"""Per-tenant rate limits, weighted by cost: a token bucket of calls and, when the tenant's
limit sets one, a bucket of decoder tokens, both kept in Redis so that every ingress
replica draws from the same buckets (in process memory when no Redis is configured).

A call takes one call and its cost — the most decoder tokens it may generate
(`call_cost.requested_tokens`: Generate's max_tokens, Reason's token budget, which bounds
all of its branches together) — from the tenant's buckets, both or neither. Refused, it
gets ResourceExhausted carrying how long until both are back (sent to the caller as
`retry-after-ms` trailing metadata). A call that costs more than the token bucket holds
can never pass and is refused as InvalidArgument. When Redis fails (down, or full and
refusing writes) the replica's in-memory buckets take over: limits fail safe, not open.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ponder.errors import InvalidArgument, ResourceExhausted
from ponder.security.tokens import RateLimit

log = logging.getLogger(__name__)

# KEYS: the call bucket, the token bucket. ARGV: per bucket rate per s, capacity and
# amount to take (a rate of 0: the bucket is not limited). Redis' own clock, so replicas
# agree. Takes from both or from neither; returns 0 when taken, else the milliseconds
# until both could be.
_TAKE = """#!lua
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local fill = {}
local wait = 0
for i = 1, 2 do
  local rate = tonumber(ARGV[i * 3 - 2]) / 1000
  if rate > 0 then
    local capacity = tonumber(ARGV[i * 3 - 1])
    local amount = tonumber(ARGV[i * 3])
    local state = redis.call('HMGET', KEYS[i], 'tokens', 'ms')
    local tokens = tonumber(state[1]) or capacity
    local last = tonumber(state[2]) or now
    tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
    fill[i] = {tokens, amount, rate, capacity}
    if tokens < amount then
      wait = math.max(wait, math.ceil((amount - tokens) / rate))
    end
  end
end
for i, bucket in pairs(fill) do
  local tokens = bucket[1]
  if wait == 0 then
    tokens = tokens - bucket[2]
  end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ms', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(bucket[4] / bucket[3]) + 1000)
end
return wait
"""


@dataclass(frozen=True)
class _Bucket:
    rate: float  # per second; 0: unlimited
    capacity: float
    amount: float


def _buckets(limit: RateLimit, cost: int) -> tuple[_Bucket, _Bucket]:
    calls = _Bucket(limit.requests_per_s, float(limit.burst), 1.0)
    if limit.tokens_per_s is None or cost <= 0:
        return calls, _Bucket(0.0, 0.0, 0.0)
    return calls, _Bucket(limit.tokens_per_s, float(limit.token_burst_or_default), float(cost))


class RateLimiter:
    """take(tenant, limit, cost) admits a call or raises ResourceExhausted."""

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
        self._local: dict[str, tuple[float, float]] = {}  # bucket key -> (tokens, at)
        self._redis_failing = False

    async def take(self, tenant: str, limit: RateLimit | None, cost: int = 0) -> None:
        """Take one call and `cost` decoder tokens from tenant's buckets."""
        if limit is None:
            return
        calls, tokens = _buckets(limit, cost)
        if tokens.rate and tokens.amount > tokens.capacity:
            raise InvalidArgument(
                "max_tokens",
                f"this call may generate {cost} tokens, more than tenant {tenant!r} may "
                f"spend at once ({tokens.capacity:g}); ask for fewer tokens or branches",
            )
        wait_ms = await self._wait_ms(tenant, calls, tokens)
        if wait_ms > 0:
            budget = f"{limit.requests_per_s:g} calls/s, burst {limit.burst}"
            if tokens.rate:
                budget += f"; {tokens.rate:g} tokens/s, burst {tokens.capacity:g}"
            raise ResourceExhausted(
                f"rate limit of tenant {tenant!r} reached ({budget}; this call may generate "
                f"{cost} tokens); retry in {wait_ms} ms",
                retry_after_s=wait_ms / 1000,
            )

    async def _wait_ms(self, tenant: str, calls: _Bucket, tokens: _Bucket) -> int:
        keys = [f"{self._prefix}:ratelimit:{tenant}", f"{self._prefix}:ratelimit:{tenant}:tokens"]
        if self._script is not None:
            try:
                args = [calls.rate, calls.capacity, calls.amount]
                args += [tokens.rate, tokens.capacity, tokens.amount]
                wait = int(await self._script(keys=keys, args=args))
            except RedisError as error:
                # Fail safe, not open: while Redis cannot answer (down, or out of memory and
                # refusing writes) each replica keeps the buckets in its own memory, so
                # limits stay in force (exact with one ingress replica, at most one bucket
                # per replica with more) and Redis trouble does not take the API down.
                if not self._redis_failing:  # once per outage, not once per call
                    log.warning("rate limits kept in process (Redis: %s)", error)
                self._redis_failing = True
                return self._local_wait_ms(list(zip(keys, (calls, tokens), strict=True)))
            if self._redis_failing:
                log.warning("rate limits back in Redis")
                self._redis_failing = False
            return wait
        return self._local_wait_ms(list(zip(keys, (calls, tokens), strict=True)))

    def _local_wait_ms(self, buckets: list[tuple[str, _Bucket]]) -> int:
        now = self._clock()
        filled: list[tuple[str, float]] = []
        wait_s = 0.0
        for key, bucket in buckets:
            if not bucket.rate:
                continue
            tokens, at = self._local.get(key, (bucket.capacity, now))
            tokens = min(bucket.capacity, tokens + (now - at) * bucket.rate)
            filled.append((key, tokens))
            if tokens < bucket.amount:
                wait_s = max(wait_s, (bucket.amount - tokens) / bucket.rate)
        spent = dict((key, bucket.amount) for key, bucket in buckets)
        for key, tokens in filled:
            self._local[key] = (tokens - (spent[key] if wait_s == 0 else 0.0), now)
        return math.ceil(wait_s * 1000)
