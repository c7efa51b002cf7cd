"""Unwrap errors that crossed a Ray boundary, so typed Ponder errors keep their type."""

from __future__ import annotations

from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError

from ponder.errors import ResourceExhausted, Unavailable

BACKPRESSURE_RETRY_S = 1.0  # when Serve gives no hint of its own


def original_error(error: BaseException) -> BaseException:
    """The exception a replica raised, without Ray's RayTaskError wrapping; Serve's
    backpressure (a deployment's queue is full) becomes ResourceExhausted, and a replica
    that died or became unreachable mid-call becomes Unavailable (the caller may retry:
    Serve replaces the replica)."""
    while isinstance(error, RayTaskError) and isinstance(error.cause, BaseException):
        error = error.cause
    if isinstance(error, RayActorError):
        stopped = type(error).__name__
        return Unavailable(f"a replica serving this request stopped ({stopped}); retry")
    if isinstance(error, BackPressureError):
        retry = getattr(error, "retry_after_s", None) or BACKPRESSURE_RETRY_S
        return ResourceExhausted(
            f"server busy: {error.message}; retry in {round(retry * 1000)} ms",
            retry_after_s=retry,
        )
    return error
