"""Refits of the answer ranker from reported outcomes, per scope, behind the paired gate.

The learner appends every labelled outcome's ranker example to its scope's training or
held-back list (exactly once, in the transaction that acknowledges the outcome). Each
time a scope has `ranker_propose_every` new training examples, this refits the ranker on
the offline training problems (the rehearsal set the packaged ranker was fitted on) plus
all of the scope's training examples, then judges the refit against the active version on
the scope's held-back problems (`paired_gate.py`). A refit from scratch on both, rather
than steps on the newest outcomes alone, is what held up on unseen problems: steps on a
few hundred new problems forget what the offline problems taught (BENCHMARKS.md).

A refit takes one to three minutes of CPU on 2 cores and about 1.2 GB of memory for a
moment (the rehearsal set stays in memory as float16, ~135 MB), so it runs in a worker
thread; outcomes keep being applied meanwhile, and a fit judged against a version an
operator has since rolled back is dropped, not written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from ponder.config import LearningConfig
from ponder.learning.outcome_log import Keys
from ponder.learning.paired_gate import PairedGateSettings, paired_decision
from ponder.learning.ranker_examples import RankerExample, top_right
from ponder.learning.ranker_registry import RankerRegistry, RankerVersion
from ponder.learning.records import now_ms
from ponder.reasoning.ranker import AnswerRanker
from ponder.reasoning.ranker_fit import RankingArrays, fit_ranker_arrays, load_rehearsal
from ponder.telemetry.tracing import span

log = logging.getLogger(__name__)

Rehearsal = Callable[[], RankingArrays]


@dataclass(frozen=True)
class RankerProgress:
    """Where a scope's ranker learning stands."""

    train_examples: int  # training examples ever appended
    heldout_examples: int  # held-back examples ever appended
    fitted_on: int  # training examples the latest refit used


async def ranker_progress(client: Redis, keys: Keys, scope: str) -> RankerProgress:
    train, heldout, fitted = await client.mget(
        keys.ranker_count(scope, False),
        keys.ranker_count(scope, True),
        keys.ranker(scope, "fitted-on"),
    )
    return RankerProgress(int(train or 0), int(heldout or 0), int(fitted or 0))


def refit(
    active: AnswerRanker,
    rehearsal: RankingArrays,
    train: Sequence[RankerExample],
    heldout: Sequence[RankerExample],
    settings: PairedGateSettings,
    threads: int,
) -> RankerVersion:
    """Fit a candidate on the rehearsal set plus `train`, and judge it against `active`
    on `heldout` (CPU-bound: call it in a worker thread)."""
    import torch

    torch.set_num_threads(threads)
    rows = [example.ranking(active.search) for example in train]
    candidate = fit_ranker_arrays(rehearsal.plus(rows).usable(), active.search)
    judged = [example.ranking(active.search) for example in heldout]
    decision = paired_decision(top_right(active, judged), top_right(candidate, judged), settings)
    metrics = {
        "trained_on": f"the rehearsal set and {len(train)} outcome examples",
        "heldout_right": decision.candidate_right,
        "heldout_problems": decision.problems,
    }
    return RankerVersion(
        ranker=dataclasses.replace(candidate, metrics=metrics),
        parent=active.version,
        created_ms=now_ms(),
        status=decision.verdict.value,
        train_examples=len(train),
        gate=decision,
    )


class RankerLearner:
    def __init__(
        self,
        client: Redis,
        config: LearningConfig,
        default: AnswerRanker,
        keys: Keys | None = None,
        rehearsal: Rehearsal = load_rehearsal,
    ) -> None:
        self._client = client
        self._config = config
        self._default = default
        self.keys = keys or Keys()
        self.registry = RankerRegistry(client, self.keys)
        self._load_rehearsal = rehearsal
        self._rehearsal: RankingArrays | None = None
        self._gate = PairedGateSettings(
            config.ranker_gate_min_problems,
            config.ranker_gate_min_effect,
            config.ranker_gate_max_p,
        )
        self.fits = 0

    async def progress(self, scope: str) -> RankerProgress:
        return await ranker_progress(self._client, self.keys, scope)

    async def step(self) -> int:
        """Refit every scope that is due; returns how many refits ran."""
        ran = 0
        for scope in await self.registry.scopes():
            if await self.maybe_refit(scope) is not None:
                ran += 1
        return ran

    async def maybe_refit(self, scope: str) -> RankerVersion | None:
        """Refit the scope's ranker when enough new training examples came in."""
        progress = await self.progress(scope)
        if progress.train_examples - progress.fitted_on < self._config.ranker_propose_every:
            return None
        active_version = await self.registry.seed(scope, self._default)
        active = (await self.registry.get(scope, active_version)).ranker
        train = await self._examples(scope, held_back=False)
        heldout = await self._examples(scope, held_back=True)
        if self._rehearsal is None:
            # kept float16 and usable-only: ~135 MB for the packaged set
            self._rehearsal = (await asyncio.to_thread(self._load_rehearsal)).usable()
        with span("ranker.refit", scope=scope, examples=len(train)):
            info = await asyncio.to_thread(
                refit,
                active,
                self._rehearsal,
                train,
                heldout,
                self._gate,
                self._config.ranker_fit_threads,
            )
        info = dataclasses.replace(info, extra={"train_count": progress.train_examples})
        await self._client.set(self.keys.ranker(scope, "fitted-on"), progress.train_examples)
        self.fits += 1
        if not await self.registry.propose(scope, info, active_version):
            log.info("ranker refit of %s dropped: the active version changed meanwhile", scope)
            return None
        assert info.gate is not None
        log.info("ranker %s of %s %s: %s", info.version, scope, info.status, info.gate.reason)
        return info

    async def _examples(self, scope: str, held_back: bool) -> list[RankerExample]:
        raw = await self._client.lrange(self.keys.ranker_examples(scope, held_back), 0, -1)
        return [RankerExample.from_json(item) for item in raw]

    async def run(self, stop: asyncio.Event, poll_s: float = 2.0) -> None:
        """Refit scopes as they become due until stop is set; errors are logged and
        retried at the next poll (the examples stay in Redis)."""
        while not stop.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ranker refit failed; retrying at the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s)
