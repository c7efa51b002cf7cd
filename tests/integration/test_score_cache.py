"""RedisScoreCache against a real redis-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ponder.config import RedisConfig
from ponder.reasoning.cache import CacheUnavailable, RedisScoreCache, score_key
from ponder.redis_client import connect
from ponder.redis_server import LocalRedis

pytestmark = pytest.mark.integration


def test_round_trip_versioned_keys_and_outage(tmp_path: Path) -> None:
    redis = LocalRedis(data_dir=tmp_path).start()
    try:
        cache = RedisScoreCache(connect(RedisConfig(url=redis.url)), ttl_s=60)

        async def scenario() -> None:
            k1, k2 = score_key("v1", "p", "a"), score_key("v2", "p", "a")
            assert k1 != k2
            assert await cache.get_many([k1, k2]) == [None, None]
            await cache.put_many({k1: 0.25})
            assert await cache.get_many([k1, k2]) == [0.25, None]
            redis.stop()
            with pytest.raises(CacheUnavailable):
                await cache.get_many([k1])
            with pytest.raises(CacheUnavailable):
                await cache.put_many({k1: 0.5})
            await cache.close()

        asyncio.run(scenario())
    finally:
        redis.stop()


def test_scores_survive_a_redis_restart(tmp_path: Path) -> None:
    redis = LocalRedis(data_dir=tmp_path).start()
    try:

        async def write() -> None:
            cache = RedisScoreCache(connect(RedisConfig(url=redis.url)), ttl_s=600)
            await cache.put_many({"ponder:score:v1:p:x": 0.75})
            await asyncio.sleep(1.5)  # appendfsync everysec
            await cache.close()

        asyncio.run(write())
        port = redis.port
        redis.stop()
        redis = LocalRedis(data_dir=tmp_path, port=port, password=redis.password).start()

        async def read() -> list[float | None]:
            cache = RedisScoreCache(connect(RedisConfig(url=redis.url)), ttl_s=600)
            try:
                return await cache.get_many(["ponder:score:v1:p:x"])
            finally:
                await cache.close()

        assert asyncio.run(read()) == [0.75]
    finally:
        redis.stop()
