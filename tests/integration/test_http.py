"""The HTTP/JSON front door through Serve's HTTP proxy to the same Ingress and vLLM: the
real `openai` client for the OpenAI API, httpx for Ponder's endpoints."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from PIL import Image
from ray import serve

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_request

pytestmark = pytest.mark.integration

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture()
def oai(platform: LocalPlatform) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{platform.http_url}/v1", api_key=platform.api_token, max_retries=0
    ) as client:
        yield client


@pytest.fixture()
def http(platform: LocalPlatform) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {platform.api_token}"}
    with httpx.Client(base_url=platform.http_url, headers=headers, timeout=300) as client:
        yield client


def _unfinished() -> int:
    decoder = serve.get_deployment_handle("Decoder", app_name="ponder")
    return int(decoder.stats.remote().result().unfinished_requests)


def _wait_idle(timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (left := _unfinished()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_chat_completion_with_the_openai_client(oai: openai.OpenAI) -> None:
    answer = oai.chat.completions.create(
        model="base", messages=CAPITAL, temperature=0, max_tokens=16
    )  # type: ignore[call-overload]
    assert "Paris" in (answer.choices[0].message.content or "")
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert next(m.id for m in oai.models.list()) == "base"


def test_streaming_n_logprobs_and_stop(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="base", messages=CAPITAL, temperature=0, max_tokens=16, stream=True
        )  # type: ignore[call-overload]
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    unary = oai.chat.completions.create(
        model="base", messages=CAPITAL, temperature=0, max_tokens=16
    )  # type: ignore[call-overload]
    assert streamed == unary.choices[0].message.content
    several = oai.chat.completions.create(
        model="base", messages=CAPITAL, temperature=1.0, seed=3, n=3, max_tokens=8,
        logprobs=True, top_logprobs=2,
    )  # type: ignore[call-overload]  # fmt: skip
    assert [c.index for c in several.choices] == [0, 1, 2]
    logprobs = several.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert len(logprobs.content[0].top_logprobs) == 2
    stopped = oai.completions.create(
        model="base", prompt="1, 2, 3, 4, 5, 6,", temperature=0, max_tokens=40, stop=[" 9"]
    )
    assert " 9" not in stopped.choices[0].text and stopped.choices[0].finish_reason == "stop"


def test_openai_errors_have_their_http_status(platform: LocalPlatform, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="no-such-model", messages=CAPITAL, max_tokens=4)
    with pytest.raises(openai.BadRequestError) as bad:
        oai.chat.completions.create(model="base", messages=CAPITAL, temperature=5.0)
    assert "temperature" in str(bad.value)
    wrong = openai.OpenAI(base_url=f"{platform.http_url}/v1", api_key="wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="base", messages=CAPITAL, max_tokens=4)


def test_the_same_seeded_request_gives_the_same_text_over_grpc_and_http(
    oai: openai.OpenAI, client: PonderClient
) -> None:
    over_http = oai.chat.completions.create(
        model="base", messages=CAPITAL, temperature=1.0, seed=11, max_tokens=24
    )  # type: ignore[call-overload]
    over_grpc = client.generate(
        build_request(messages=[("user", CAPITAL[0]["content"])], temperature=1.0, seed=11,
                      max_tokens=24)
    )  # fmt: skip
    assert over_http.choices[0].message.content == over_grpc.text


def test_the_seeds_analyze_request_with_a_base64_image(http: httpx.Client) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, format="PNG")
    body = {"text": "分析下图趋势", "image": base64.b64encode(picture.getvalue()).decode()}
    answer = http.post("/v1/analyze", json={**body, "sampling": {"max_tokens": 16}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["analysis"] and answer.json()["image_vectors"] > 0
    broken = http.post("/v1/analyze", json={**body, "image": "***"})
    assert broken.status_code == 400 and "image" in broken.json()["error"]["message"]


def test_a_client_disconnect_aborts_the_generation(platform: LocalPlatform) -> None:
    assert _wait_idle(120) == 0
    headers = {"authorization": f"Bearer {platform.api_token}"}
    body = {"prompt": "1, 2, 3,", "temperature": 0, "max_tokens": 1500, "stream": True}
    client = httpx.Client(base_url=platform.http_url, headers=headers, timeout=60)
    with client, client.stream("POST", "/v1/completions", json=body) as events:
        for received, _ in enumerate(events.iter_lines(), start=1):
            if received >= 4:
                break  # leaving the block closes the connection mid-stream
    # 1 500 tokens take far longer than this: only an abort empties the engine.
    assert _wait_idle(20) == 0
