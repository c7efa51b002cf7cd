"""The HTTP front door on the scripted engine: every route's success and error paths,
the same auth, error mapping and core as gRPC (OpenAI routes, Ponder's own, the console's
static files)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from deployments.runner import LocalPlatform
from tests.fast.conftest import PROBLEM

pytestmark = pytest.mark.fast

HI = [{"role": "user", "content": "hi"}]

ROUTES = (  # every authenticated route, with a well-formed body
    ("GET", "/v1/models", None),
    ("GET", "/v1/list-models", None),
    ("GET", "/v1/scorer", None),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/v1/completions", {"prompt": "hi"}),
    ("POST", "/v1/reason", {"problem": PROBLEM}),
    ("POST", "/v1/outcomes", {"reasoning_id": "r-none", "correct": True}),
    ("POST", "/v1/analyze", {"text": "hi", "table": {"columns": ["a"], "rows": [[1]]}}),
)


@pytest.fixture()
def http(platform: LocalPlatform) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {platform.api_token}"}
    with httpx.Client(base_url=platform.http_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture()
def oai(platform: LocalPlatform) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{platform.http_url}/v1", api_key=platform.api_token, max_retries=0
    ) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
@pytest.mark.parametrize("token", ["", "pdr_wrong"], ids=["no-token", "wrong-token"])
def test_every_route_refuses_a_caller_without_a_valid_token(
    platform: LocalPlatform, method: str, path: str, body: object, token: str
) -> None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=platform.http_url, headers=headers, timeout=30) as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_openai_chat_and_completions_stream_and_map_errors(oai: openai.OpenAI) -> None:
    chat = oai.chat.completions.create(
        model="base", messages=[{"role": "user", "content": "hello"}], max_tokens=3
    )
    assert chat.choices[0].message.content == "one two three"
    assert chat.choices[0].finish_reason == "length" and chat.usage.completion_tokens == 3
    stream = oai.completions.create(model="base", prompt="hello", max_tokens=4, stream=True)
    assert "".join(c.choices[0].text for c in stream) == "one two three four"
    with pytest.raises(openai.BadRequestError) as bad:
        oai.chat.completions.create(
            model="base", messages=[{"role": "user", "content": "x"}], temperature=9
        )
    assert "temperature" in str(bad.value)
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert {m.id for m in oai.models.list()} >= {"base"}


def test_reason_streams_events_and_outcomes_are_reported(http: httpx.Client) -> None:
    answer = http.post("/v1/reason", json={"problem": PROBLEM, "budget": {"max_branches": 2}})
    assert answer.status_code == 200, answer.text
    reasoning = answer.json()
    assert reasoning["numeric_answer"] == 7 and reasoning["reasoning_id"]
    with http.stream("POST", "/v1/reason", json={"problem": PROBLEM, "stream": True}) as events:
        lines = [line[6:] for line in events.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]" and len(lines) > 2
    kinds = [json.loads(line)["kind"] for line in lines[:-1]]
    assert kinds[0] == "REASON_EVENT_KIND_PLAN_BUILT"
    assert kinds[-1] == "REASON_EVENT_KIND_FINAL_ANSWER"
    assert "REASON_EVENT_KIND_STEP_DONE" in kinds
    reported = http.post(
        "/v1/outcomes", json={"reasoning_id": reasoning["reasoning_id"], "correct": True}
    )
    assert reported.status_code == 200, reported.text
    again = http.post("/v1/outcomes", json={"reasoning_id": reasoning["reasoning_id"], "reward": 0})
    assert again.status_code == 409
    unknown = http.post("/v1/outcomes", json={"reasoning_id": "r-none", "correct": True})
    assert unknown.status_code == 404
    assert http.get("/v1/scorer").json()["scorer"]["outcomes_reported"]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/reason", {"problem": ""}, "problem"),
        ("/v1/reason", {"problem": PROBLEM, "budget": {"max_branches": 99}}, "branches"),
        ("/v1/reason", {"problem": PROBLEM, "nonsense": 1}, "nonsense"),
        ("/v1/outcomes", {"reasoning_id": "r-1"}, "outcome"),
        ("/v1/analyze", {"text": "x", "table": "[[["}, "table"),
        ("/v1/analyze", {"text": "x", "image": "***"}, "image"),
        ("/v1/chat/completions", {"messages": "no"}, "messages"),
        ("/v1/chat/completions", {"messages": HI, "seed": 2**70}, "seed"),
        ("/v1/chat/completions", {"messages": HI, "max_tokens": 2**40}, "max_tokens"),
        ("/v1/chat/completions", {"messages": HI, "logprobs": True, "top_logprobs": 2**40},
         "top_logprobs"),
        ("/v1/completions", {"prompt": "x", "logprobs": 2**40}, "logprobs"),
    ],
    ids=["empty-problem", "too-many-branches", "unknown-field", "no-outcome", "bad-table",
         "bad-image", "bad-messages", "huge-seed", "huge-max-tokens", "huge-top-logprobs",
         "huge-logprobs"],
)  # fmt: skip
def test_bad_bodies_get_400_naming_the_field(
    http: httpx.Client, path: str, body: dict[str, object], named: str
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["error"]["message"]
    assert "Traceback" not in answer.text


def test_bodies_over_the_limit_and_non_json_are_refused(
    http: httpx.Client, platform: LocalPlatform
) -> None:
    huge = http.post("/v1/reason", content=b"x" * (17 * 1024 * 1024))
    assert huge.status_code == 413
    # without a token the body is never read: 401, not 413 (security, round two)
    with httpx.Client(base_url=platform.http_url, timeout=60) as anonymous:
        for path in ("/v1/reason", "/v1/chat/completions", "/v1/analyze", "/v1/outcomes"):
            refused = anonymous.post(path, content=b"x" * (17 * 1024 * 1024))
            assert refused.status_code == 401, (path, refused.text)
    garbage = http.post("/v1/reason", content=b"{not json")
    assert garbage.status_code == 400
    nested = http.post("/v1/chat/completions", content=b"[" * 100_000 + b"]" * 100_000)
    assert nested.status_code == 400 and "nested" in nested.json()["error"]["message"]


def test_analyze_and_models_answer(http: httpx.Client) -> None:
    table = {"columns": ["year", "sales"], "rows": [[2023, 10], [2024, 14]]}
    body = {"text": "Did sales rise?", "table": table, "sampling": {"max_tokens": 3}}
    answer = http.post("/v1/analyze", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["analysis"] == "one two three" and answer.json()["table_vectors"] == 6
    models = http.get("/v1/list-models").json()["models"]
    assert any(m["name"] == "base" for m in models)


def test_console_files_are_served_with_a_strict_policy(platform: LocalPlatform) -> None:
    with httpx.Client(base_url=platform.http_url, timeout=30) as anonymous:
        for hidden in ("/docs", "/redoc", "/openapi.json"):  # committed, not served
            assert anonymous.get(hidden).status_code == 404
        page = anonymous.get("/console")
        script = anonymous.get("/console/console.js")
        style = anonymous.get("/console/console.css")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "console/console.js" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert script.status_code == 200 and "textContent" in script.text
    assert "innerHTML" not in script.text  # model output never becomes markup
    assert "localStorage" not in script.text and "sessionStorage" not in script.text
    assert style.status_code == 200 and "text/css" in style.headers["content-type"]
