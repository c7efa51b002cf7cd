"""Security through the real platform, as an outside caller meets it: every RPC needs a
bearer token (health and reflection stay open), rights per token, tokens rotated without a
restart, the tenant taken from the token, reasoning ids the server picks, outcomes only
from the tenant that asked (nothing written otherwise), per-tenant rate limits, and the
cluster's own services (Ray, Redis) refusing callers without their secrets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
import ray
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_reason_request
from ponder.learning.outcome_log import Keys
from ponder.security.tokens import RPCS, RateLimit, add_token, revoke_token
from ponder.v1 import ponder_pb2 as pb
from ponder.v1 import ponder_pb2_grpc as pb_grpc

pytestmark = pytest.mark.fast

PROBLEM = "Sara has 12 apples. She buys 30 more apples. How many apples does Sara have now?"
RELOAD_S = 0.5  # auth.reload_interval_s of the test config

# One call per PonderService RPC (auth is checked before the request is looked at).
CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "Generate": lambda stub, md: stub.Generate(pb.GenerateRequest(), metadata=md, timeout=30),
    "StreamGenerate": lambda stub, md: list(
        stub.StreamGenerate(pb.GenerateRequest(), metadata=md, timeout=30)
    ),
    "Reason": lambda stub, md: stub.Reason(pb.ReasonRequest(), metadata=md, timeout=30),
    "StreamReason": lambda stub, md: list(
        stub.StreamReason(pb.ReasonRequest(), metadata=md, timeout=30)
    ),
    "ReportOutcome": lambda stub, md: stub.ReportOutcome(
        pb.ReportOutcomeRequest(), metadata=md, timeout=30
    ),
    "GetScorer": lambda stub, md: stub.GetScorer(pb.GetScorerRequest(), metadata=md, timeout=30),
    "Encode": lambda stub, md: stub.Encode(pb.EncodeRequest(), metadata=md, timeout=30),
    "Analyze": lambda stub, md: stub.Analyze(pb.AnalyzeRequest(), metadata=md, timeout=30),
    "StreamAnalyze": lambda stub, md: list(
        stub.StreamAnalyze(pb.AnalyzeRequest(), metadata=md, timeout=30)
    ),
    "ListModels": lambda stub, md: stub.ListModels(pb.ListModelsRequest(), metadata=md, timeout=30),
}


def _tokens(platform: LocalPlatform) -> Path:
    return platform.config.apps["ponder"].auth.token_path()


def _code(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _token(
    platform: LocalPlatform,
    tenant: str,
    rpcs: tuple[str, ...] = (),
    rate_limit: RateLimit | None = None,
    token_id: str = "",
) -> str:
    """A new token in the running platform's token file, once the ingress accepts it."""
    value, entry = add_token(_tokens(platform), tenant, rpcs, token_id, rate_limit)
    probe = entry.rpcs[0] if entry.rpcs else "ListModels"
    with platform.client(token=value) as client:
        stub = pb_grpc.PonderServiceStub(client.channel)
        metadata = (("authorization", f"Bearer {value}"),)
        _wait_until(
            lambda: _code(lambda: CALLS[probe](stub, metadata)) != grpc.StatusCode.UNAUTHENTICATED,
            f"the ingress to load token {entry.id}",
        )
    return value


