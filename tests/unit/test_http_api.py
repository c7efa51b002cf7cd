"""The HTTP front door's own parts: the switch, status mapping, the call context."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
from starlette.requests import Request

from deployments.grpc_calls import Caller
from deployments.http_api import HttpFrontDoor
from deployments.http_exchange import caller_of, error_response, failure


def _request(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    scope = {"type": "http", "method": "GET", "path": path, "headers": headers or []}
    return Request(scope)


def test_every_route_answers_404_when_the_http_api_is_off() -> None:
    class Closed(HttpFrontDoor):
        _http_enabled = False

    door = Closed()
    for route in (door.openai_models, door.chat_completions, door.scorer, door.analyze):
        response = asyncio.run(route(_request("/v1/x")))
        assert response.status_code == 404
        assert "ingress.http_enabled" in json.loads(bytes(response.body))["error"]["message"]


def test_grpc_codes_become_openai_errors_with_http_statuses() -> None:
    limited = error_response(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", [("retry-after-ms", "1500")]
    )
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    body = json.loads(bytes(limited.body))["error"]
    assert body == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "resource_exhausted",
    }
    statuses = {
        code: error_response(code, "x").status_code
        for code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.CANCELLED,
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.INTERNAL,
        )
    }
    assert list(statuses.values()) == [400, 401, 403, 404, 409, 499, 503, 504, 500]


def test_an_http_caller_is_its_headers_and_a_failure_is_its_status() -> None:
    caller = caller_of(_request("/", [(b"Authorization", b"Bearer t"), (b"X-Request-Id", b"r")]))
    assert caller.value("authorization") == "Bearer t" and caller.request_id == "r"
    assert not caller.internal and caller.value("x-tenant-id") == ""
    assert len(caller_of(_request("/")).request_id) == 32  # a fresh id when none is given
    from ponder.errors import NotFound, ResourceExhausted

    missing = failure(NotFound("no such adapter 'x'"), caller)
    assert missing.status_code == 404
    assert json.loads(bytes(missing.body))["error"]["message"] == "no such adapter 'x'"
    limited = failure(ResourceExhausted("slow down", retry_after_s=0.2), caller)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    crashed = failure(RuntimeError("boom"), caller)  # no traceback or message leaks
    assert crashed.status_code == 500 and "boom" not in bytes(crashed.body).decode()
    assert Caller.of_grpc(None).internal  # a call through a deployment handle


def test_a_caller_never_shows_its_token_and_a_closed_stream_is_a_cancel() -> None:
    from deployments.grpc_calls import status_name

    caller = caller_of(_request("/", [(b"authorization", b"Bearer pdr_secret")]))
    assert "pdr_secret" not in repr(caller)
    assert status_name(GeneratorExit()) == "CANCELLED"  # an SSE client gone, not INTERNAL
    assert status_name(asyncio.CancelledError()) == "CANCELLED"
    assert status_name(RuntimeError("x")) == "INTERNAL"


def test_a_redis_password_variable_that_is_empty_is_a_clear_error(monkeypatch: Any) -> None:
    import pytest

    from ponder.config import RedisConfig

    config = RedisConfig(url="redis://ponder@redis:6379/0", password_env="PONDER_TEST_PW")
    monkeypatch.delenv("PONDER_TEST_PW", raising=False)
    with pytest.raises(ValueError, match="PONDER_TEST_PW"):
        config.connection_url()
    monkeypatch.setenv("PONDER_TEST_PW", "p@ss word")
    assert config.connection_url() == "redis://ponder:p%40ss%20word@redis:6379/0"
