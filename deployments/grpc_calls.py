"""What both front doors share about a call: who is calling (`Caller`, from gRPC metadata
or HTTP headers), what a handler knows of its call (`Call`), and what an error becomes —
its status code, details and trailers, mapped in one place (`ponder.api.grpc_status`) and
logged once (`describe_failure`); `fail` sets that on a gRPC context."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import grpc
from ray.serve.handle import DeploymentResponseGenerator
from redis.exceptions import RedisError

from deployments.remote_errors import original_error
from ponder.api.grpc_status import status_for, trailers_for
from ponder.errors import PonderError, Unavailable
from ponder.security.auth import Identity

log = logging.getLogger("ray.serve")


# The caller's time left, in milliseconds, when it set a gRPC deadline: added by the
# proxy (deployments/proxy_cancel_fix.forward_deadline); HTTP callers may send it too.
DEADLINE_HEADER = "x-ponder-time-remaining-ms"

Req = TypeVar("Req")
Resp = TypeVar("Resp")


@dataclass(frozen=True)
class Caller:
    """Who is calling, as either front door sees it: the call's metadata (gRPC metadata,
    or the HTTP headers with lower-case names). `internal`: a call through a deployment
    handle from inside the Ray cluster, which Ray's own token already admitted."""

    metadata: tuple[tuple[str, str], ...] = field(repr=False)  # holds the bearer token
    request_id: str  # the caller's x-request-id (correlation only) or a fresh one
    internal: bool = False
    # Set once the Ingress admitted the caller for several calls at once (an OpenAI
    # request with n choices is admitted and charged once, for all of them).
    admitted: Identity | None = None

    @classmethod
    def of(cls, metadata: Any, internal: bool = False) -> Caller:
        pairs = tuple((str(key).lower(), str(value)) for key, value in metadata or ())
        given = next((value for key, value in pairs if key == "x-request-id" and value), "")
        return cls(pairs, given[:128] or uuid.uuid4().hex, internal)

    @classmethod
    def of_grpc(cls, grpc_context: Any) -> Caller:
        if grpc_context is None:
            return cls.of((), internal=True)
        return cls.of(grpc_context.invocation_metadata())

    def value(self, name: str) -> str:
        """The first non-empty value of metadata `name` ("" when absent)."""
        return next((value for key, value in self.metadata if key == name and value), "")

    def time_left_s(self) -> float | None:
        """Seconds the caller gave the call (its deadline), None when it gave none; the
        shortest when several are given (a caller can only shorten its own)."""
        values = [v for k, v in self.metadata if k == DEADLINE_HEADER and v.isdigit()]
        return min(int(v) for v in values) / 1000 if values else None


@dataclass(frozen=True)
class Call:
    """What a handler knows of the call beyond its request message."""

    request_id: str
    identity: Identity  # who is calling: tenant, token, rate limit


@dataclass(frozen=True)
class Failure:
    """What an error that ended a call becomes, for either front door."""

    code: grpc.StatusCode
    details: str
    trailers: tuple[tuple[str, str], ...]


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


def describe_failure(error: BaseException, request_id: str) -> Failure:
    """The status, details and trailers of the error a call ended with, logged once (a
    Ponder error briefly, anything else with its traceback)."""
    error = original_error(error)
    code, details = status_for(error, request_id)
    if isinstance(error, PonderError):
        log.info("request %s: %s %s", request_id, code.name, details)
    elif not _caller_left(error):
        log.exception("request %s failed", request_id, exc_info=error)
    return Failure(code, details, tuple(trailers_for(error)))


def _caller_left(error: BaseException) -> bool:
    """The call ended because its caller went away: cancelled, or its stream closed."""
    return isinstance(error, asyncio.CancelledError | GeneratorExit)


def status_name(error: BaseException) -> str:
    """The status code an error ends a call with, for the call's metrics."""
    if _caller_left(original_error(error)):
        return "CANCELLED"
    if isinstance(error, RequestFailed):
        return error.code.name
    return status_for(original_error(error), "")[0].name


def fail(grpc_context: Any, error: BaseException, request_id: str) -> BaseException:
    """Set the status for error on the gRPC context; return the exception to raise."""
    error = original_error(error)
    if _caller_left(error):
        return error  # the caller went away; nothing to report, re-raised as it is
    failure = describe_failure(error, request_id)
    if grpc_context is not None:
        grpc_context.set_code(failure.code)
        grpc_context.set_details(failure.details)
        if failure.trailers:
            grpc_context.set_trailing_metadata(list(failure.trailers))
    if failure.code == grpc.StatusCode.CANCELLED:
        return error
    return RequestFailed(failure.details, failure.code)


async def relay(response: Any) -> AsyncIterator[Any]:
    """Pass on a downstream stream; when the caller goes away (cancel, deadline) or on an
    error, cancel the downstream request too, which aborts its generation in vLLM."""
    stream = cast(DeploymentResponseGenerator, response)
    try:
        async for item in stream:
            yield item
    finally:
        stream.cancel()
