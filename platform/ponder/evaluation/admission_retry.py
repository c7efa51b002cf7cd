"""What a well-behaved client does with RESOURCE_EXHAUSTED ("retry later": the queue
would hold the call past the server's bound, or the tenant's rate limit): wait the
server's `retry-after-ms` and call again. Both evaluation harnesses (`ponder eval`'s
methods and the learning loop) call through it, so admission control slows a run down
instead of counting its refusals as wrong answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import grpc

RETRIES = 6  # RESOURCE_EXHAUSTED answers retried per call

T = TypeVar("T")


def call_retrying(
    call: Callable[[], T], sleep: Callable[[float], None] = time.sleep
) -> tuple[T, int]:
    """call(), retrying what admission control turned away after the server's
    `retry-after-ms` (a growing pause when it sends none); the result and how many
    retries it took. Other errors, or the last refusal, raise."""
    for attempt in range(RETRIES + 1):
        try:
            return call(), attempt
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or attempt == RETRIES:
                raise
            sleep(retry_after_s(error, default_s=2.0 * (attempt + 1)))
    raise AssertionError("unreachable")


def retry_after_s(error: grpc.RpcError, default_s: float) -> float:
    """The pause the server asked for in its `retry-after-ms` trailing metadata."""
    trailing = getattr(error, "trailing_metadata", lambda: None)() or ()
    for key, value in trailing:
        if key == "retry-after-ms":
            return min(60.0, max(0.05, int(value) / 1000))
    return default_s
