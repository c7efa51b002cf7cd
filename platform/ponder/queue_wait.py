"""Admission by expected queue wait: refuse a call at once when the decoder work already
admitted would keep it waiting past the caller's deadline or a configured bound.

Each ingress replica keeps its own books, with no call to anything downstream:
- the work it admitted and not yet finished, in decoder tokens (a call's cost is the most
  tokens it may generate: `ponder.security.call_cost`, the same figure the tenant's
  token bucket charges);
- how fast that work finishes: cost finished per second *while it had work*, as two
  exponentially decayed sums (cost finished, seconds busy) with time constant
  `window_s`. Calls that stop early finish their cost sooner, so the rate already counts
  them; before `window_s / 4` busy seconds are seen, the configured
  `min_tokens_per_s` stands in, and after a long idle the last measured rate does. The
  configured rate is also a floor: measured while one call at a time ran, the rate says
  how fast that went, not how fast a batch would (a burst after a few sequential calls
  was refused against ~60 tokens/s before the floor).

A new call's expected wait is (cost in flight + its own cost) / rate: the time to finish
everything admitted so far and it, which bounds its own completion under the engine's
batching. Past the bound it gets RESOURCE_EXHAUSTED with `retry-after-ms`, the time until
enough work has finished for it to fit.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ponder.config import PonderConfig
from ponder.errors import ResourceExhausted
from ponder.security.call_cost import CostDefaults, requested_tokens


class HasDeadline(Protocol):
    def time_left_s(self) -> float | None: ...


@dataclass(frozen=True)
class Ticket:
    """One admitted call's share of the books (give it back with `QueueWait.finished`)."""

    cost: float


class QueueWait:
    """The books of one ingress replica: `admit` before any work, `finished` after."""

    def __init__(
        self,
        max_wait_s: float | None,
        min_tokens_per_s: float,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        costs: CostDefaults | None = None,
    ) -> None:
        if min_tokens_per_s <= 0 or window_s <= 0:
            raise ValueError("min_tokens_per_s and window_s must be positive")
        self.max_wait_s = max_wait_s
        self.costs = costs  # what a request costs when it leaves its limit unset
        self._min_rate = min_tokens_per_s
        self._tau = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0.0  # cost admitted and not finished
        self._calls = 0
        self._finished = 0.0  # decayed cost finished
        self._busy = 0.0  # decayed seconds with work in flight
        self._measured: float | None = None
        self._last = clock()

    @classmethod
    def from_config(cls, config: PonderConfig) -> QueueWait | None:
        """The books of one ingress replica; None when the admission is off."""
        waits = config.ingress.queue_wait
        if not waits.enabled:
            return None
        return cls(
            waits.max_wait_s,
            waits.min_tokens_per_s,
            waits.window_s,
            costs=CostDefaults.of(config),
        )

    # -- the books -----------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        decay = math.exp(-elapsed / self._tau)
        self._finished *= decay
        # the decayed integral of "busy" over the elapsed time
        self._busy = self._busy * decay + (self._tau * (1 - decay) if self._calls else 0.0)

    def tokens_per_s(self) -> float:
        """Cost finished per busy second, never below the configured floor."""
        with self._lock:
            self._advance(self._clock())
            return self._rate()

    def _rate(self) -> float:
        if self._busy >= self._tau / 4 and self._finished > 0:
            self._measured = self._finished / self._busy
        # after a long idle both sums have decayed away: the last measured rate stands
        # a floor: measured while few calls ran, the rate says how fast those went, not how
        # fast a batch of many would (continuous batching finishes more per second)
        return max(self._measured or 0.0, self._min_rate)

    @property
    def in_flight(self) -> float:
        return self._in_flight

    # -- admission -----------------------------------------------------------------------

    def admit(self, cost: float, deadline_s: float | None = None) -> Ticket:
        """Book a call of `cost` decoder tokens, or refuse it: when its expected wait is
        past `max_wait_s` or past the caller's `deadline_s` (seconds left). A call alone
        is always admitted under the bound (it cannot wait for itself)."""
        with self._lock:
            self._advance(self._clock())
            rate = self._rate()
            wait = (self._in_flight + cost) / rate
            limits = [b for b in (self.max_wait_s, deadline_s) if b is not None]
            limit = min(limits) if limits else None
            if limit is not None and wait > limit and self._calls > 0:
                why = "the caller's deadline" if limit == deadline_s else "the server's bound"
                raise ResourceExhausted(
                    f"the decoders' queue would hold this call about {wait:.1f} s, past "
                    f"{why} of {limit:.1f} s; retry later",
                    retry_after_s=max(0.001, wait - limit),
                )
            self._in_flight += cost
            self._calls += 1
            return Ticket(cost)

    def finished(self, ticket: Ticket) -> None:
        """The call ended (answered, failed or cancelled): its cost leaves the books."""
        with self._lock:
            self._advance(self._clock())
            self._in_flight = max(0.0, self._in_flight - ticket.cost)
            self._calls = max(0, self._calls - 1)
            self._finished += ticket.cost


@contextlib.contextmanager
def booked(queue: QueueWait | None, request: object, caller: HasDeadline) -> Iterator[None]:
    """A call's decoder work on the books while it runs, or its refusal
    (ResourceExhausted) when the queue would keep it past the caller's deadline or the
    bound. Calls that generate nothing (cost 0) and an admission that is off pass."""
    cost = requested_tokens(request, queue.costs) if queue and queue.costs else 0
    if queue is None or cost <= 0:
        yield
        return
    ticket = queue.admit(cost, caller.time_left_s())
    try:
        yield
    finally:
        queue.finished(ticket)
