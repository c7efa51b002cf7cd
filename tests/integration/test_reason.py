"""Reason / StreamReason over gRPC through Serve: planner -> decoder replicas, Redis cache."""

from __future__ import annotations

import grpc
import pytest

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_reason_request
from ponder.v1 import ponder_pb2 as pb
from tests.integration.support import wait_until_engine_idle

pytestmark = pytest.mark.integration

PROBLEM = (
    "There are 34 dogwood trees currently in the park. Park workers will plant 49 dogwood "
    "trees today. How many dogwood trees will the park have when the workers are finished?"
)


def test_reason_returns_plan_paths_and_answer(client: PonderClient) -> None:
    request = build_reason_request(
        PROBLEM, branches=4, strategies=["direct", "cot", "pot", "decompose"]
    )
    response = client.reason(request, timeout=300)
    assert response.reasoning_id
    assert response.answer
    assert response.HasField("numeric_answer")
    assert response.scorer_version
    nodes = {node.id: node for node in response.plan}
    assert nodes["extract"].kind == pb.NODE_KIND_EXTRACT
    assert all(dep in nodes for node in response.plan for dep in node.depends_on)
    branches = [p for p in response.paths if p.id != "search"]  # search: the ranker's own
    assert len(branches) == 4
    assert {p.strategy for p in branches} == {"direct", "cot", "pot", "decompose"}
    scored = [p for p in response.paths if p.steps]
    assert len(scored) >= 2
    assert all(0.0 < p.score < 1.0 for p in scored)
    chosen = next(p for p in response.paths if p.id == response.chosen_path_id)
    assert chosen.status == pb.PATH_STATUS_COMPLETED
    assert chosen.answer == response.answer
    assert response.usage.decoder_calls >= 2
    assert response.usage.completion_tokens > 0


def test_default_reason_samples_programs_in_waves(client: PonderClient) -> None:
    """The shipped default: sampled `pot` programs, scored by the learned verifier (no
    verify call), started in waves until the answer ranker settles, answered by the
    ranker (a `search` path when the answer came from program search alone)."""
    response = client.reason(build_reason_request(PROBLEM), timeout=300)
    assert {p.strategy for p in response.paths} == {"pot"}
    branches = [p for p in response.paths if p.id != "search"]
    started = [p for p in branches if "not started" not in p.note]
    assert 3 <= len(started) <= len(branches) == 8  # a first wave of 3, up to 8
    assert all(p.tokens == 0 and not p.steps for p in branches if p not in started)
    assert all(p.tokens == 0 for p in response.paths if p.id == "search")
    # at most one decoder call per started program: the verify node makes none
    assert 1 <= response.usage.decoder_calls <= len(started)
    verify_steps = [s for p in response.paths for s in p.steps if s.kind == pb.NODE_KIND_VERIFY]
    assert verify_steps and all(s.tokens == 0 for s in verify_steps)
    assert response.numeric_answer == 83  # 34 + 49


def test_repeated_reason_is_served_from_the_score_cache(client: PonderClient) -> None:
    request = build_reason_request(PROBLEM, strategies=["pot", "direct"])
    first = client.reason(request, timeout=300)
    second = client.reason(request, timeout=300)
    assert first.cache_misses > 0
    # The repeat finds what the first call stored: without the cache across requests it
    # would miss as often as the first call did (hits alone also come from repeats inside
    # one call). Not "no miss at all": a batch-dependent float difference can change a
    # greedy token, and with it a step's text (bench/reason.py: 6 of 194 lookups).
    counts = (first.cache_hits, first.cache_misses, second.cache_hits, second.cache_misses)
    assert second.cache_misses * 4 <= first.cache_misses, counts


