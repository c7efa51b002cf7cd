"""Prefix-aware routing of decoder calls (Ray Serve's request-router API).

A Reason's branches share a long prompt prefix (system prompt, the problem), and so do
repeated prompts; vLLM's prefix cache only pays off when they reach the replica that
already holds that prefix. Serve's default router (power of two choices) spreads them
over the replicas at random.

This router ranks the replicas for each call by rendezvous hashing of the call's
affinity key (highest hash of key + replica wins):
- `GenerationRequest.affinity_key` when set (the planner sets a Reason's request id, so
  all its branches and steps go to one replica);
- otherwise the first PREFIX_CHARS characters of its prompt, with its model and adapter.
Every router (each planner and ingress replica has its own) ranks the same key the same
way without sharing state, and a replica that joins or leaves moves only its share of
keys. Load still wins over affinity: when the preferred replica's queue is
`max_imbalance` or more requests longer than the shortest known queue, the call goes to
the less loaded of the two best-ranked replicas. Calls without a GenerationRequest (stats,
health) take the power-of-two path.

Ray's own `PrefixCacheAffinityRouter` (ray.serve.llm) was the first choice; it reads
`prompt`/`messages` as OpenAI dicts (Ponder's are dataclasses, so every key came out
empty), and it records each call in a shared prefix-tree actor with a blocking `ray.get`
on the routing path.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ray.serve._private.request_router import PowerOfTwoChoicesRequestRouter
from ray.serve._private.request_router.common import PendingRequest
from ray.serve._private.request_router.replica_wrapper import RunningReplica

from ponder.generation import GenerationRequest

PREFIX_CHARS = 1024
ROUTER_PATH = "deployments.prefix_router:PrefixAffinityRouter"


def affinity_key(request: GenerationRequest) -> str:
    """What decides a call's replica: its affinity key, else its prompt's beginning."""
    if request.affinity_key:
        return request.affinity_key
    if request.prompt_embeds is not None:
        return ""  # a fused prompt: no shared token prefix to find
    text = request.prompt or "\n".join(f"{m.role}:{m.content}" for m in request.messages)
    return f"{request.model}|{request.adapter or ''}|{text[:PREFIX_CHARS]}"


def rendezvous_rank(key: str, replica_ids: list[str]) -> list[str]:
    """Replica ids, best first, for `key` (highest random weight hashing)."""

    def weight(replica_id: str) -> bytes:
        return hashlib.blake2b(f"{key}\x00{replica_id}".encode(), digest_size=8).digest()

    return sorted(replica_ids, key=weight, reverse=True)


class PrefixAffinityRouter(PowerOfTwoChoicesRequestRouter):
    """Rendezvous-hash affinity with a load guard; power of two choices without a key."""

    def initialize_state(self, max_imbalance: int = 16, **kwargs: Any) -> None:
        self._max_imbalance = max_imbalance

    def _key(self, pending_request: PendingRequest | None) -> str:
        if pending_request is None:
            return ""
        for arg in pending_request.args:
            if isinstance(arg, GenerationRequest):
                return affinity_key(arg)
        return ""

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        key = self._key(pending_request)
        if not key or len(candidate_replicas) < 2:
            ranks: list[list[RunningReplica]] = await super().choose_replicas(
                candidate_replicas, pending_request
            )
            return ranks
        by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
        ranked = [by_id[i] for i in rendezvous_rank(key, list(by_id))]
        queues = self._queue_lens(ranked)
        preferred = ranked[0]
        known = [q for q in queues.values() if q is not None]
        mine = queues.get(preferred.replica_id.unique_id)
        if mine is not None and known and mine - min(known) >= self._max_imbalance:
            # too busy: the less loaded of the two best-ranked (the router probes them)
            return [ranked[:2], ranked[2:]] if len(ranked) > 2 else [ranked]
        return [[preferred], ranked[1:]]

    def _queue_lens(self, replicas: list[RunningReplica]) -> dict[str, int | None]:
        cache = self.replica_queue_len_cache
        return {r.replica_id.unique_id: cache.get(r.replica_id) for r in replicas}
