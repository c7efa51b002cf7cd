"""The outcome log, scorer registry, learner and hot reload against a real redis-server
(no Ray): idempotent reports, durability across a Redis restart, exactly-once learning
after a learner crash, shadow-gated promotion, history and rollback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ponder.config import LearningConfig, RedisConfig
from ponder.errors import AlreadyExists, NotFound
from ponder.learning.learner import Learner, LearnerState
from ponder.learning.outcome_log import Keys, OutcomeLog
from ponder.learning.ranker_examples import held_back, holdout_key
from ponder.learning.records import (
    SHARED_SCOPE,
    Outcome,
    PathRecord,
    ReasoningRecord,
    labelled_rows,
    now_ms,
    scorer_scope,
)
from ponder.learning.registry import ScorerRegistry
from ponder.learning.scorer_status import scorer_status
from ponder.learning.watcher import ScorerWatcher
from ponder.reasoning.path_scorer import load_scorer
from ponder.reasoning.paths import FEATURE_NAMES
from ponder.redis_client import connect
from ponder.redis_server import LocalRedis

pytestmark = pytest.mark.integration

# The scenarios assume a starting scorer with a low base rate (~3 % of paths right): the
# offline scorer fitted on the base model's paths, kept here so the packaged default can
# change without changing what these tests mean.
DEFAULT = load_scorer(Path(__file__).parent / "scorer_low_base_rate.json")
HAS_ANSWER = FEATURE_NAMES.index("has_answer")


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(data_dir=tmp_path, appendfsync="always").start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: LocalRedis, blocking_s: float = 0.0) -> Redis:
    return connect(RedisConfig(url=server.url), blocking_reads_s=blocking_s)


def _record(reasoning_id: str, rng: random.Random) -> ReasoningRecord:
    """Two completed paths with rows from the scorer's own feature statistics."""

    def rows() -> tuple[tuple[float, ...], ...]:
        out = []
        for step in range(3):
            row = [m + s * rng.gauss(0, 1) for m, s in zip(DEFAULT.mean, DEFAULT.std, strict=True)]
            row[HAS_ANSWER] = float(step == 2)
            out.append(tuple(row))
        return tuple(out)

    paths = (
        PathRecord("b0-cot", "cot", "completed", 4.0, 0.1, True, rows()),
        PathRecord("b1-pot", "pot", "completed", 4.0, 0.1, False, rows()),
    )
    return ReasoningRecord(reasoning_id, SHARED_SCOPE, DEFAULT.version, now_ms(), paths)


def _settings(**overrides: object) -> LearningConfig:
    base = {
        "batch_size": 8,
        "propose_every": 10,
        "min_outcomes": 10,
        "holdout_every": 2,
        "holdout_window": 100,
        "retention_s": 3600,
        "poll_block_ms": 50,
        "gate_metric": "log_loss",
        "gate_margin": 0.0,
        "min_holdout_examples": 4,
        "learning_rate": 0.5,
        "max_step": 2.0,
    }
    return LearningConfig.model_validate(base | overrides)


async def _log_and_report(log: OutcomeLog, ids: list[str], reward: float = 1.0) -> None:
    rng = random.Random(ids[0])
    for reasoning_id in ids:
        await log.record(_record(reasoning_id, rng))
        ack = await log.report(
            Outcome(reasoning_id, reward, None, now_ms()), tenant="", scope=SHARED_SCOPE
        )
        assert not ack.duplicate


async def _drain(learner: Learner) -> None:
    while await learner.step():
        pass


def test_records_are_written_once_and_only_their_tenant_may_report(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis)
        log = OutcomeLog(client, retention_s=3600)
        owned = dataclasses.replace(_record("r-acme", random.Random(3)), tenant="acme")
        await log.record(owned)
        with pytest.raises(AlreadyExists):  # an id is never replaced
            await log.record(dataclasses.replace(owned, scorer_version="other"))
        assert (await log.get_record("r-acme")).scorer_version == owned.scorer_version
        assert await client.xlen(Keys().reasonings_stream) == 1
        for stranger in ("rival", ""):
            with pytest.raises(NotFound):
                await log.report(Outcome("r-acme", 1.0, None, now_ms()), tenant=stranger)
        # Nothing was written for the strangers: no outcome, no log entry, no count.
        assert await log.get_outcome("r-acme") is None
        assert await client.xlen(Keys().outcomes_stream) == 0
        assert await log.reported_count() == 0
        ack = await log.report(Outcome("r-acme", 1.0, None, now_ms()), tenant="acme")
        assert not ack.duplicate and ack.record.tenant == "acme"
        await client.aclose()

    asyncio.run(scenario())


