"""Redis as a shared, bounded resource (real redis-server, no Ray): Ponder's ACL user, a
record stored once within its tenant's quota, cost-weighted rate limits taken from both
buckets or neither, and a full Redis that refuses cleanly — limits stay in force and no
acknowledged outcome is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.exceptions import NoPermissionError, RedisError, ResponseError

from ponder.config import RedisConfig
from ponder.errors import ResourceExhausted
from ponder.learning.outcome_log import Keys, OutcomeLog
from ponder.learning.records import Outcome, now_ms
from ponder.redis_client import connect
from ponder.redis_server import LocalRedis
from ponder.security.rate_limit import RateLimiter
from ponder.security.tokens import RateLimit
from tests.integration.test_learning_log import _record

pytestmark = pytest.mark.integration


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(data_dir=tmp_path, maxmemory_mb=8).start()
    try:
        yield server
    finally:
        server.stop()


def test_ponders_user_reaches_only_its_keys_and_commands(redis: LocalRedis) -> None:
    client = SyncRedis.from_url(redis.url)
    assert client.set("ponder:probe", 1) and client.get("ponder:probe") == b"1"
    with pytest.raises(NoPermissionError):
        client.set("elsewhere", 1)  # keys outside ponder:*
    with pytest.raises(NoPermissionError):
        client.delete("ponder:probe")  # DEL only on a registry's candidate
    assert client.delete("ponder:ranker:acme:candidate") == 0
    for command in (("SCRIPT", "FLUSH"), ("FLUSHALL",), ("ACL", "LIST"), ("FUNCTION", "LIST")):
        with pytest.raises(ResponseError):
            client.execute_command(*command)
    with pytest.raises(ResponseError):  # a script is held to the same rules
        client.eval("return redis.call('DEL', 'ponder:probe')", 0)
    with pytest.raises(RedisError):  # nobody knows the default user's password
        SyncRedis(port=redis.port, password=redis.password).ping()
    client.close()


def test_a_record_is_stored_once_and_within_its_tenants_quota(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = connect(RedisConfig(url=redis.url))
        rng = random.Random(0)
        size = len(dataclasses.replace(_record("r-0", rng), tenant="acme").to_json())
        log = OutcomeLog(client, retention_s=3600, tenant_quota_bytes=3 * size + size // 2)
        for i in range(3):
            await log.record(dataclasses.replace(_record(f"r-{i}", rng), tenant="acme"))
        with pytest.raises(ResourceExhausted, match="quota"):
            await log.record(dataclasses.replace(_record("r-3", rng), tenant="acme"))
        await log.record(dataclasses.replace(_record("r-4", rng), tenant="other"))  # own quota
        # The stream keeps who reasoned when, not a second copy of the record.
        entries = await client.xrange(Keys().reasonings_stream)
        assert len(entries) == 4
        assert all(set(fields) == {b"reasoning_id", b"tenant"} for _, fields in entries)
        await client.aclose()

    asyncio.run(scenario())


def test_both_buckets_or_neither_in_redis(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = connect(RedisConfig(url=redis.url))
        limiter = RateLimiter(client)
        limit = RateLimit(requests_per_s=0.01, burst=3, tokens_per_s=0.01, token_burst=1000)
        await limiter.take("acme", limit, 900)
        with pytest.raises(ResourceExhausted) as refused:
            await limiter.take("acme", limit, 200)  # the token bucket refuses
        assert refused.value.retry_after_s > 1
        await limiter.take("acme", limit, 100)  # the refusal took no call and no token
        await limiter.take("acme", limit, 0)
        with pytest.raises(ResourceExhausted):
            await limiter.take("acme", limit, 0)  # the call bucket refuses
        await client.aclose()

    asyncio.run(scenario())


def _restarted(server: LocalRedis, maxmemory_mb: int) -> LocalRedis:
    """The same data, port and password under another memory cap (as an operator would)."""
    server.stop()
    return LocalRedis(
        data_dir=server.data_dir,
        port=server.port,
        password=server.password,
        maxmemory_mb=maxmemory_mb,
    ).start()


def test_a_full_redis_refuses_reports_whole_and_keeps_limits(tmp_path: Path) -> None:
    """With Redis full, a report is refused (the caller retries) or logged and acknowledged,
    never acknowledged and lost; the rate limit keeps refusing past its burst."""
    server = LocalRedis(data_dir=tmp_path, maxmemory_mb=64).start()
    rng = random.Random(1)

    async def before() -> None:
        client = connect(RedisConfig(url=server.url))
        log = OutcomeLog(client, retention_s=3600)
        for rid in ("r-early", "r-late"):
            await log.record(dataclasses.replace(_record(rid, rng), tenant="acme"))
        await log.ensure_group()
        assert not (
            await log.report(Outcome("r-early", 1.0, None, now_ms()), tenant="acme")
        ).duplicate
        for i in range(64):
            await client.set(f"ponder:filler:{i}", b"x" * 65536)
        await client.aclose()

    async def full() -> None:
        client = connect(RedisConfig(url=server.url))
        log = OutcomeLog(client, retention_s=3600)
        with pytest.raises(ResponseError, match="maxmemory"):
            await log.report(Outcome("r-late", 1.0, None, now_ms()), tenant="acme")
        with pytest.raises(ResponseError, match="maxmemory"):
            await log.record(dataclasses.replace(_record("r-new", rng), tenant="acme"))
        assert await log.get_outcome("r-late") is None  # nothing half-written
        assert await log.reported_count() == 1  # the AOF kept what was acknowledged
        limiter = RateLimiter(client)
        limit = RateLimit(requests_per_s=0.01, burst=2)
        for _ in range(2):
            await limiter.take("acme", limit)
        with pytest.raises(ResourceExhausted):
            await limiter.take("acme", limit)
        await client.aclose()

    async def after() -> None:
        client = connect(RedisConfig(url=server.url))
        log = OutcomeLog(client, retention_s=3600)
        ack = await log.report(Outcome("r-late", 1.0, None, now_ms()), tenant="acme")
        assert not ack.duplicate  # the refused report goes through on retry
        entries = await log.read("c", count=10, block_ms=None, pending=False)
        assert sorted(entry.record.reasoning_id for entry in entries) == ["r-early", "r-late"]
        assert await log.reported_count() == 2
        await client.aclose()

    try:
        asyncio.run(before())
        server = _restarted(server, maxmemory_mb=2)  # 4 MiB of data under a 2 MiB cap
        asyncio.run(full())
        server = _restarted(server, maxmemory_mb=64)  # room again
        asyncio.run(after())
    finally:
        server.stop()


def test_get_scorer_counts_only_the_callers_scope(redis: LocalRedis) -> None:
    """One tenant's status says nothing of another's traffic: reported and pending are
    counted per scope; skipped outcomes (a tenant that may not train) are not pending."""
    from ponder.learning.learner import Learner
    from ponder.learning.records import scorer_scope
    from ponder.learning.scorer_status import scorer_status
    from tests.integration.test_learning_log import DEFAULT, _settings

    async def scenario() -> None:
        client = connect(RedisConfig(url=redis.url))
        log = OutcomeLog(client, retention_s=3600)
        rng = random.Random(2)
        for tenant, count in (("acme", 3), ("rival", 5)):
            scope = scorer_scope(tenant, per_tenant=True)
            for i in range(count):
                record = dataclasses.replace(
                    _record(f"{tenant}-{i}", rng), tenant=tenant, scope=scope
                )
                await log.record(record)
                await log.report(Outcome(record.reasoning_id, 1.0, None, now_ms()), tenant, scope)
        acme, rival = scorer_scope("acme", True), scorer_scope("rival", True)
        assert [await log.reported_count(scope) for scope in (acme, rival)] == [3, 5]
        assert await log.reported_count() == 8
        learner = Learner(client, _settings(per_tenant=True), DEFAULT, keys=Keys())
        await learner.start()
        while await learner.step():
            pass
        after = await scorer_status(client, acme, Keys())
        assert (after.outcomes_reported, after.outcomes_applied, after.outcomes_pending) == (
            3,
            3,
            0,
        )
        other = await scorer_status(client, rival, Keys())
        assert (other.outcomes_reported, other.outcomes_pending) == (5, 0)
        await client.aclose()

    asyncio.run(scenario())
