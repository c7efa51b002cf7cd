"""Generate / StreamGenerate over a real gRPC channel through Serve to vLLM."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2
from ray import serve

from deployments.runner import LocalPlatform
from ponder import env
from ponder.api.client import PonderClient, build_request
from ponder.v1 import ponder_pb2 as pb
from tests.integration.support import TEST_MAX_MODEL_LEN, wait_until_engine_idle

pytestmark = pytest.mark.integration

CAPITAL = [("user", "What is the capital of France?")]


def test_health_is_serving(client: PonderClient) -> None:
    assert client.check() == health_pb2.HealthCheckResponse.SERVING


def test_generate_answers_paris_at_temperature_zero(client: PonderClient) -> None:
    response = client.generate(build_request(messages=CAPITAL, temperature=0.0, max_tokens=32))
    assert "Paris" in response.text
    assert response.finish_reason == pb.FINISH_REASON_STOP
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= 32
    assert response.request_id


def test_stream_concatenation_equals_unary_answer(client: PonderClient) -> None:
    request = build_request(
        messages=[("user", "Name three colours of the rainbow.")], temperature=0.0, max_tokens=48
    )
    unary = client.generate(request)
    chunks = list(client.stream_generate(request))
    assert len(chunks) >= 3
    assert "".join(c.text for c in chunks) == unary.text
    assert all(c.finish_reason == pb.FINISH_REASON_UNSPECIFIED for c in chunks[:-1])
    assert chunks[-1].finish_reason == unary.finish_reason
    assert chunks[-1].usage.completion_tokens == unary.usage.completion_tokens


def test_sixteen_concurrent_requests_all_succeed(client: PonderClient) -> None:
    prompts = [f"Give one fact about the number {n}." for n in range(16)]

    def ask(prompt: str) -> pb.GenerateResponse:
        return client.generate(build_request(messages=[("user", prompt)], max_tokens=24))

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(ask, prompts))
    assert len(responses) == 16
    assert all(r.text and r.usage.completion_tokens > 0 for r in responses)
    assert len({r.request_id for r in responses}) == 16


def test_same_seed_gives_same_sample(client: PonderClient) -> None:
    request = build_request(
        messages=[("user", "Write a short line about the sea.")],
        preset="creative",
        seed=1234,
        max_tokens=24,
    )
    first, second = client.generate(request), client.generate(request)
    assert first.text == second.text


def test_seeded_request_with_a_chunked_prefill_is_reproducible(client: PonderClient) -> None:
    # 1 500 prompt tokens are prefilled in 256-token steps; vLLM 0.32's CPU runner died on
    # seeded requests there ("CPU Generator does not use offset") until
    # ponder.engine.vllm_cpu_fixes.
    request = build_request(
        "count: " + "one two three " * 500, temperature=1.0, seed=7, max_tokens=12
    )
    first, second = client.generate(request, timeout=120), client.generate(request, timeout=120)
    assert first.usage.prompt_tokens > 1024
    assert first.text == second.text and first.usage.completion_tokens == 12


def test_message_over_the_size_limit_is_refused_before_it_is_read(
    client: PonderClient,
) -> None:
    huge = build_request("x" * (17 * 1024 * 1024))  # ingress.max_message_bytes is 16 MiB
    with pytest.raises(grpc.RpcError) as caught:
        client.generate(huge, timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Paris" in client.generate(build_request(messages=CAPITAL, temperature=0.0)).text


def test_stop_string_ends_generation(client: PonderClient) -> None:
    unstopped = client.generate(build_request("1, 2, 3, 4, 5, 6,", temperature=0.0, max_tokens=40))
    assert " 9" in unstopped.text  # the greedy continuation does reach the stop string
    request = build_request("1, 2, 3, 4, 5, 6,", temperature=0.0, max_tokens=40, stop=[" 9"])
    response = client.generate(request)
    # Cut exactly before the stop string (not an end of sequence somewhere earlier).
    assert response.text == unstopped.text[: unstopped.text.index(" 9")]
    assert response.finish_reason == pb.FINISH_REASON_STOP
    assert response.usage.completion_tokens < unstopped.usage.completion_tokens


def test_logprobs_are_returned_per_token(client: PonderClient) -> None:
    response = client.generate(
        build_request(messages=CAPITAL, temperature=0.0, max_tokens=16, logprobs=3)
    )
    assert len(response.logprobs) == response.usage.completion_tokens
    for token in response.logprobs:
        assert len(token.top_logprobs) == 3
        assert token.logprob <= 0.0
        # Greedy decoding picks the most likely token.
        assert token.logprob == pytest.approx(token.top_logprobs[0].logprob)


def test_max_tokens_gives_length_finish(client: PonderClient) -> None:
    response = client.generate(build_request("Once upon a time", temperature=0.0, max_tokens=5))
    assert response.usage.completion_tokens == 5
    assert response.finish_reason == pb.FINISH_REASON_LENGTH


def test_min_tokens_holds_the_answer_open_to_a_fixed_length(client: PonderClient) -> None:
    question = [("user", "What is the capital of France?")]
    free = client.generate(build_request(messages=question, temperature=0.0, max_tokens=64))
    assert free.finish_reason == pb.FINISH_REASON_STOP  # ends on its own well before 64
    held = client.generate(
        build_request(messages=question, temperature=0.0, max_tokens=64, min_tokens=64)
    )
    assert held.usage.completion_tokens == 64
    assert held.finish_reason == pb.FINISH_REASON_LENGTH
    assert held.text.startswith(free.text)  # greedy: the same answer, then more


BAD_REQUESTS = [
    (build_request(""), grpc.StatusCode.INVALID_ARGUMENT, "prompt"),
    (
        pb.GenerateRequest(messages=[pb.ChatMessage(role=0, content="hi")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "messages[0].role",
    ),
    (build_request("x", temperature=-0.5), grpc.StatusCode.INVALID_ARGUMENT, "temperature"),
    (build_request("x", temperature=2.5), grpc.StatusCode.INVALID_ARGUMENT, "temperature"),
    (build_request("x", top_p=0.0), grpc.StatusCode.INVALID_ARGUMENT, "top_p"),
    (build_request("x", top_p=1.5), grpc.StatusCode.INVALID_ARGUMENT, "top_p"),
    (build_request("x", max_tokens=0), grpc.StatusCode.INVALID_ARGUMENT, "max_tokens"),
    (
        build_request("x", max_tokens=TEST_MAX_MODEL_LEN + 1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "max_tokens",
    ),
    (
        build_request("word " * (TEST_MAX_MODEL_LEN + 100)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "prompt",
    ),
    (  # fits the context, but is over the prompt-token cap (max_model_len - 64 here)
        build_request("word " * (TEST_MAX_MODEL_LEN - 20)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "at most",
    ),
    (
        build_request("x", stop=[str(i) for i in range(17)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "stop",
    ),
    (build_request("x", logprobs=21), grpc.StatusCode.INVALID_ARGUMENT, "logprobs"),
    (
        build_request("x", max_tokens=4, min_tokens=5),
        grpc.StatusCode.INVALID_ARGUMENT,
        "min_tokens",
    ),
    (  # more than default_max_tokens (256) or the context leaves when max_tokens is unset
        build_request("x", min_tokens=TEST_MAX_MODEL_LEN - 8),
        grpc.StatusCode.INVALID_ARGUMENT,
        "min_tokens",
    ),
    (build_request("x", adapter="no-such-adapter"), grpc.StatusCode.NOT_FOUND, "adapter"),
]


@pytest.mark.parametrize(("request_", "code", "field"), BAD_REQUESTS)
@pytest.mark.parametrize("streaming", [False, True], ids=["unary", "stream"])
def test_bad_input_gets_its_status(
    client: PonderClient,
    request_: pb.GenerateRequest,
    code: grpc.StatusCode,
    field: str,
    streaming: bool,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        if streaming:
            list(client.stream_generate(request_, timeout=60))
        else:
            client.generate(request_, timeout=60)
    assert caught.value.code() == code
    details = caught.value.details() or ""
    assert field in details
    assert "\n" not in details and "Traceback" not in details


def _serve_tracebacks() -> int:
    """Tracebacks logged so far by this cluster's proxies and ingress replicas."""
    logs = env.ray_temp_dir() / "session_latest" / "logs" / "serve"
    files = [*logs.glob("proxy_*.log"), *logs.glob("replica_ponder_Ingress_*.log")]
    assert files, f"no Serve logs under {logs}"
    return sum(f.read_text(errors="replace").count("Traceback") for f in files)