def test_reports_are_idempotent_and_survive_a_redis_restart(redis: LocalRedis) -> None:
    async def before_restart() -> None:
        client = _client(redis)
        log = OutcomeLog(client, retention_s=3600)
        await log.record(_record("r-1", random.Random(1)))
        with pytest.raises(NotFound):
            await log.report(Outcome("r-unknown", 1.0, None, now_ms()), tenant="")
        first = await log.report(Outcome("r-1", 1.0, 4.0, now_ms()), tenant="")
        again = await log.report(Outcome("r-1", 1.0, 4.0, now_ms()), tenant="")
        assert (first.duplicate, again.duplicate) == (False, True)
        assert first.record.scorer_version == DEFAULT.version
        with pytest.raises(AlreadyExists):
            await log.report(Outcome("r-1", 0.0, None, now_ms()), tenant="")
        assert await log.reported_count() == 1
        assert await client.xlen(Keys().outcomes_stream) == 1  # logged once
        await client.aclose()

    asyncio.run(before_restart())
    port = redis.port
    redis.stop()
    restarted = LocalRedis(data_dir=redis.data_dir, port=port, password=redis.password).start()
    try:

        async def after_restart() -> None:
            client = _client(restarted)
            log = OutcomeLog(client, retention_s=3600)
            record = await log.get_record("r-1")
            expected = _record("r-1", random.Random(1))
            assert record == dataclasses.replace(expected, created_ms=record.created_ms)
            assert record.paths[0].chosen and len(record.paths[0].rows) == 3
            outcome = await log.get_outcome("r-1")
            assert outcome is not None and outcome.correct_answer == 4.0
            assert await log.reported_count() == 1
            again = await log.report(Outcome("r-1", 1.0, 4.0, now_ms()), tenant="")
            assert again.duplicate
            await client.aclose()

        asyncio.run(after_restart())
    finally:
        restarted.stop()


def test_expired_reasoning_is_not_found(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis)
        log = OutcomeLog(client, retention_s=1)
        await log.record(_record("r-short", random.Random(2)))
        await asyncio.sleep(2.2)
        with pytest.raises(NotFound, match="expired"):
            await log.report(Outcome("r-short", 1.0, None, now_ms()), tenant="")
        await client.aclose()

    asyncio.run(scenario())


def test_malformed_outcomes_are_dead_lettered_and_the_log_keeps_flowing(
    redis: LocalRedis,
) -> None:
    async def scenario() -> None:
        client = _client(redis, blocking_s=0.1)
        log = OutcomeLog(client, retention_s=3600)
        learner = Learner(client, _settings(max_entry_failures=2), DEFAULT)
        await learner.start()
        keys = Keys()
        await _log_and_report(log, ["ok-1", "ok-2"])
        # An entry nobody can read, and one whose rows have the wrong width (it parses,
        # then fails every time it is applied).
        await client.xadd(keys.outcomes_stream, {"record": "{not json", "outcome": "{}"})
        bad = dataclasses.replace(
            _record("bad-rows", random.Random(5)),
            paths=tuple(
                dataclasses.replace(p, rows=((1.0, 2.0),))
                for p in _record("x", random.Random(5)).paths
            ),
        )
        outcome = Outcome("bad-rows", 1.0, None, now_ms())
        await client.xadd(
            keys.outcomes_stream, {"record": bad.to_json(), "outcome": outcome.to_json()}
        )
        await _log_and_report(log, ["ok-3", "ok-4"])
        stop = asyncio.Event()
        task = asyncio.create_task(learner.run(stop))
        for _ in range(200):  # two failed attempts, a second apart, then it moves on
            if learner.state.applied_total == 4:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        assert learner.state.applied_total == 4  # every good outcome, in spite of the bad
        dead = await client.xrange(keys.dead_letters)
        reasons = sorted(fields[b"reason"].decode()[:10] for _, fields in dead)
        assert len(dead) == 2 and reasons[1].startswith("unreadable"), reasons
        assert await log.pending_count() == 0
        assert learner.stalled_for() < 5.0
        await client.aclose()

    asyncio.run(scenario())


