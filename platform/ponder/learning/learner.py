"""The online learner: applies reported outcomes to the path scorer, exactly once.

It reads the outcome log through a consumer group. For each batch it updates the models
in memory, then writes the new learner state (models, counters, last applied entry id),
the new held-back outcomes, any proposed version and the acknowledgements in ONE
MULTI/EXEC. After a crash it reads what was delivered but not acknowledged; entries at or
below the saved last id were applied already and are only acknowledged. So nothing is
lost and nothing is applied twice.

Every `holdout_every`-th outcome of a scope is held back (never trained on), or, for an
outcome naming its problem group, one group in `holdout_every` (the whole group); the gate
compares a candidate with the active version on the recent held-back outcomes. The other
outcomes are first predicted (progressive validation), then learned from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from ponder.config import LearningConfig
from ponder.learning.gate import GateSettings, Verdict, decide
from ponder.learning.online import (
    OnlineModel,
    UpdateSettings,
    metrics_of,
    next_version,
)
from ponder.learning.outcome_log import Keys, LogEntry, OutcomeLog, stream_id
from ponder.learning.ranker_examples import (
    RankerExample,
    held_back,
    holdout_key,
    right_answer_of,
)
from ponder.learning.records import SHARED_SCOPE, labelled_rows, now_ms
from ponder.learning.registry import ScorerRegistry, VersionInfo
from ponder.reasoning.path_scorer import PathScorer, log_loss
from ponder.reasoning.paths import FEATURE_NAMES
from ponder.telemetry.tracing import span

log = logging.getLogger(__name__)

Example = tuple[list[list[float]], list[float]]  # one outcome's rows and labels


@dataclass
class ScopeState:
    """The learner's model and counters of one scope (shared or a tenant)."""

    model: dict[str, Any]  # OnlineModel.state()
    base_version: str  # the active version the model continues from
    applied: int = 0  # outcomes applied (trained on or held back)
    trained: int = 0
    held_back: int = 0
    since_proposal: int = 0
    proposals: int = 0
    promotions: int = 0
    progressive_loss_sum: float = 0.0  # predict-before-learn log-loss over trained rows
    progressive_examples: int = 0
    last_reported_ms: int = 0


@dataclass
class LearnerState:
    last_id: str = "0-0"  # the last outcome-log entry applied
    applied_total: int = 0
    not_trainer: int = 0  # outcomes of tenants not allowed to train their scope (skipped)
    scopes: dict[str, ScopeState] = field(default_factory=dict)
    # Outcomes the learner is done with (applied, skipped or dead-lettered), per scope:
    # with the scope's reported count, what GetScorer calls pending.
    settled: dict[str, int] = field(default_factory=dict)

    def settle(self, entry_id: str, scope: str) -> None:
        """The learner is done with this entry."""
        self.last_id = entry_id
        self.settled[scope] = self.settled.get(scope, 0) + 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> LearnerState:
        data = json.loads(text)
        scopes = {k: ScopeState(**v) for k, v in data.pop("scopes").items()}
        return cls(**data, scopes=scopes)

    @classmethod
    async def load(cls, client: Redis, keys: Keys) -> LearnerState:
        data = await client.get(keys.learner_state)
        return cls() if data is None else cls.from_json(data)