def test_every_rpc_needs_a_token_while_health_and_reflection_stay_open(
    platform: LocalPlatform,
) -> None:
    assert set(CALLS) == RPCS  # every RPC of the service is checked
    with grpc.insecure_channel(platform.target) as channel:
        stub = pb_grpc.PonderServiceStub(channel)
        for rpc, call in CALLS.items():
            for metadata in ((), (("authorization", "Bearer pdr_not-a-real-token"),)):
                code = _code(lambda call=call, metadata=metadata: call(stub, metadata))
                assert code == grpc.StatusCode.UNAUTHENTICATED, (rpc, metadata, code)
        wrong_scheme = (("authorization", f"Basic {platform.api_token}"),)
        assert _code(lambda: CALLS["ListModels"](stub, wrong_scheme)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING

        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (answer,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in answer.list_services_response.service}
    assert "ponder.v1.PonderService" in names
    # The local token the platform created works.
    with platform.client() as client:
        assert client.list_models()


def test_a_token_calls_only_its_rpcs_and_stops_working_once_revoked(
    platform: LocalPlatform,
) -> None:
    value = _token(platform, "reader", rpcs=("ListModels",), token_id="reader-rotation")
    with platform.client(token=value) as client:
        assert client.list_models()
        stub = pb_grpc.PonderServiceStub(client.channel)
        metadata = (("authorization", f"Bearer {value}"),)
        for rpc in sorted(RPCS - {"ListModels"}):
            code = _code(lambda rpc=rpc: CALLS[rpc](stub, metadata))
            assert code == grpc.StatusCode.PERMISSION_DENIED, (rpc, code)
        # Rotation: revoke it in the file; the running ingress refuses it without a restart.
        assert revoke_token(_tokens(platform), "reader-rotation")
        _wait_until(
            lambda: _code(client.list_models) == grpc.StatusCode.UNAUTHENTICATED,
            "the revoked token to be refused",
            timeout_s=10 * RELOAD_S + 10,
        )


def test_the_tenant_is_the_tokens_and_a_claimed_other_tenant_is_refused(
    platform: LocalPlatform,
) -> None:
    value = _token(platform, "acme")
    with platform.client(token=value) as client:
        stub = pb_grpc.PonderServiceStub(client.channel)
        auth = ("authorization", f"Bearer {value}")
        own = stub.ListModels(pb.ListModelsRequest(), metadata=(auth, ("x-tenant-id", "acme")))
        assert own.models
        with pytest.raises(grpc.RpcError) as other:
            stub.ListModels(pb.ListModelsRequest(), metadata=(auth, ("x-tenant-id", "rival")))
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "rival" in other.value.details()


def _outcome_state(url: str, reasoning_id: str) -> tuple[int, int, int, bool]:
    keys = Keys()
    with redis.Redis.from_url(url) as r:
        return (
            int(r.xlen(keys.outcomes_stream)),
            int(r.get(keys.reported) or 0),
            int(r.xlen(keys.reasonings_stream)),
            bool(r.exists(keys.outcome(reasoning_id))),
        )


def test_another_tenant_cannot_report_on_or_replace_a_reasoning(
    platform: LocalPlatform,
) -> None:
    acme = platform.client(token=_token(platform, "acme-owner"))
    rival = platform.client(token=_token(platform, "rival"))
    url = platform.redis_servers[0].url
    request = build_reason_request(PROBLEM, branches=2, strategies=["pot", "direct"])
    try:
        # The same x-request-id twice (and the rival reusing it): three distinct records.
        first = acme.reason(request, timeout=300, request_id="reused-id")
        second = acme.reason(request, timeout=300, request_id="reused-id")
        foreign = rival.reason(request, timeout=300, request_id="reused-id")
        ids = {first.reasoning_id, second.reasoning_id, foreign.reasoning_id}
        assert len(ids) == 3 and "reused-id" not in ids
        assert first.outcome_reportable and second.outcome_reportable

        before = _outcome_state(url, first.reasoning_id)
        with pytest.raises(grpc.RpcError) as refused:
            rival.report_outcome(first.reasoning_id, reward=0.0)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # same as an unknown id
        assert _outcome_state(url, first.reasoning_id) == before  # nothing stored or queued
        assert not before[3]

        ack = acme.report_outcome(first.reasoning_id, reward=0.75)
        assert not ack.duplicate
        with pytest.raises(grpc.RpcError) as taken:
            acme.report_outcome(first.reasoning_id, reward=0.25)
        assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "0.75" not in (taken.value.details() or "")  # the earlier outcome is not echoed
        # The rival still cannot see it, even now that it has an outcome.
        with pytest.raises(grpc.RpcError) as still:
            rival.report_outcome(first.reasoning_id, reward=0.75)
        assert still.value.code() == grpc.StatusCode.NOT_FOUND
        assert acme.report_outcome(second.reasoning_id, reward=1.0).duplicate is False
    finally:
        acme.close()
        rival.close()


def test_the_score_cache_is_each_tenants_own(platform: LocalPlatform) -> None:
    """A tenant's cache hits never say that another tenant asked the same problem: the
    score cache is partitioned by tenant (and decoder set and adapter)."""
    problem = "Ann has 5 pens and buys 9 more pens. How many pens does Ann have?"
    request = build_reason_request(problem, branches=2, strategies=["pot", "direct"])
    first = platform.client(token=_token(platform, "cache-first"))
    second = platform.client(token=_token(platform, "cache-second"))
    try:
        asked = first.reason(request, timeout=120)
        assert asked.cache_misses > 0  # (a request also hits its own earlier scores)
        again = first.reason(request, timeout=120)
        assert again.cache_misses == 0 and again.cache_hits > 0  # the tenant's own, reused
        other = second.reason(request, timeout=120)
        assert other.cache_misses > 0  # computed afresh: nothing of the first tenant shared
    finally:
        first.close()
        second.close()


def test_the_rate_limit_refuses_past_its_budget_and_recovers(platform: LocalPlatform) -> None:
    limit = RateLimit(requests_per_s=2, burst=3)
    value = _token(platform, "throttled", rate_limit=limit)
    with PonderClient(platform.target, token=value) as client:
        stub = pb_grpc.PonderServiceStub(client.channel)
        metadata = (("authorization", f"Bearer {value}"),)
        refused = None
        for _ in range(10):  # burst 3 (partly spent while the token was loading) then 2/s
            try:
                stub.ListModels(pb.ListModelsRequest(), metadata=metadata, timeout=30)
            except grpc.RpcError as error:
                refused = error
                break
        assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "throttled" in (refused.details() or "")
        trailers = dict(refused.trailing_metadata() or ())  # type: ignore[attr-defined]
        wait_ms = int(trailers["retry-after-ms"])
        assert 0 < wait_ms <= 1000 / limit.requests_per_s + 50
        # A refused stream says the same in its details (Serve's proxy drops the trailers
        # of a stream that fails before its first message).
        with pytest.raises(grpc.RpcError) as stream_refused:
            list(stub.StreamGenerate(pb.GenerateRequest(prompt="hi"), metadata=metadata))
        assert stream_refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "retry in" in (stream_refused.value.details() or "")
        time.sleep(1.2 / limit.requests_per_s)
        assert stub.ListModels(pb.ListModelsRequest(), metadata=metadata, timeout=30).models
        # Other tenants are not affected by this one's budget.
        with platform.client() as local:
            assert local.list_models()


def test_the_rate_limit_weighs_calls_by_the_tokens_they_may_generate(
    platform: LocalPlatform,
) -> None:
    """A tenant with a token budget: a call costs the most tokens it may generate, so a
    16-branch Reason with a big budget is refused where a 1-token one passes."""
    limit = RateLimit(requests_per_s=50, burst=50, tokens_per_s=1, token_burst=100)
    value = _token(platform, "metered", rate_limit=limit)
    with PonderClient(platform.target, token=value) as client:
        stub = pb_grpc.PonderServiceStub(client.channel)
        metadata = (("authorization", f"Bearer {value}"),)

        def generate(max_tokens: int) -> grpc.StatusCode:
            request = pb.GenerateRequest(
                prompt="hi", sampling=pb.SamplingOptions(max_tokens=max_tokens)
            )
            return _code(lambda: stub.Generate(request, metadata=metadata, timeout=60))

        assert generate(80) == grpc.StatusCode.OK
        assert generate(80) == grpc.StatusCode.RESOURCE_EXHAUSTED  # 20 tokens left
        budget = pb.ReasonBudget(max_branches=16, max_tokens=8192)
        big = pb.ReasonRequest(problem="What is 2 + 3?", budget=budget)
        refused = _code(lambda: stub.Reason(big, metadata=metadata, timeout=60))
        assert refused == grpc.StatusCode.INVALID_ARGUMENT  # more than the bucket holds
        assert generate(10) == grpc.StatusCode.OK  # the refusals took nothing
        # A call that generates nothing costs one call only.
        assert _code(lambda: stub.ListModels(pb.ListModelsRequest(), metadata=metadata)) == (
            grpc.StatusCode.OK
        )


def test_an_openai_request_with_n_choices_is_admitted_and_charged_once(
    platform: LocalPlatform,
) -> None:
    """n choices cost n × max_tokens, taken once: a request that could never fit is a 400
    before anything is generated, one that fits spends its tokens once for all choices."""
    import httpx

    limit = RateLimit(requests_per_s=50, burst=50, tokens_per_s=1, token_burst=100)
    value = _token(platform, "metered-n", rate_limit=limit)
    headers = {"authorization": f"Bearer {value}"}
    url = platform.http_url + "/v1/chat/completions"

    def chat(n: int, max_tokens: int, stream: bool = False) -> httpx.Response:
        body = {"messages": [{"role": "user", "content": "hi"}], "n": n}
        body |= {"max_tokens": max_tokens, "stream": stream}
        return httpx.post(url, json=body, headers=headers, timeout=60)

    too_big = chat(4, 30)  # 120 tokens > the bucket's 100: never admissible
    assert too_big.status_code == 400 and "max_tokens" in too_big.json()["error"]["message"]
    answered = chat(2, 40)  # 80 of the 100
    assert answered.status_code == 200 and len(answered.json()["choices"]) == 2
    ids = {choice.get("index") for choice in answered.json()["choices"]}
    assert ids == {0, 1}
    refused = chat(2, 20, stream=True)  # 40 more than the ~20 left: refused before a chunk
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def _listening(pids: set[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket of these processes."""
    found = []
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.pid in pids:
            found.append((connection.laddr.ip, connection.laddr.port, connection.pid))
    return found


def test_redis_listens_on_loopback_only_and_refuses_callers_without_the_password(
    platform: LocalPlatform,
) -> None:
    (server,) = platform.redis_servers
    redis_pids = {
        p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "") == "redis-server"
    }
    ours = [entry for entry in _listening(redis_pids) if entry[1] == server.port]
    assert ours and all(address == "127.0.0.1" for address, _, _ in ours), ours
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert sock.recv(128).startswith(b"-NOAUTH")
    with redis.Redis.from_url(server.url) as r:  # with the password
        assert r.ping()
        info = r.info("memory")
        assert int(info["maxmemory"]) > 0 and info["maxmemory_policy"] == "noeviction"
        with pytest.raises(redis.ResponseError):
            r.execute_command("CONFIG", "GET", "requirepass")  # renamed away


def test_the_ray_cluster_refuses_a_client_without_its_token(platform: LocalPlatform) -> None:
    gcs = ray.get_runtime_context().gcs_address
    intruder = f"import ray\nray.init(address={gcs!r})\nprint('INTRUDER CONNECTED')\n"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    for extra in ({"RAY_AUTH_MODE": "disabled"}, {"RAY_AUTH_MODE": "token",
                                                  "RAY_AUTH_TOKEN": "0" * 64}):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", intruder],
            env=environment | extra,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode != 0 and "INTRUDER CONNECTED" not in done.stdout, extra
        assert "Authentication" in done.stderr or "auth" in done.stderr.lower(), done.stderr[-800:]
    # The cluster's own token file is private.
    token_path = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
    assert token_path.stat().st_mode & 0o777 == 0o600


def _ponder(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ponder.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_creates_uses_and_revokes_a_token(platform: LocalPlatform) -> None:
    file = str(_tokens(platform))
    added = _ponder("token", "add", "--file", file, "--tenant", "cli-tenant", "--id", "cli-1")
    assert added.returncode == 0, added.stderr
    value = added.stdout.strip()
    assert value.startswith("pdr_") and value not in Path(file).read_text()
    assert "cli-1: tenant cli-tenant" in _ponder("token", "list", "--file", file).stdout
    target = ["--target", platform.target, "--token-file", "-"]

    def models() -> subprocess.CompletedProcess[str]:
        return _ponder("models", *target, stdin=value)

    _wait_until(lambda: models().returncode == 0, "the CLI's token to work")
    # A token on the command line (where `ps` shows it) is refused before any call.
    on_command_line = _ponder("models", "--target", platform.target, "--token", value)
    assert on_command_line.returncode == 2 and "--token-file" in on_command_line.stderr
    assert _ponder("token", "revoke", "--file", file, "cli-1").returncode == 0
    _wait_until(lambda: "UNAUTHENTICATED" in models().stderr, "the revocation to apply")
    missing = _ponder("models", "--target", platform.target, "--token-file", "/dev/null")
    assert missing.returncode == 1 and "UNAUTHENTICATED" in missing.stderr