def test_learner_crash_loses_and_doubles_nothing(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis, blocking_s=0.1)
        log = OutcomeLog(client, retention_s=3600)
        first = Learner(client, _settings(), DEFAULT)
        await first.start()
        await _log_and_report(log, [f"a-{i}" for i in range(20)])
        await first.step()  # one batch applied and acknowledged
        # The next batch is delivered to the learner, which dies before applying it.
        delivered = await log.read("learner", 8, None, pending=False)
        assert len(delivered) == 8
        await _log_and_report(log, [f"b-{i}" for i in range(7)])  # reported while it is down
        second = Learner(client, _settings(), DEFAULT)  # the restarted replica
        await second.start()
        await _drain(second)
        state = await LearnerState.load(client, Keys())
        assert state.applied_total == 27 == await log.reported_count()
        assert state.scopes[SHARED_SCOPE].applied == 27
        assert await log.pending_count() == 0
        # A third start finds nothing pending and applies nothing again.
        third = Learner(client, _settings(), DEFAULT)
        await third.start()
        await _drain(third)
        assert (await LearnerState.load(client, Keys())).applied_total == 27
        await client.aclose()

    asyncio.run(scenario())


def test_the_scorer_holds_back_named_problem_groups_whole(redis: LocalRedis) -> None:
    """Outcomes naming their problem group are held back from the path scorer by group
    (one group in `holdout_every`, the ranker's hash): every outcome of a held-back group
    and none of the others, not every k-th outcome of the log."""

    async def scenario() -> None:
        client = _client(redis, blocking_s=0.1)
        log = OutcomeLog(client, retention_s=3600)
        learner = Learner(client, _settings(), DEFAULT)
        await learner.start()
        rng = random.Random(11)
        expected = []
        for i in range(40):
            group = f"story-{i % 8}"
            record = _record(f"g-{i}", rng)
            outcome = Outcome(f"g-{i}", 1.0, None, now_ms(), group)
            await log.record(record)
            await log.report(outcome, tenant="")
            if held_back(holdout_key("", group), 50):
                rows, labels = labelled_rows(record, outcome)
                expected.append([[list(r) for r in rows], list(labels)])
        await _drain(learner)
        assert 0 < len(expected) < 40  # both sides used
        state = await LearnerState.load(client, Keys())
        assert state.scopes[SHARED_SCOPE].held_back == len(expected)
        stored = await client.lrange(Keys().holdout(SHARED_SCOPE), 0, -1)
        assert [json.loads(x) for x in stored] == expected  # exactly the groups' outcomes
        await client.aclose()

    asyncio.run(scenario())


def test_promotion_history_rollback_and_hot_reload(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis, blocking_s=0.1)
        log = OutcomeLog(client, retention_s=3600)
        registry = ScorerRegistry(client)
        learner = Learner(client, _settings(), DEFAULT)
        await learner.start()
        watcher = ScorerWatcher(registry, DEFAULT)
        await watcher.refresh()
        assert watcher.current(SHARED_SCOPE).version == DEFAULT.version

        # Every answer reported right: far more than the default scorer's ~3 % base rate,
        # so a model trained on them beats it on the held-back half.
        await _log_and_report(log, [f"p-{i}" for i in range(9)])
        await _drain(learner)
        assert await registry.active_version(SHARED_SCOPE) == DEFAULT.version  # < min
        await _log_and_report(log, ["p-9"])
        await _drain(learner)
        promoted = await registry.active(SHARED_SCOPE)
        assert promoted.version != DEFAULT.version and promoted.version.startswith("2-")
        assert promoted.status == "promoted" and promoted.parent == DEFAULT.version
        assert promoted.heldout is not None and promoted.compared_heldout is not None
        assert promoted.heldout.log_loss <= promoted.compared_heldout.log_loss
        assert promoted.outcomes_applied == 10

        await watcher.refresh()  # what a planner's reload loop does every second
        assert watcher.current(SHARED_SCOPE).version == promoted.version

        status = await scorer_status(client, SHARED_SCOPE)
        assert status.active.version == promoted.version
        assert status.outcomes_applied == 10 and status.outcomes_reported == 10

        # Reports saying every answer was wrong: the next candidate moves the other way
        # and loses on the held-back outcomes, which still say right.
        await _log_and_report(log, [f"w-{i}" for i in range(10)], reward=0.0)
        await _drain(learner)
        events = [e["event"] for e in await registry.history(SHARED_SCOPE)]
        assert events == ["seed", "promoted", "rejected"]
        kept = {v.version for v in await registry.versions(SHARED_SCOPE)}
        assert {DEFAULT.version, promoted.version} <= kept and len(kept) == 3

        await registry.rollback(SHARED_SCOPE, DEFAULT.version)
        assert await registry.active_version(SHARED_SCOPE) == DEFAULT.version
        await watcher.refresh()
        assert watcher.current(SHARED_SCOPE).version == DEFAULT.version
        await _log_and_report(log, ["after-rollback"])
        await _drain(learner)
        state = await LearnerState.load(client, Keys())
        assert state.scopes[SHARED_SCOPE].base_version == DEFAULT.version  # restarted from it
        assert (await registry.history(SHARED_SCOPE))[-1]["event"] == "rollback"
        with pytest.raises(NotFound):
            await registry.rollback(SHARED_SCOPE, "9-nonexistent")
        await client.aclose()

    asyncio.run(scenario())


