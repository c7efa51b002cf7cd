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

RETRIES = 8  # RESOURCE_EXHAUSTED answers retried per call
# The pause before retry k is at least FLOOR_S * 2**k (0.5, 1, 2, ... 64 s, capped at 60):
# a rate-limit refusal asks for a few ms, and sixteen callers retrying that soon are
# refused again together.
FLOOR_S = 0.5

T = TypeVar("T")


def call_retrying(
    call: Callable[[], T], sleep: Callable[[float], None] = time.sleep
) -> tuple[T, int]:
    """call(), retrying what admission control turned away after the server's
    `retry-after-ms` or a pause growing from FLOOR_S, whichever is longer; the result and
    how many retries it took. Other errors, or the last refusal, raise."""
    for attempt in range(RETRIES + 1):
        try:
            return call(), attempt
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or attempt == RETRIES:
                raise
            floor_s = min(60.0, FLOOR_S * 2**attempt)
            sleep(max(floor_s, retry_after_s(error, default_s=floor_s)))
    raise AssertionError("unreachable")


def retry_after_s(error: grpc.RpcError, default_s: float) -> float:
    """The pause the server asked for in its `retry-after-ms` trailing metadata."""
    trailing = getattr(error, "trailing_metadata", lambda: None)() or ()
    for key, value in trailing:
        if key == "retry-after-ms":
            return min(60.0, max(0.05, int(value) / 1000))
    return default_s
