"""The HTTP front door's own parts: the switch, status mapping, the call context."""

from __future__ import annotations

import asyncio
import json

import grpc
from starlette.requests import Request

from deployments.http_api import HttpFrontDoor
from deployments.http_exchange import HttpCallContext, error_response


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


def test_the_call_context_carries_headers_in_and_the_status_out() -> None:
    context = HttpCallContext(
        _request("/", [(b"Authorization", b"Bearer t"), (b"x-request-id", b"r")])
    )
    assert ("authorization", "Bearer t") in context.invocation_metadata()
    assert not context.failed()
    context.set_code(grpc.StatusCode.NOT_FOUND)
    context.set_details("no such adapter")
    assert context.failed() and context.details == "no such adapter"