def test_per_tenant_outcomes_train_only_that_tenants_scorer(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis, blocking_s=0.1)
        log = OutcomeLog(client, retention_s=3600)
        registry = ScorerRegistry(client)
        learner = Learner(client, _settings(), DEFAULT)
        await learner.start()
        rng = random.Random(7)
        for i in range(10):
            record = dataclasses.replace(
                _record(f"t-{i}", rng), scope=scorer_scope("acme", per_tenant=True)
            )
            await log.record(record)
            await log.report(Outcome(f"t-{i}", 1.0, None, now_ms()), tenant="")
        await _drain(learner)
        tenant = await registry.active("tenant-acme")
        assert tenant.status == "promoted" and tenant.parent == DEFAULT.version
        assert await registry.active_version(SHARED_SCOPE) == DEFAULT.version  # untouched
        state = await LearnerState.load(client, Keys())
        assert state.scopes["tenant-acme"].applied == 10
        assert state.scopes.get(SHARED_SCOPE) is None
        watcher = ScorerWatcher(registry, DEFAULT)
        assert watcher.current("tenant-other").version == DEFAULT.version
        watcher.current("tenant-acme")
        await watcher.refresh()
        assert watcher.current("tenant-acme").version == tenant.version
        assert watcher.current("tenant-other").version == DEFAULT.version  # falls back
        await client.aclose()

    asyncio.run(scenario())


def test_a_batch_that_fails_midway_is_applied_once_even_when_the_reload_fails(
    redis: LocalRedis,
) -> None:
    """A commit that fails after the batch changed the learner's memory, then a reload that
    fails too (Redis unreachable for a moment): the learner must not go on from its memory
    (it would count the batch as applied and never acknowledge it), but reload, re-read
    the unacknowledged entries and apply each exactly once."""

    async def scenario() -> None:
        client = _client(redis, blocking_s=0.1)
        log = OutcomeLog(client, retention_s=3600)
        learner = Learner(client, _settings(batch_size=4), DEFAULT)
        await learner.start()
        ids = [f"f-{i}" for i in range(10)]
        await _log_and_report(log, ids)
        stage_ack, load = learner.log.stage_ack, LearnerState.load
        failures = {"commit": 1, "load": 1}

        def failing_ack(*args: object, **kwargs: object) -> None:
            if failures["commit"]:
                failures["commit"] -= 1
                raise ConnectionError("Redis went away mid-commit")
            stage_ack(*args, **kwargs)  # type: ignore[arg-type]

        async def failing_load(cls: type[LearnerState], *args: object) -> LearnerState:
            if failures["load"]:
                failures["load"] -= 1
                raise ConnectionError("Redis still away")
            return await load(*args)  # type: ignore[arg-type]

        learner.log.stage_ack = failing_ack  # type: ignore[method-assign]
        LearnerState.load = classmethod(failing_load)  # type: ignore[method-assign,assignment]
        try:
            stop = asyncio.Event()
            task = asyncio.create_task(learner.run(stop))
            deadline = time.monotonic() + 20
            while await log.pending_count() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(task, 5)
        finally:
            LearnerState.load = load  # type: ignore[method-assign]
        assert failures == {"commit": 0, "load": 0}
        assert await log.pending_count() == 0
        state = await LearnerState.load(client, Keys())
        assert state.applied_total == len(ids)  # each once, none lost
        await client.aclose()

    asyncio.run(scenario())