def test_rejected_requests_log_one_line_not_a_traceback(client: PonderClient) -> None:
    before = _serve_tracebacks()
    for request_, _, _ in BAD_REQUESTS:
        for streaming in (False, True):
            with pytest.raises(grpc.RpcError):
                if streaming:
                    list(client.stream_generate(request_, timeout=60))
                else:
                    client.generate(request_, timeout=60)
    time.sleep(1.0)  # Serve's file handlers are written from the replicas' processes
    assert _serve_tracebacks() == before


def test_server_keeps_serving_after_bad_input(client: PonderClient) -> None:
    for request_, _, _ in BAD_REQUESTS:
        with pytest.raises(grpc.RpcError):
            client.generate(request_, timeout=60)
    assert "Paris" in client.generate(build_request(messages=CAPITAL, temperature=0.0)).text


def test_cancelled_stream_is_aborted_in_the_engine(client: PonderClient) -> None:
    """Cancelling the ingress stream (what the proxy does when a caller goes away) aborts
    the generation inside vLLM."""
    assert wait_until_engine_idle(timeout=120) == 0  # no leftovers from earlier tests
    ingress = serve.get_deployment_handle("Ingress", app_name="ponder").options(stream=True)
    stream = ingress.StreamGenerate.remote(
        build_request("1, 2, 3,", temperature=0.0, max_tokens=1500)
    )
    received = 0
    for _ in stream:
        received += 1
        if received == 3:
            stream.cancel()
            break
    assert received == 3
    # 1500 tokens take far longer than this wait: only an abort empties the engine.
    assert wait_until_engine_idle() == 0
    assert "Paris" in client.generate(build_request(messages=CAPITAL, temperature=0.0)).text