class Learner:
    def __init__(
        self,
        client: Redis,
        config: LearningConfig,
        default_scorer: PathScorer,
        consumer: str = "learner",
        keys: Keys | None = None,
        observer: Callable[[int, list[VersionInfo]], None] | None = None,
    ) -> None:
        """observer(outcomes applied, versions proposed) is told after every commit."""
        self._client = client
        self._config = config
        self._gate = GateSettings(
            config.gate_metric, config.gate_margin, config.min_holdout_examples
        )
        self._update = UpdateSettings(config.learning_rate, config.l2, config.max_step)
        self._default = default_scorer
        self._consumer = consumer
        self.keys = keys or Keys()
        self.log = OutcomeLog(client, config.retention_s, self.keys)
        self.registry = ScorerRegistry(client, self.keys)
        self.state = LearnerState()
        self._models: dict[str, OnlineModel] = {}
        self._active: dict[str, PathScorer] = {}
        self._holdout: dict[str, list[Example]] = {}
        self._recovering = True
        self._started_at = time.monotonic()
        self._applied_here = 0
        self._observer = observer
        self._failures: dict[str, int] = {}  # entry id -> failed attempts to apply it
        self.last_progress = time.monotonic()  # last step that applied or found nothing

    async def start(self) -> None:
        await self.log.ensure_group()
        await self.registry.seed("shared", self._default)
        await self._reload()

    async def _reload(self) -> None:
        """Forget in-memory progress; continue from what Redis holds (re-reading what was
        delivered but not acknowledged first)."""
        self._recovering = True
        self.state = await LearnerState.load(self._client, self.keys)
        self._models.clear()
        self._active.clear()
        self._holdout.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Apply outcomes until stop is set; Redis outages are waited out."""
        while not stop.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except WatchError:
                log.info("learner: the active scorer changed during a batch; re-applying it")
                try:
                    await self._reload()
                except Exception:
                    await self._reload_until_done(stop)
            except Exception:
                log.exception("learner step failed; reloading state from Redis")
                await self._reload_until_done(stop)

    async def _reload_until_done(self, stop: asyncio.Event) -> None:
        """Reload from Redis, retrying until it works: a batch that failed midway left
        in-memory state (models, last id) that must never be committed, or its entries
        would count as applied while still unacknowledged."""
        while not stop.is_set():
            await asyncio.sleep(1.0)
            try:
                await self._reload()
                return
            except Exception:
                log.warning("learner: Redis still unavailable")

    async def step(self) -> int:
        """Apply one batch; returns how many log entries it handled (0: none waiting)."""
        entries: list[LogEntry] = []
        if self._recovering:
            entries = await self.log.read(
                self._consumer, self._config.batch_size, None, pending=True
            )
            self._recovering = bool(entries)
        if not entries:
            entries = await self.log.read(
                self._consumer, self._config.batch_size, self._config.poll_block_ms, pending=False
            )
        if entries:
            await self._apply(entries)
        self.last_progress = time.monotonic()
        return len(entries)

    def stalled_for(self) -> float:
        """Seconds since the learner last applied outcomes or found none waiting."""
        return time.monotonic() - self.last_progress

    def _training_rows(self, entry: LogEntry) -> tuple[list[list[float]], list[float]]:
        """The rows and labels of an outcome; raises when the entry is malformed."""
        rows, labels = labelled_rows(entry.record, entry.outcome)
        width = len(FEATURE_NAMES)
        if any(len(row) != width for row in rows):
            raise ValueError(f"feature rows of {entry.entry_id} are not {width} wide")
        return rows, labels

    async def _apply(self, entries: list[LogEntry]) -> None:
        new_holdout: dict[str, list[Example]] = {}
        ranker_examples: dict[str, list[RankerExample]] = {}
        proposals: list[tuple[str, VersionInfo]] = []
        synced: set[str] = set()
        applied = 0
        dead: list[tuple[LogEntry, str]] = []
        for entry in entries:
            if stream_id(entry.entry_id) <= stream_id(self.state.last_id):
                continue  # applied before a crash, not yet acknowledged
            try:
                rows, labels = self._training_rows(entry)
            except Exception as error:
                failures = self._failures.get(entry.entry_id, 0) + 1
                self._failures[entry.entry_id] = failures
                if failures < self._config.max_entry_failures:
                    raise  # retried after a reload; maybe it was transient
                log.error("learner: dead-lettering %s after %d failures: %r",
                          entry.entry_id, failures, error)  # fmt: skip
                dead.append((entry, repr(error)))
                self.state.settle(entry.entry_id, entry.record.scope)
                continue
            scope = entry.record.scope
            if not may_train(entry.record.tenant, scope, self._config):
                self.state.not_trainer += 1
                self.state.settle(entry.entry_id, scope)
                continue
            example = self._ranker_example(entry)
            if example is not None:
                ranker_examples.setdefault(scope, []).append(example)
            if scope not in synced:
                await self._sync_scope(scope)
                synced.add(scope)
            proposal = self._apply_one(scope, entry, rows, labels, new_holdout)
            if proposal is not None:
                proposals.append((scope, proposal))
            self.state.settle(entry.entry_id, scope)
            self.state.applied_total += 1
            applied += 1
        for scope in synced:  # serialise each touched model once per batch, not per outcome
            self.state.scopes[scope].model = self._models[scope].state()
        async with self._client.pipeline(transaction=True) as pipe:
            # An operator's rollback during this batch aborts the commit (WatchError); the
            # batch is then re-read and applied on top of the rolled-back version.
            if synced:
                await pipe.watch(*(self.registry.active_key(scope) for scope in synced))
            pipe.multi()
            pipe.set(self.keys.learner_state, self.state.to_json())
            for scope, examples in new_holdout.items():
                key = self.keys.holdout(scope)
                pipe.rpush(key, *(json.dumps(e) for e in examples))
                pipe.ltrim(key, -self._config.holdout_window, -1)
            for scope, taught in ranker_examples.items():
                self._stage_ranker_examples(pipe, scope, taught)
            for scope, info in proposals:
                self.registry.stage_proposal(pipe, scope, info)
            for entry, reason in dead:
                fields = {"record": entry.record.to_json(), "outcome": entry.outcome.to_json()}
                self.log.stage_dead_letter(pipe, entry.entry_id, fields, reason)
            self.log.stage_ack(pipe, [e.entry_id for e in entries], self.state.last_id)
            with span("learner.commit", outcomes=applied, proposals=len(proposals)):
                await pipe.execute()
        self._applied_here += applied
        self.log.dead_lettered += len(dead)
        for entry, _ in dead:
            self._failures.pop(entry.entry_id, None)
        for scope, info in proposals:
            log.info("scorer %s of %s %s: %s", info.version, scope, info.status, info.reason)
        if self._observer is not None:
            self._observer(applied, [info for _, info in proposals])

    def _ranker_example(self, entry: LogEntry) -> RankerExample | None:
        """What the outcome teaches the answer ranker, when it says which answer is right
        and the record kept the ranker's inputs."""
        record, outcome = entry.record, entry.outcome
        if not (self._config.ranker_learning and record.problem and record.programs):
            return None
        chosen = next((p for p in record.paths if p.chosen), None)
        right = right_answer_of(
            chosen.answer if chosen else None, outcome.reward, outcome.correct_answer
        )
        if right is None:
            return None
        return RankerExample(record.problem, record.programs, right, outcome.problem_group)

    def _stage_ranker_examples(self, pipe: Any, scope: str, examples: list[RankerExample]) -> None:
        """Append a scope's new ranker examples, each to the training or the held-back
        list by its problem's group (inside the batch's transaction)."""
        keep = self._config.ranker_examples_kept
        pipe.sadd(self.keys.ranker_scopes, scope)
        split: dict[bool, list[str]] = {False: [], True: []}
        for e in examples:
            split[held_back(e.holdout_key, self._config.ranker_holdout_percent)].append(e.to_json())
        for back, chosen in split.items():
            if not chosen:
                continue
            key = self.keys.ranker_examples(scope, back)
            pipe.rpush(key, *chosen)
            pipe.ltrim(key, -keep, -1)
            pipe.incrby(self.keys.ranker_count(scope, back), len(chosen))

    async def _sync_scope(self, scope: str) -> None:
        """Load the scope's model; restart it from the active version if an operator
        rolled back (the active version is not the one the model continues from)."""
        active = await self.registry.seed(scope, self._default)
        scope_state = self.state.scopes.get(scope)
        if scope_state is None or scope_state.base_version != active:
            info = await self.registry.get(scope, active)
            model = OnlineModel.from_scorer(info.scorer, self._update)
            if scope_state is None:
                scope_state = ScopeState(model=model.state(), base_version=active)
                self.state.scopes[scope] = scope_state
            else:
                log.info("learner: %s's active scorer is now %s; restarting from it", scope, active)
                scope_state.model = model.state()
                scope_state.base_version = active
                scope_state.since_proposal = 0
            self._models[scope] = model
            self._active[scope] = info.scorer
        if scope not in self._models:
            self._models[scope] = OnlineModel.from_state(scope_state.model, self._update)
            self._active[scope] = (await self.registry.get(scope, active)).scorer
        if scope not in self._holdout:
            raw = await self._client.lrange(self.keys.holdout(scope), 0, -1)
            self._holdout[scope] = [_example(json.loads(item)) for item in raw]

    def _apply_one(
        self,
        scope: str,
        entry: LogEntry,
        rows: list[list[float]],
        labels: list[float],
        new_holdout: dict[str, list[Example]],
    ) -> VersionInfo | None:
        """Hold back or learn from one outcome; a proposed version when one is due."""
        st = self.state.scopes[scope]
        model = self._models[scope]
        st.applied += 1
        st.since_proposal += 1
        st.last_reported_ms = entry.outcome.reported_ms
        if self._scorer_holds_back(entry, st.applied):
            st.held_back += 1
            window = self._holdout[scope]
            window.append((rows, labels))
            del window[: max(0, len(window) - self._config.holdout_window)]
            new_holdout.setdefault(scope, []).append((rows, labels))
        else:
            if rows:
                st.progressive_loss_sum += log_loss(model.predict(rows), labels) * len(rows)
                st.progressive_examples += len(rows)
            model.update(rows, labels)
            st.trained += 1
        if st.applied < self._config.min_outcomes:
            return None
        if st.since_proposal < self._config.propose_every:
            return None
        return self._propose(scope, st, model)

    def _scorer_holds_back(self, entry: LogEntry, applied: int) -> bool:
        """Whether the path scorer holds this outcome back for its gate: by the problem
        group the caller named (one group in `holdout_every`, the ranker's hash, so a
        group's every outcome is on one side), else every `holdout_every`-th outcome."""
        group = entry.outcome.problem_group
        if group:
            key = holdout_key(entry.record.problem, group)
            return held_back(key, max(1, 100 // self._config.holdout_every))
        return applied % self._config.holdout_every == 0

    def _propose(self, scope: str, st: ScopeState, model: OnlineModel) -> VersionInfo:
        rows = [row for example in self._holdout[scope] for row in example[0]]
        labels = [label for example in self._holdout[scope] for label in example[1]]
        active = self._active[scope]
        version = next_version(st.base_version, model)
        active_metrics = metrics_of(active.score_many(rows), labels)
        candidate_metrics = metrics_of(model.predict(rows), labels)
        decision = decide(active_metrics, candidate_metrics, self._gate)
        candidate = model.to_scorer(
            version,
            {
                "heldout": candidate_metrics.to_json(),
                "outcomes_applied": st.applied,
                "trained_on": f"online from {st.base_version}",
            },
        )
        st.since_proposal = 0
        st.proposals += 1
        if decision.verdict is Verdict.PROMOTE:
            st.promotions += 1
            st.base_version = version
            self._active[scope] = candidate
        return VersionInfo(
            scorer=candidate,
            parent=active.version,
            created_ms=now_ms(),
            status=decision.verdict.value,
            outcomes_applied=st.applied,
            heldout=candidate_metrics,
            compared_to=active.version,
            compared_heldout=active_metrics,
            reason=decision.reason,
            extra={"last_outcome_reported_ms": st.last_reported_ms},
        )

    def throughput(self) -> float:
        """Outcomes applied per second by this learner since it started."""
        return self._applied_here / max(1e-9, time.monotonic() - self._started_at)


def may_train(tenant: str, scope: str, config: LearningConfig) -> bool:
    """Whether an outcome may train the scope its reasoning was answered in: a tenant's
    own scope always; the shared scope (read by every tenant without a scope of its own)
    only from callers without a tenant and from the tenants in shared_trainers. With
    per-tenant learning on, a tenant's reasonings are in its own scope; one of its
    reasonings in the shared scope (answered before per_tenant was switched on) trains
    the shared versions only if the tenant is listed."""
    if scope != SHARED_SCOPE or not tenant:
        return True
    return "*" in config.shared_trainers or tenant in config.shared_trainers


def _example(data: list[Any]) -> Example:
    rows, labels = data
    return rows, labels
