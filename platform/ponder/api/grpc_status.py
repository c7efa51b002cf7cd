"""The one place where errors become gRPC status codes.

Only typed Ponder errors show their message to the caller; anything else is reported
as INTERNAL with a generic message and the request id (the traceback goes to the log).
"""

from __future__ import annotations

import asyncio

import grpc

from ponder.errors import (
    AlreadyExists,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PonderError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

_CODES: dict[type[PonderError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def status_for(error: BaseException, request_id: str) -> tuple[grpc.StatusCode, str]:
    """The status code and one-line details to send for an error."""
    if isinstance(error, PonderError):
        for kind, code in _CODES.items():
            if isinstance(error, kind):
                return code, _one_line(error.message)
        return grpc.StatusCode.INTERNAL, _one_line(error.message)
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED, "request cancelled"
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"


def trailers_for(error: BaseException) -> list[tuple[str, str]]:
    """Trailing metadata that goes with an error: `retry-after-ms` when the server knows
    how long a refused caller should wait (rate limits)."""
    if isinstance(error, ResourceExhausted) and error.retry_after_s is not None:
        return [("retry-after-ms", str(max(1, round(error.retry_after_s * 1000))))]
    return []


def _one_line(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "error"
    return first[:500]