def test_stream_reason_events_arrive_in_order(client: PonderClient) -> None:
    events = list(client.stream_reason(build_reason_request(PROBLEM, branches=3), timeout=300))
    kinds = [e.kind for e in events]
    assert kinds[0] == pb.REASON_EVENT_KIND_PLAN_BUILT
    assert kinds[-1] == pb.REASON_EVENT_KIND_FINAL_ANSWER
    assert kinds.count(pb.REASON_EVENT_KIND_FINAL_ANSWER) == 1
    # three branches asked for: the shipped first wave (3) starts them all at once
    assert kinds.count(pb.REASON_EVENT_KIND_BRANCH_STARTED) == 3
    started: set[str] = set()
    ended: set[str] = set()
    for event in events:
        if event.kind == pb.REASON_EVENT_KIND_BRANCH_STARTED:
            started.add(event.branch_id)
        elif event.kind == pb.REASON_EVENT_KIND_STEP_DONE:
            assert event.branch_id in started and event.branch_id not in ended
            assert 0.0 < event.score < 1.0
        elif event.kind in (pb.REASON_EVENT_KIND_BRANCH_DONE, pb.REASON_EVENT_KIND_BRANCH_PRUNED):
            assert event.branch_id in started
            ended.add(event.branch_id)
    assert ended == started
    final = events[-1].response
    branches = [p for p in final.paths if p.id != "search"]  # search: the ranker's own path
    assert final.answer and len(branches) == 3
    assert all(p.id in started or "not started" in p.note for p in branches)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (build_reason_request(""), "problem"),
        (build_reason_request("x" * 4001), "problem"),
        (build_reason_request(PROBLEM, branches=0), "budget.max_branches"),
        (build_reason_request(PROBLEM, branches=17), "budget.max_branches"),
        (build_reason_request(PROBLEM, strategies=["guess"]), "strategies"),
    ],
)
def test_bad_reason_requests_get_invalid_argument(
    client: PonderClient, request_: pb.ReasonRequest, field: str
) -> None:
    for call in (client.reason, lambda r, timeout: list(client.stream_reason(r, timeout))):
        with pytest.raises(grpc.RpcError) as caught:
            call(request_, timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (caught.value.details() or "").startswith(field)


def test_reason_answers_with_redis_down(platform: LocalPlatform, client: PonderClient) -> None:
    (redis,) = platform.redis_servers
    redis.stop()
    try:
        response = client.reason(build_reason_request(PROBLEM, strategies=["pot"]), timeout=300)
        assert response.answer
        assert response.cache_hits == 0
    finally:
        redis.start()
    after = client.reason(build_reason_request(PROBLEM, strategies=["pot"]), timeout=300)
    assert after.answer


def test_cli_reason_prints_answer_and_tree(platform: LocalPlatform) -> None:
    """By default the answer and one line per branch; --quiet the answer alone; --json the
    whole response; --trace every step."""
    import json
    import subprocess
    import sys

    def cli(*flags: str) -> list[str]:
        command = [sys.executable, "-m", "ponder.cli", "reason", PROBLEM]
        command += ["--target", platform.target, "--token-file", "-"]
        result = subprocess.run(
            [*command, "--branches", "2", "--strategy", "pot", *flags],
            input=platform.api_token,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    tree = cli()
    assert tree[0].startswith("answer: ") and tree[0] != "answer: (none)"
    branches = [line for line in tree if line.startswith(("├─", "└─"))]
    assert len(branches) >= 2  # two pot branches (a search path may join them)
    assert sum("◀ chosen" in line for line in branches) == 1
    assert "decoder calls" in tree[-1] and "reasoning_id" in tree[-1]
    quiet = cli("--quiet")
    assert len(quiet) == 1 and quiet[0].strip()
    whole = json.loads("\n".join(cli("--json")))
    assert whole["answer"] and len(whole["paths"]) >= 2 and whole["chosenPathId"]
    trace = cli("--trace")
    assert trace[0].strip() and "scorer" in trace[1] and "cache" in trace[1]
    assert "<= chosen" in "\n".join(trace)


def test_reason_deadline_is_honoured_and_branches_are_aborted(client: PonderClient) -> None:
    assert wait_until_engine_idle(timeout=180) == 0  # no leftovers from earlier tests
    request = build_reason_request(PROBLEM, branches=16, strategies=["cot"], max_tokens=4096)
    with pytest.raises(grpc.RpcError) as caught:
        client.reason(request, timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Sixteen 160-token chains of thought (~2 700 tokens, over 10 s on 2 cores) cannot
    # finish within 1 + 5 s: only aborting them empties the engine this soon.
    assert wait_until_engine_idle(timeout=5.0) == 0