def test_caller_cancellation_through_the_proxy_always_aborts(client: PonderClient) -> None:
    """A caller's cancel through the public port reaches vLLM every time, wherever it
    lands in the proxy's relay (Serve 2.60 lost about half of them before
    deployments/proxy_cancel_fix.py)."""
    assert wait_until_engine_idle(timeout=120) == 0
    leftovers = []
    for attempt in range(10):
        call = client.stream_generate(
            build_request("1, 2, 3,", temperature=0.0, max_tokens=1500), timeout=300
        )
        for received, _ in enumerate(call, start=1):
            if received == 1 + attempt % 4:  # cancel at different points of the relay
                call.cancel()  # type: ignore[attr-defined]
                break
        leftovers.append(wait_until_engine_idle(timeout=20))
    if any(leftovers):  # leave no orphan for the next tests
        wait_until_engine_idle(timeout=300)
    assert leftovers == [0] * 10


def test_deadline_exceeded_is_reported_and_aborts(client: PonderClient) -> None:
    assert wait_until_engine_idle(timeout=180) == 0  # no leftovers from earlier tests
    request = build_request("1, 2, 3,", temperature=0.0, max_tokens=1500)
    with pytest.raises(grpc.RpcError) as caught:
        client.generate(request, timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert wait_until_engine_idle() == 0


def test_reflection_lists_the_services(platform: LocalPlatform) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(platform.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        response = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {service.name for service in response.list_services_response.service}
    assert {"ponder.v1.PonderService", "grpc.health.v1.Health"} <= names


def test_cli_generate_streams_an_answer(platform: LocalPlatform) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ponder.cli",
            "generate",
            "What is the capital of France?",
            "--target",
            platform.target,
            "--token-file",
            "-",
            "--temperature",
            "0",
            "--max-tokens",
            "24",
            "--stream",
        ],
        input=platform.api_token,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "completion" in result.stderr


def test_cli_reports_invalid_argument(platform: LocalPlatform) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ponder.cli",
            "generate",
            "hi",
            "--target",
            platform.target,
            "--token-file",
            "-",
            "--temperature",
            "5",
        ],
        input=platform.api_token,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr and "temperature" in result.stderr
