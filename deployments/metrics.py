"""Prometheus metrics of the deployments, through Ray's metrics export.

Ray serves them on every node's metrics export port (ray.init(_metrics_export_port=…) /
`ray start --metrics-export-port`), named `ray_<name>` with the replica's tags added.
Each class is created inside a replica (Ray metrics belong to the process that makes them).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

from ray.util.metrics import Counter, Gauge, Histogram

from deployments.grpc_calls import CallStatus, status_name
from ponder.generation import GenerationChunk

LATENCY_BOUNDARIES: list[float] = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
]
TOKEN_BOUNDARIES: list[float] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
BATCH_BOUNDARIES: list[float] = [1, 2, 4, 8, 16, 32, 64, 128, 256]


class IngressMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "ponder_requests",
            description="gRPC requests by RPC and status code.",
            tag_keys=("rpc", "code"),
        )
        self.latency = Histogram(
            "ponder_request_seconds",
            description="gRPC request latency by RPC (to the last message).",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=("rpc",),
        )

        self.in_flight = 0  # calls started and not yet finished on this replica

    def observe(self, rpc: str, code: str, started: float) -> None:
        self.requests.inc(tags={"rpc": rpc, "code": code})
        self.latency.observe(time.perf_counter() - started, tags={"rpc": rpc})

    @contextlib.contextmanager
    def measured(self, rpc: str) -> Iterator[CallStatus]:
        """Count the RPC by status code and time it (to its last message)."""
        started = time.perf_counter()
        status = CallStatus()
        self.in_flight += 1
        try:
            yield status
        except BaseException as error:
            status.code = status_name(error)
            raise
        finally:
            self.in_flight -= 1
            self.observe(rpc, status.code, started)


class DecoderMetrics:
    def __init__(self) -> None:
        self.ttft = Histogram(
            "ponder_time_to_first_token_seconds",
            description="Time from a generation request reaching the decoder to its first token.",
            boundaries=LATENCY_BOUNDARIES,
        )
        self.tpot = Histogram(
            "ponder_time_per_output_token_seconds",
            description="Mean time per generated token after the first, per request.",
            boundaries=TOKEN_BOUNDARIES,
        )
        self.queue = Gauge(
            "ponder_decoder_unfinished_requests",
            description="Requests in this replica's engine (running batch + waiting).",
        )
        self.batch = Histogram(
            "ponder_decoder_batch_size",
            description="Engine requests in flight, sampled every second while busy.",
            boundaries=BATCH_BOUNDARIES,
        )

    async def timed(self, chunks: AsyncIterator[GenerationChunk]) -> AsyncIterator[GenerationChunk]:
        """Pass chunks through, recording time to first token and time per output token."""
        started = time.perf_counter()
        first: float | None = None
        tokens = 0
        async for chunk in chunks:
            if first is None and chunk.completion_tokens:
                first = time.perf_counter()
                self.ttft.observe(first - started)
            tokens = chunk.completion_tokens  # cumulative
            yield chunk
        if first is not None and tokens > 1:
            self.tpot.observe((time.perf_counter() - first) / (tokens - 1))

    def sample_load(self, unfinished: int) -> None:
        self.queue.set(unfinished)
        if unfinished:
            self.batch.observe(unfinished)


class PlannerMetrics:
    def __init__(self) -> None:
        self.branches = Counter(
            "ponder_branches",
            description="Reasoning branches by what became of them.",
            tag_keys=("outcome",),  # started | completed | pruned | failed | not_started
        )
        self.cache = Counter(
            "ponder_score_cache_lookups",
            description="Path-score cache lookups by result.",
            tag_keys=("result",),  # hit | miss | bypassed
        )
        self.scorer = Gauge(
            "ponder_scorer_version_info",
            description="1 for the path-scorer version this replica uses per scope.",
            tag_keys=("scope", "version"),
        )
        self.unlogged = Counter(
            "ponder_reasonings_unlogged",
            description="Answered reasonings the outcome log did not take (Redis down or "
            "full): their outcomes cannot be reported.",
        )
        self._shown: dict[str, str] = {}

    def scorer_versions(self, versions: dict[str, str]) -> None:
        """Set on every request: Ray exports a gauge series only while it is being set."""
        for scope, version in versions.items():
            previous = self._shown.get(scope)
            if previous is not None and previous != version:
                self.scorer.set(0, tags={"scope": scope, "version": previous})
            self.scorer.set(1, tags={"scope": scope, "version": version})
            self._shown[scope] = version


class LearnerMetrics:
    def __init__(self) -> None:
        self.applied = Counter(
            "ponder_outcomes_applied", description="Outcomes the learner applied."
        )
        self.proposals = Counter(
            "ponder_scorer_proposals",
            description="Candidate scorer versions by the gate's verdict.",
            tag_keys=("verdict",),  # promoted | rejected | deferred
        )
        self.dead_letters = Counter(
            "ponder_outcomes_dead_lettered",
            description="Outcomes moved to the dead-letter stream after repeated failures.",
        )
        self.redis_memory = Gauge(
            "ponder_redis_memory_used_ratio",
            description="Redis used_memory / maxmemory (noeviction: at 1.0 writes fail, so "
            "alert well before; see k8s/monitoring/alerts.yaml).",
        )
