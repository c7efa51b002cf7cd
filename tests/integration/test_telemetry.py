"""Traces and metrics through the real platform: a caller's traceparent continues into
one trace covering proxy -> ingress -> planner -> branches -> decoder (-> scorer, Redis),
and Ray's Prometheus endpoint shows Ponder's counters and histograms after traffic."""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_reason_request, build_request
from ponder.v1 import ponder_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

PROBLEM = "A box holds 6 pens. How many pens are in 7 boxes?"


def _spans(folder: Path, trace_id: str) -> list[dict[str, Any]]:
    found = []
    for path in folder.glob("spans-*.jsonl"):
        for line in path.read_text().splitlines():
            span = json.loads(line)
            if span["context"]["trace_id"] == f"0x{trace_id}":
                found.append(span)
    return found


def ray_session_dir() -> str:
    import ray

    return str(ray._private.worker.global_worker.node.get_session_dir_path())


def test_callers_traceparent_continues_into_one_trace_over_every_hop(
    platform: LocalPlatform, traces_dir: Path
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    metadata = (
        ("traceparent", f"00-{trace_id}-{caller_span}-01"),
        ("authorization", f"Bearer {platform.api_token}"),
    )
    with platform.client() as client:
        stub = pb_grpc.PonderServiceStub(client.channel)
        request = build_reason_request(PROBLEM, branches=2, strategies=["pot", "direct"])
        response = stub.Reason(request, timeout=300, metadata=metadata)
    assert response.answer

    wanted = {
        "ponder.plan",
        "ponder.branch",
        "ponder.score",
        "ponder.redis.mget",
        "ponder.decoder.stream",  # planner calls are streamed (tokens of aborted calls count)
        "ponder.outcome_log.record",
    }
    deadline = time.monotonic() + 30
    while True:
        spans = _spans(traces_dir, trace_id)
        names = {s["name"] for s in spans}
        if wanted <= names or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= names, sorted(names)
    by_id = {s["context"]["span_id"]: s for s in spans}
    # Serve's own spans of every hop: the gRPC proxy and each replica.
    for hop in (
        "proxy_grpc_request Ingress /ponder.v1.PonderService/Reason",
        "replica_handle_request Ingress Reason",
        "replica_handle_request Planner reason",
        "replica_handle_request Decoder stream",
    ):
        assert hop in names, (hop, sorted(names))
    roots = [s for s in spans if s["parent_id"] not in by_id]
    assert roots and all(s["parent_id"] == f"0x{caller_span}" for s in roots), [
        (s["name"], s["parent_id"]) for s in roots
    ]

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent_id"] in by_id:
            span = by_id[span["parent_id"]]
            chain.append(span["name"])
        return chain

    branches = [s for s in spans if s["name"] == "ponder.branch"]
    assert len(branches) == 2
    decoder_calls = [s for s in spans if s["name"] == "ponder.decoder.stream"]
    assert decoder_calls
    for call in decoder_calls:
        chain = ancestors(call)  # decoder replica -> router -> branch -> planner -> ingress
        assert chain[0] == "replica_handle_request Decoder stream", chain
        assert "ponder.branch" in chain and "replica_handle_request Planner reason" in chain
        assert chain[-1] == "proxy_grpc_request Ingress /ponder.v1.PonderService/Reason"
    redis_reads = [s for s in spans if s["name"] == "ponder.redis.mget"]
    assert all("ponder.score" in ancestors(s) for s in redis_reads)

    # Structured logs: the replicas' JSON log lines of this request carry its trace id.
    logs = Path(ray_session_dir()) / "logs" / "serve"
    lines = [
        json.loads(line)
        for path in logs.glob("replica_ponder_*.log")
        for line in path.read_text().splitlines()
        if line.startswith("{") and trace_id in line
    ]
    assert lines, "no JSON log line carries the trace id"
    assert all(line.get("request_id") for line in lines)
    assert {line.get("trace_id") for line in lines} == {trace_id}


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_endpoint_shows_ponder_counters_and_histograms(
    platform: LocalPlatform, client: PonderClient
) -> None:
    client.generate(build_request(messages=[("user", "Say hi.")], max_tokens=8), timeout=120)
    answer = client.reason(build_reason_request(PROBLEM, branches=2), timeout=300)
    client.report_outcome(answer.reasoning_id, correct=True)
    wanted = {
        ("ray_ponder_requests_total", (("rpc", "Reason"), ("code", "OK"))),
        ("ray_ponder_requests_total", (("rpc", "Generate"), ("code", "OK"))),
        ("ray_ponder_request_seconds_count", (("rpc", "Reason"),)),
        ("ray_ponder_time_to_first_token_seconds_count", ()),
        ("ray_ponder_time_per_output_token_seconds_count", ()),
        ("ray_ponder_decoder_batch_size_count", ()),
        ("ray_ponder_branches_total", (("outcome", "started"),)),
        ("ray_ponder_score_cache_lookups_total", ()),
        ("ray_ponder_scorer_version_info", (("scope", "shared"),)),
        ("ray_ponder_outcomes_applied_total", ()),
        # vLLM's own statistics, through Ray's metrics (EngineConfig.engine_metrics)
        ("ray_vllm_time_to_first_token_seconds_count", ()),
        ("ray_vllm_inter_token_latency_seconds_count", ()),
        ("ray_vllm_prefix_cache_queries_total", ()),
        ("ray_vllm_generation_tokens_total", ()),
    }
    deadline = time.monotonic() + 90  # Ray exports metrics every few seconds
    missing: list[str] = []
    while True:
        text = _metrics(platform.metrics_port)
        missing = [
            f"{name}{dict(labels)}"
            for name, labels in wanted
            if _value(text, name, **dict(labels)) <= 0
        ]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not missing, missing
    assert re.search(r"ray_ponder_decoder_unfinished_requests\{", text)
    for gauge in ("kv_cache_usage_perc", "num_requests_running", "num_requests_waiting"):
        assert re.search(rf"ray_vllm_{gauge}\{{", text), gauge


def test_decoder_reads_its_engines_queue_and_prefix_cache(
    platform: LocalPlatform, client: PonderClient
) -> None:
    """The decoder's load comes from vLLM's scheduler: the same long prompt twice is
    found in the prefix cache, and what the autoscaling policy gets names the queue."""
    from ray import serve

    from deployments.autoscaling_policy import ENGINE_RUNNING, ENGINE_WAITING

    prompt = "Repeat after me: " + " ".join(f"word{i}" for i in range(200))
    decoder = serve.get_deployment_handle("Decoder", app_name="ponder")
    before = decoder.stats.remote().result(timeout_s=30)
    client.generate(build_request(messages=[("user", prompt)], max_tokens=2), timeout=120)
    first = decoder.stats.remote().result(timeout_s=30)
    client.generate(build_request(messages=[("user", prompt)], max_tokens=2), timeout=120)
    second = decoder.stats.remote().result(timeout_s=30)
    looked_up = first.prefix_cache_queries - before.prefix_cache_queries
    assert looked_up > 400, (before, first)  # the whole prompt was looked up
    assert second.prefix_cache_queries - first.prefix_cache_queries == looked_up
    # the second time, most of it was there (all but the last, partly filled block)
    assert second.prefix_cache_hits - first.prefix_cache_hits > looked_up // 2, second
    assert 0.0 <= second.kv_cache_usage <= 1.0
    reported = decoder.record_autoscaling_stats.remote().result(timeout_s=30)
    assert {ENGINE_RUNNING, ENGINE_WAITING} <= set(reported)
