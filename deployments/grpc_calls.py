"""The gRPC call plumbing of the ingress: what a handler knows of its call, the caller's
metadata, and turning an error into the call's status, details and trailers (in one
place: `ponder.api.grpc_status`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc
from ray.serve.handle import DeploymentResponseGenerator
from redis.exceptions import RedisError

from deployments.remote_errors import original_error
from ponder.api.grpc_status import status_for, trailers_for
from ponder.errors import PonderError, Unavailable
from ponder.security.auth import Identity

log = logging.getLogger("ray.serve")


Req = TypeVar("Req")
Resp = TypeVar("Resp")


@dataclass(frozen=True)
class Call:
    """What a handler knows of the call beyond its request message."""

    request_id: str  # the caller's x-request-id (correlation only) or a fresh one
    grpc_context: Any
    identity: Identity  # who is calling: tenant, token, rate limit


@dataclass
class CallStatus:
    """The status code an RPC ended with, for its metrics."""

    code: str = "OK"


UnaryHandler = Callable[[Req, Call], Awaitable[Resp]]
StreamHandler = Callable[[Req, Call], AsyncIterator[Resp]]


class RequestFailed(Exception):
    """Raised after the status was set on the gRPC context; its text is not shown."""

    def __init__(self, details: str, code: grpc.StatusCode) -> None:
        super().__init__(details)
        self.code = code

    def __reduce__(self) -> tuple[type, tuple[str, grpc.StatusCode]]:
        return (type(self), (str(self), self.code))  # Serve pickles it to the proxy


@contextlib.asynccontextmanager
async def redis_errors_unavailable() -> AsyncIterator[None]:
    """Redis down or restarting: UNAVAILABLE (retryable), never INTERNAL."""
    try:
        yield
    except RedisError as error:
        raise Unavailable(f"outcome log unavailable: {type(error).__name__}") from None


def metadata_value(grpc_context: Any, name: str) -> str:
    if grpc_context is not None:
        for key, value in grpc_context.invocation_metadata() or ():
            if key == name and value:
                return str(value)
    return ""


def request_id_of(grpc_context: Any) -> str:
    """The caller's x-request-id metadata if given, else a fresh id."""
    return metadata_value(grpc_context, "x-request-id")[:128] or uuid.uuid4().hex


def fail(grpc_context: Any, error: BaseException, request_id: str) -> BaseException:
    """Set the status for error on the context; return the exception to raise."""
    error = original_error(error)
    if isinstance(error, asyncio.CancelledError):
        return error  # the caller went away; nothing to report
    code, details = status_for(error, request_id)
    if isinstance(error, PonderError):
        log.info("request %s: %s %s", request_id, code.name, details)
    else:
        log.exception("request %s failed", request_id, exc_info=error)
    if grpc_context is not None:
        grpc_context.set_code(code)
        grpc_context.set_details(details)
    trailers = trailers_for(error)
    if grpc_context is not None and trailers:
        grpc_context.set_trailing_metadata(trailers)
    return RequestFailed(details, code) if code != grpc.StatusCode.CANCELLED else error


async def relay(response: Any) -> AsyncIterator[Any]:
    """Pass on a downstream stream; when the caller goes away (cancel, deadline) or on an
    error, cancel the downstream request too, which aborts its generation in vLLM."""
    stream = cast(DeploymentResponseGenerator, response)
    try:
        async for item in stream:
            yield item
    finally:
        stream.cancel()
