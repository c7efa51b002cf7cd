"""Prefix-aware routing of decoder calls: a Reason's calls share one key, keys spread
evenly over replicas and stay put when a replica joins, and load wins over affinity
past the configured imbalance."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import numpy as np
from ray.serve.config import RequestRouterConfig

from deployments.prefix_router import (
    ROUTER_PATH,
    PrefixAffinityRouter,
    affinity_key,
    rendezvous_rank,
)
from deployments.ray_options import decoder_options
from ponder.config import PonderConfig
from ponder.generation import ChatMessage, GenerationRequest, Role


def _request(text: str, key: str = "", **extra: Any) -> GenerationRequest:
    message = ChatMessage(role=Role.USER, content=text)
    return GenerationRequest(request_id="r", messages=(message,), affinity_key=key, **extra)


def test_the_key_is_the_affinity_key_else_the_prompts_beginning() -> None:
    assert affinity_key(_request("anything", key="reason-1")) == "reason-1"
    long = "x" * 5000
    assert affinity_key(_request(long + "a")) == affinity_key(_request(long + "b"))
    assert affinity_key(_request("a" + long)) != affinity_key(_request("b" + long))
    assert affinity_key(_request("same", adapter="sql")) != affinity_key(_request("same"))
    fused = GenerationRequest(request_id="r", prompt_embeds=np.zeros((3, 4), np.float32))
    assert affinity_key(fused) == ""


def test_rendezvous_spreads_keys_and_moves_few_when_a_replica_joins() -> None:
    replicas = ["a", "b", "c"]
    keys = [f"reason-{i}" for i in range(3000)]
    first = {k: rendezvous_rank(k, replicas)[0] for k in keys}
    shares = Counter(first.values())
    assert all(800 < shares[r] < 1200 for r in replicas), shares
    after = {k: rendezvous_rank(k, [*replicas, "d"])[0] for k in keys}
    moved = [k for k in keys if after[k] != first[k]]
    assert all(after[k] == "d" for k in moved)  # only keys the new replica takes move
    assert 600 < len(moved) < 900


class _Cache:
    def __init__(self, lens: dict[str, int]) -> None:
        self.lens = lens

    def get(self, replica_id: Any) -> int | None:
        return self.lens.get(replica_id.unique_id)


def _router(lens: dict[str, int], max_imbalance: int = 4) -> PrefixAffinityRouter:
    router = PrefixAffinityRouter.__new__(PrefixAffinityRouter)
    router.initialize_state(max_imbalance=max_imbalance)
    router._replica_queue_len_cache = _Cache(lens)  # type: ignore[assignment]
    return router


def _choose(router: PrefixAffinityRouter, replicas: list[Any], request: Any) -> list[list[str]]:
    pending = SimpleNamespace(args=[request])
    ranks = asyncio.run(router.choose_replicas(replicas, pending))  # type: ignore[arg-type]
    return [[r.replica_id.unique_id for r in rank] for rank in ranks]


def test_a_key_goes_to_its_replica_until_that_one_is_too_busy() -> None:
    replicas = [SimpleNamespace(replica_id=SimpleNamespace(unique_id=i)) for i in "abc"]
    request = _request("problem", key="reason-7")
    preferred = rendezvous_rank("reason-7", ["a", "b", "c"])
    balanced = _router({"a": 2, "b": 2, "c": 2})
    assert _choose(balanced, replicas, request)[0] == [preferred[0]]
    lens = {"a": 0, "b": 0, "c": 0} | {preferred[0]: 4}
    busy = _router(lens, max_imbalance=4)
    assert _choose(busy, replicas, request)[0] == preferred[:2]  # the less busy of two


def test_decoder_sets_get_the_router_serve_accepts() -> None:
    config = PonderConfig.model_validate({"decoder": {"routing": {"policy": "prefix_affinity"}}})
    options = decoder_options(config.decoder.deployment, config.decoder.routing)
    router = RequestRouterConfig(**options["request_router_config"])
    assert router.request_router_class == ROUTER_PATH
    assert router.request_router_kwargs == {"max_imbalance": 16}
    plain = PonderConfig()  # Serve's power of two choices by default
    assert "request_router_config" not in decoder_options(
        plain.decoder.deployment, plain.decoder.routing
    )
