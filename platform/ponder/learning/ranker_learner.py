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
moment, so it runs in a separate process (one, kept; it holds the rehearsal set as
float16, ~135 MB): in a thread its long numpy and feature steps held the GIL for seconds
and stalled the learner's Redis reads past their timeouts. Outcomes keep being applied
meanwhile, and a fit judged against a version an operator has since rolled back is
dropped, not written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from ponder.config import LearningConfig
from ponder.learning.outcome_log import Keys
from ponder.learning.paired_gate import PairedGateSettings, paired_decision
from ponder.learning.ranker_examples import RankerExample, top_right
from ponder.learning.ranker_registry import RankerRegistry, RankerVersion
from ponder.learning.records import now_ms
from ponder.reasoning.ranker import AnswerRanker, ranker_from_json
from ponder.reasoning.ranker_fit import (
    DEFAULT_REHEARSAL_PATH,
    RankingArrays,
    fit_ranker_arrays,
    load_rehearsal,
)
from ponder.telemetry.tracing import span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefitJob:
    """What the refit process needs, as plain data (it is pickled to the process)."""

    active: dict[str, Any]  # the active ranker's JSON form
    rehearsal_path: str
    train: list[bytes | str]  # RankerExample JSON, as kept in Redis
    heldout: list[bytes | str]
    gate: PairedGateSettings
    threads: int


_REHEARSAL: dict[str, RankingArrays] = {}  # in the refit process: loaded once per path


def run_refit_job(job: RefitJob) -> str:
    """The refit process's work: the candidate and its verdict, as RankerVersion JSON."""
    if job.rehearsal_path not in _REHEARSAL:
        _REHEARSAL[job.rehearsal_path] = load_rehearsal(Path(job.rehearsal_path)).usable()
    info = refit(
        ranker_from_json(job.active),
        _REHEARSAL[job.rehearsal_path],
        [RankerExample.from_json(x) for x in job.train],
        [RankerExample.from_json(x) for x in job.heldout],
        job.gate,
        job.threads,
    )
    return info.to_json()


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
    on `heldout` (CPU-bound: the learner runs it in its own process, `run_refit_job`)."""
    import torch

    torch.set_num_threads(threads)
    rows = [example.ranking(active.search) for example in train]
    candidate = fit_ranker_arrays(rehearsal.plus(rows).usable(), active.search)
    judged = [example.ranking(active.search) for example in heldout]
    decision = paired_decision(
        top_right(active, judged),
        top_right(candidate, judged),
        settings,
        [example.holdout_key for example in heldout],
    )
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
        rehearsal_path: Path = DEFAULT_REHEARSAL_PATH,
    ) -> None:
        self._client = client
        self._config = config
        self._default = default
        self.keys = keys or Keys()
        self.registry = RankerRegistry(client, self.keys)
        self._rehearsal_path = rehearsal_path
        self._pool: ProcessPoolExecutor | None = None
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
        job = RefitJob(
            active=active.to_json(),
            rehearsal_path=str(self._rehearsal_path),
            train=await self._client.lrange(self.keys.ranker_examples(scope, False), 0, -1),
            heldout=await self._client.lrange(self.keys.ranker_examples(scope, True), 0, -1),
            gate=self._gate,
            threads=self._config.ranker_fit_threads,
        )
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        with span("ranker.refit", scope=scope, examples=len(job.train)):
            loop = asyncio.get_running_loop()
            info = RankerVersion.from_json(
                await loop.run_in_executor(self._pool, run_refit_job, job)
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

    def close(self) -> None:
        """Stop the refit process."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

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
