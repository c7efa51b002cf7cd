"""Admission by expected queue wait: the books of admitted decoder work, the measured
finishing rate, and refusals past the bound or the caller's deadline, with the time to
retry after."""

from __future__ import annotations

import pytest

from deployments.grpc_calls import DEADLINE_HEADER, Caller
from ponder.config import PonderConfig
from ponder.errors import ResourceExhausted
from ponder.queue_wait import QueueWait, booked
from ponder.v1 import ponder_pb2 as pb


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_replica_admits_up_to_the_bound_at_its_starting_rate() -> None:
    clock = Clock()
    queue = QueueWait(max_wait_s=10, min_tokens_per_s=100, clock=clock)
    admitted = [queue.admit(64) for _ in range(15)]  # 960 tokens: 9.6 s at 100/s
    with pytest.raises(ResourceExhausted) as refused:
        queue.admit(64)  # 1 024 tokens: 10.24 s
    assert refused.value.retry_after_s == pytest.approx(0.24)
    queue.finished(admitted[0])
    queue.admit(64)  # room again


def test_the_measured_rate_replaces_the_starting_one() -> None:
    clock = Clock()
    queue = QueueWait(max_wait_s=10, min_tokens_per_s=100, window_s=10, clock=clock)
    # the decoders finish 400 tokens a second while busy
    for _ in range(40):
        tickets = [queue.admit(100) for _ in range(4)]
        clock.now += 1.0
        for ticket in tickets:
            queue.finished(ticket)
    rate = queue.tokens_per_s()
    assert rate == pytest.approx(400, rel=0.1)
    # now about 40 calls of 100 tokens fit in 10 s, not the 10 of the starting rate
    fits = int(10 * rate // 100)
    held = [queue.admit(100) for _ in range(fits)]
    with pytest.raises(ResourceExhausted):
        queue.admit(100)
    assert fits >= 38
    # idle time does not lower the rate: only busy seconds count
    for ticket in held:
        queue.finished(ticket)
    clock.now += 300
    assert queue.tokens_per_s() == pytest.approx(400, rel=0.1)


def test_a_callers_deadline_shorter_than_the_wait_is_refused_at_once() -> None:
    queue = QueueWait(max_wait_s=None, min_tokens_per_s=100, clock=Clock())
    queue.admit(500)  # 5 s of work ahead
    with pytest.raises(ResourceExhausted, match=r"caller's deadline of 2\.0 s"):
        queue.admit(50, deadline_s=2.0)
    queue.admit(50, deadline_s=6.0)
    queue.admit(10_000)  # no deadline and no bound: never refused


def test_a_call_alone_is_admitted_whatever_it_costs() -> None:
    queue = QueueWait(max_wait_s=1, min_tokens_per_s=10, clock=Clock())
    queue.admit(10_000)


def test_booked_charges_the_requests_cost_and_gives_it_back_on_failure() -> None:
    config = PonderConfig.model_validate(
        {"ingress": {"queue_wait": {"max_wait_s": 10, "min_tokens_per_s": 100}}}
    )
    queue = QueueWait.from_config(config)
    assert queue is not None
    caller = Caller.of([(DEADLINE_HEADER, "60000")])
    request = pb.GenerateRequest(sampling=pb.SamplingOptions(max_tokens=300))
    with pytest.raises(RuntimeError), booked(queue, request, caller):
        assert queue.in_flight == 300
        raise RuntimeError("the handler failed")
    assert queue.in_flight == 0
    with booked(queue, pb.ListModelsRequest(), caller):  # generates nothing: free
        assert queue.in_flight == 0
    off = PonderConfig.model_validate({"ingress": {"queue_wait": {"enabled": False}}})
    assert QueueWait.from_config(off) is None


def test_the_callers_time_left_is_the_shortest_it_sent() -> None:
    assert Caller.of([]).time_left_s() is None
    caller = Caller.of([(DEADLINE_HEADER, "90000"), (DEADLINE_HEADER, "2500")])
    assert caller.time_left_s() == 2.5
    assert Caller.of([(DEADLINE_HEADER, "soon")]).time_left_s() is None


def test_a_rate_measured_one_call_at_a_time_does_not_go_below_the_floor() -> None:
    """Calls one at a time finish slowly; that is not what a batch would do, so a burst
    after them is judged against the configured floor, not the trickle."""
    clock = Clock()
    queue = QueueWait(max_wait_s=10, min_tokens_per_s=100, window_s=10, clock=clock)
    for _ in range(40):
        ticket = queue.admit(20)  # 20 tokens a second, one call at a time
        clock.now += 1.0
        queue.finished(ticket)
    assert queue.tokens_per_s() == 100
    held = [queue.admit(64) for _ in range(15)]  # 960 tokens: 9.6 s at the floor
    assert len(held) == 15
