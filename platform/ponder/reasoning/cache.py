"""Score cache in Redis: keys carry the scorer version, problem hash and path prefix hash;
values are the prefix's own part of the scorer's logit (see paths.CONTEXT_FEATURES).

All keys a scoring pass needs are read in one MGET and the misses written in one
pipeline. Redis being down never fails a request: the cache is bypassed and that is
logged once per outage.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from ponder.telemetry.tracing import span

log = logging.getLogger(__name__)


class ScoreCache(Protocol):
    async def get_many(self, keys: list[str]) -> list[float | None]: ...

    async def put_many(self, values: dict[str, float]) -> None: ...


def score_key(scorer_version: str, problem_hash: str, prefix_hash: str, partition: str = "") -> str:
    """The key of one path prefix's score. `partition` keeps callers apart (the tenant, the
    decoder set and the adapter, hashed: `cache_partition`), so a cache hit never tells one
    tenant that another asked the same problem, and scores never cross models."""
    return f"ponder:score:{partition or 'all'}:{scorer_version}:{problem_hash}:{prefix_hash}"


def cache_partition(tenant: str, model: str, adapter: str | None) -> str:
    return hashlib.sha256(f"{tenant}\x00{model}\x00{adapter or ''}".encode()).hexdigest()[:16]


@dataclass
class CacheCounters:
    hits: int = 0
    misses: int = 0
    bypassed: int = 0


class NoScoreCache:
    """Used when no Redis is configured: every lookup misses."""

    async def get_many(self, keys: list[str]) -> list[float | None]:
        return [None] * len(keys)

    async def put_many(self, values: dict[str, float]) -> None:
        return None


class RedisScoreCache:
    """ScoreCache over a redis.asyncio client (give it short socket timeouts)."""

    def __init__(self, client: Redis, ttl_s: int) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._down = False

    def _failed(self, error: Exception) -> None:
        if not self._down:
            log.warning("score cache bypassed, Redis unavailable: %s", type(error).__name__)
        self._down = True

    async def get_many(self, keys: list[str]) -> list[float | None]:
        if not keys:
            return []
        try:
            with span("redis.mget", keys=len(keys)):
                raw = await self._client.mget(keys)
        except Exception as error:  # any Redis/network failure: bypass, never fail
            self._failed(error)
            raise CacheUnavailable from error
        if self._down:
            log.info("score cache reachable again")
            self._down = False
        return [float(v) if v is not None else None for v in raw]

    async def put_many(self, values: dict[str, float]) -> None:
        if not values:
            return
        try:
            with span("redis.set", keys=len(values)):
                async with self._client.pipeline(transaction=False) as pipe:
                    for key, value in values.items():
                        pipe.set(key, repr(value), ex=self._ttl_s)
                    await pipe.execute()
        except Exception as error:
            self._failed(error)
            raise CacheUnavailable from error

    async def close(self) -> None:
        await self._client.aclose()


class CacheUnavailable(Exception):
    """The cache could not be reached; the caller scores without it."""
