"""Learning the answer ranker from reported outcomes against a real redis-server (no
Ray): examples split into training and held-back problems, refits behind the paired gate
(a better refit promoted, a worse one rejected), rollback, hot reload, and the rule of
which tenant's outcomes train which scope."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ponder.config import LearningConfig, RedisConfig
from ponder.learning.learner import Learner, LearnerState
from ponder.learning.outcome_log import Keys, OutcomeLog
from ponder.learning.ranker_examples import RankerExample, held_back, holdout_key
from ponder.learning.ranker_learner import RankerLearner
from ponder.learning.ranker_registry import RankerRegistry, RankerVersion
from ponder.learning.records import SHARED_SCOPE, Outcome, ReasoningRecord, now_ms, scorer_scope
from ponder.learning.watcher import RankerWatcher
from ponder.reasoning.path_scorer import load_scorer
from ponder.reasoning.ranker import AnswerRanker, load_ranker
from ponder.reasoning.ranker_fit import RankingExample, fit_ranker, save_rehearsal
from ponder.redis_client import connect
from ponder.redis_server import LocalRedis
from tests.integration.support import synthetic_problem, synthetic_rehearsal

pytestmark = pytest.mark.integration

PACKAGED = load_ranker()
# A ranker that prefers what the packaged one rejects: a version any sound refit beats.
INVERTED = dataclasses.replace(
    PACKAGED,
    version="inverted-0",
    output_weights=tuple(-w for w in PACKAGED.output_weights),
)
SCORER = load_scorer()


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(data_dir=tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: LocalRedis) -> Redis:
    return connect(RedisConfig(url=server.url), blocking_reads_s=0.05)


def _settings(**overrides: object) -> LearningConfig:
    base = {
        "batch_size": 16,
        "retention_s": 3600,
        "poll_block_ms": 20,
        "ranker_propose_every": 40,
        "ranker_holdout_percent": 30,
        "ranker_gate_min_problems": 10,
        "ranker_gate_max_p": 0.25,
        "ranker_fit_threads": 1,
    }
    return LearningConfig.model_validate(base | overrides)


async def _report(
    log: OutcomeLog,
    count: int,
    seed: int,
    scope: str = SHARED_SCOPE,
    tenant: str = "",
    group_of: Callable[[str], str] = lambda text: "",
) -> list[str]:
    """Log and report `count` answered problems (the right answer given, and the group
    `group_of` names for each text); their texts."""
    rng = random.Random(seed)
    texts = []
    for i in range(count):
        text, answer, programs = synthetic_problem(rng)
        rid = f"{seed}-{i}"
        record = ReasoningRecord(
            rid, scope, SCORER.version, now_ms(), (), tenant, text, programs, PACKAGED.version
        )
        await log.record(record)
        outcome = Outcome(rid, 0.0, answer, now_ms(), group_of(text))
        await log.report(outcome, tenant=tenant)
        texts.append(text)
    return texts


async def _drain(learner: Learner) -> None:
    while await learner.step():
        pass


def _learners(
    client: Redis,
    config: LearningConfig,
    default: AnswerRanker,
    rehearsal: Sequence[RankingExample],
) -> tuple[Learner, RankerLearner]:
    """The outcome learner and the ranker's (refitting in its own process, on `rehearsal`
    written where the Redis of the test keeps its data)."""
    folder = Path(tempfile.mkdtemp(prefix="ponder-rehearsal-"))
    save_rehearsal(rehearsal, folder / "rehearsal.npz")
    rankers = RankerLearner(client, config, default, rehearsal_path=folder / "rehearsal.npz")
    _OPEN.append((rankers, folder))
    return Learner(client, config, SCORER), rankers


_OPEN: list[tuple[RankerLearner, Path]] = []


@pytest.fixture(autouse=True)
def _close_refit_processes() -> Iterator[None]:
    yield
    while _OPEN:
        rankers, folder = _OPEN.pop()
        rankers.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_reported_problem_groups_are_held_back_whole(redis: LocalRedis) -> None:
    """Outcomes naming their problem's group (here: the problem with its numbers masked,
    so every renumbering of a story is one group) land in the training or the held-back
    list by group: no group is on both sides, so the gate never judges a variant of what
    a candidate trained on."""

    def story(text: str) -> str:
        return re.sub(r"\d+", "#", text)

    async def scenario() -> None:
        client = _client(redis)
        learner, rankers = _learners(client, _settings(), INVERTED, synthetic_rehearsal(1))
        await learner.start()
        texts = await _report(OutcomeLog(client, 3600), 120, seed=5, group_of=story)
        await _drain(learner)
        keys = Keys()
        sides = {
            back: [
                RankerExample.from_json(x)
                for x in await client.lrange(keys.ranker_examples(SHARED_SCOPE, back), 0, -1)
            ]
            for back in (False, True)
        }
        assert sum(len(v) for v in sides.values()) == len(texts)
        groups = {back: {e.group for e in sides[back]} for back in sides}
        assert groups[True] and groups[False] and not groups[True] & groups[False]
        assert all(e.group == story(e.problem) for v in sides.values() for e in v)
        assert all(held_back(e.holdout_key, 30) == back for back in sides for e in sides[back])
        # the same problems without groups are split by problem: stories straddle sides
        assert any(
            len({held_back(holdout_key(t), 30) for t in texts if story(t) == group}) == 2
            for group in groups[True] | groups[False]
        )
        # the gate's sign test counts the held-back groups, each once
        info = await rankers.maybe_refit(SHARED_SCOPE)
        assert info is not None and info.gate is not None
        assert (info.gate.problems, info.gate.groups) == (len(sides[True]), len(groups[True]))
        assert info.gate.groups < info.gate.problems
        await client.aclose()

    asyncio.run(scenario())


def test_outcomes_split_by_problem_and_a_better_refit_is_promoted(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis)
        config = _settings()
        learner, rankers = _learners(client, config, INVERTED, synthetic_rehearsal(1))
        await learner.start()
        texts = await _report(OutcomeLog(client, 3600), 140, seed=2)
        await _drain(learner)
        keys = Keys()
        train = [
            RankerExample.from_json(x)
            for x in await client.lrange(keys.ranker_examples(SHARED_SCOPE, False), 0, -1)
        ]
        heldout = [
            RankerExample.from_json(x)
            for x in await client.lrange(keys.ranker_examples(SHARED_SCOPE, True), 0, -1)
        ]
        assert len(train) + len(heldout) == len(texts)
        assert all(not held_back(e.holdout_key, 30) for e in train)
        assert all(held_back(e.holdout_key, 30) for e in heldout)
        assert not {e.problem for e in train} & {e.problem for e in heldout}
        assert len(heldout) >= 10

        info = await rankers.maybe_refit(SHARED_SCOPE)
        assert info is not None and info.gate is not None
        assert info.status == "promoted", info.gate.reason
        assert info.gate.wins > info.gate.losses
        # no groups named: each problem is its own, a problem reported twice counts once
        assert info.gate.groups == len({e.holdout_key for e in heldout}) <= info.gate.problems
        registry = RankerRegistry(client)
        assert await registry.active_version(SHARED_SCOPE) == info.version
        assert await rankers.maybe_refit(SHARED_SCOPE) is None  # nothing new to learn from

        watcher = RankerWatcher(registry, INVERTED)
        await watcher.refresh()
        assert watcher.current(SHARED_SCOPE).version == info.version
        assert watcher.current("tenant-new").version == info.version  # falls back to shared

        await registry.rollback(SHARED_SCOPE, INVERTED.version)
        await watcher.refresh()
        assert watcher.current(SHARED_SCOPE).version == INVERTED.version
        events = [e["event"] for e in await registry.history(SHARED_SCOPE)]
        assert events == ["seed", "promoted", "rollback"]
        await client.aclose()

    asyncio.run(scenario())


def test_a_worse_refit_is_rejected_and_the_active_ranker_kept(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis)
        config = _settings()
        # The active ranker was fitted on these problems; the refit's rehearsal set
        # teaches the opposite of the truth and outweighs the outcomes: it is worse.
        good = dataclasses.replace(
            fit_ranker(synthetic_rehearsal(10), PACKAGED.search), version="good"
        )
        worse = synthetic_rehearsal(3, invert=True, count=400)
        learner, rankers = _learners(client, config, good, worse)
        await learner.start()
        await _report(OutcomeLog(client, 3600), 60, seed=4)
        await _drain(learner)
        info = await rankers.maybe_refit(SHARED_SCOPE)
        assert info is not None and info.gate is not None
        assert info.status == "rejected", info.gate.reason
        assert info.gate.losses > info.gate.wins
        registry = RankerRegistry(client)
        assert await registry.active_version(SHARED_SCOPE) == "good"
        latest = await registry.latest(SHARED_SCOPE)
        assert latest is not None and latest.version == info.version
        await client.aclose()

    asyncio.run(scenario())


def test_one_tenants_outcomes_never_change_another_tenants_ranker(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis)
        config = _settings(per_tenant=True)
        learner, rankers = _learners(client, config, INVERTED, synthetic_rehearsal(5))
        await learner.start()
        acme = scorer_scope("acme", per_tenant=True)
        await _report(OutcomeLog(client, 3600), 140, seed=6, scope=acme, tenant="acme")
        await _drain(learner)
        assert await rankers.step() == 1
        registry = RankerRegistry(client)
        promoted = await registry.active(acme)
        assert promoted.status == "promoted" and promoted.parent == INVERTED.version
        assert await registry.active_version(SHARED_SCOPE) == INVERTED.version
        watcher = RankerWatcher(registry, INVERTED)
        watcher.current(acme)
        watcher.current("tenant-globex")
        await watcher.refresh()
        assert watcher.current(acme).version == promoted.version
        assert watcher.current("tenant-globex").version == INVERTED.version
        await client.aclose()

    asyncio.run(scenario())


def test_only_listed_tenants_train_the_shared_versions(redis: LocalRedis) -> None:
    async def scenario() -> None:
        client = _client(redis)
        config = _settings(per_tenant=False, shared_trainers=("acme",))
        learner, _ = _learners(client, config, INVERTED, synthetic_rehearsal(7))
        await learner.start()
        log = OutcomeLog(client, 3600)
        await _report(log, 20, seed=8, tenant="globex")
        await _drain(learner)
        state = await LearnerState.load(client, Keys())
        assert state.not_trainer == 20 and state.applied_total == 0
        assert await client.llen(Keys().ranker_examples(SHARED_SCOPE, False)) == 0
        assert await client.llen(Keys().ranker_examples(SHARED_SCOPE, True)) == 0
        await _report(log, 20, seed=9, tenant="acme")
        await _drain(learner)
        state = await LearnerState.load(client, Keys())
        assert state.applied_total == 20
        examples = await client.llen(Keys().ranker_examples(SHARED_SCOPE, False))
        examples += await client.llen(Keys().ranker_examples(SHARED_SCOPE, True))
        assert examples == 20
        await client.aclose()

    asyncio.run(scenario())


def test_an_active_ranker_this_release_cannot_read_is_reseeded_not_served(
    redis: LocalRedis,
) -> None:
    """An upgrade over a Redis whose tenant scope holds a ranker with another feature
    list: planners' watchers keep serving (the shared version for that tenant) and the
    scope is re-seeded with a "reseed" event; the old version stays in Redis unlisted."""

    async def scenario() -> None:
        client = _client(redis)
        registry = RankerRegistry(client)
        acme = scorer_scope("acme", per_tenant=True)
        await registry.seed(acme, PACKAGED)
        old = dataclasses.replace(PACKAGED, version="r2-oldfeatures")
        stale = json.loads(RankerVersion(old, PACKAGED.version, now_ms(), "promoted").to_json())
        stale["ranker"]["features"] = stale["ranker"]["features"][:-1]  # an older release's
        await client.hset(Keys().ranker(acme, "versions"), old.version, json.dumps(stale))
        await client.set(Keys().ranker(acme, "active"), old.version)

        watcher = RankerWatcher(registry, PACKAGED)
        watcher.current(acme)
        await watcher.refresh()  # would raise on the unreadable version before
        assert watcher.current(acme).version == PACKAGED.version
        assert await registry.active_version(acme) == PACKAGED.version
        events = [e["event"] for e in await registry.history(acme)]
        assert events[-1] == "reseed"
        assert [v.version for v in await registry.versions(acme)] == [PACKAGED.version]
        assert await client.hget(Keys().ranker(acme, "versions"), old.version) is not None
        await client.aclose()

    asyncio.run(scenario())
