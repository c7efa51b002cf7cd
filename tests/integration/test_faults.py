"""Replicas killed under load: calls in flight fail promptly with UNAVAILABLE (no hang),
Serve replaces the replica, and a client's retry of the same idempotent call succeeds.

(Redis down, a Redis restart and a learner crash are in test_outcomes.py and
test_learning_log.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import ray
from ray import serve

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_request
from ponder.v1 import ponder_pb2 as pb

pytestmark = pytest.mark.integration

IN_FLIGHT = 6
PROMPT = [("user", "Count from 1 to 500, one number per line.")]
CAPITAL = [("user", "What is the capital of France?")]


def _replicas(deployment: str) -> list[str]:
    return [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if f"#{deployment}#" in a["name"]
    ]


def _kill(deployment: str) -> str:
    (victim,) = _replicas(deployment)
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    return victim


def _retry_until_served(call: Callable[[], Any], timeout_s: float) -> tuple[Any, set[str]]:
    """A client's retry loop for an idempotent call: retry on UNAVAILABLE (what a dead
    replica gives) until it is answered; return the answer and the codes seen."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call(), seen
        except grpc.RpcError as error:
            seen.add(error.code().name)
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
            assert time.monotonic() < deadline, "the replica was not replaced in time"
            time.sleep(1.0)


class _Streams:
    """Streams started before the fault; records how and when each one ended."""

    def __init__(self, client: PonderClient, request: pb.GenerateRequest, count: int) -> None:
        self.started = threading.Barrier(count + 1, timeout=120)
        self.ended: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(client, request), daemon=True)
            for _ in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, client: PonderClient, request: pb.GenerateRequest) -> None:
        first = True
        code = "OK"
        try:
            for _ in client.stream_generate(request, timeout=120):
                if first:
                    first = False
                    self.started.wait()
        except grpc.RpcError as error:
            code = error.code().name
        finally:
            if first:
                self.started.abort()
        with self._lock:
            self.ended.append((code, time.monotonic()))

    def join(self, timeout_s: float) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout_s)


def test_killed_decoder_replica_fails_calls_in_flight_and_is_replaced(
    platform: LocalPlatform, client: PonderClient
) -> None:
    before = client.generate(build_request(messages=CAPITAL, temperature=0.0), timeout=60).text
    streams = _Streams(
        client, build_request(messages=PROMPT, temperature=0.0, max_tokens=600), IN_FLIGHT
    )
    streams.started.wait()  # every stream has its first tokens
    victim = _kill("Decoder")
    killed_at = time.monotonic()
    streams.join(timeout_s=90)

    assert len(streams.ended) == IN_FLIGHT, "a stream hung after its replica died"
    assert {code for code, _ in streams.ended} == {"UNAVAILABLE"}
    assert max(at for _, at in streams.ended) - killed_at < 30

    # Serve's router holds a call while no replica is up, so a retry may wait out the
    # replacement's whole vLLM start (over a minute on a busy 2-core CI runner): its
    # deadline must cover that.
    again, seen = _retry_until_served(
        lambda: client.generate(build_request(messages=CAPITAL, temperature=0.0), timeout=240),
        timeout_s=300,
    )
    assert again.text == before  # the same greedy answer from the new replica
    assert seen <= {"UNAVAILABLE"}
    assert _replicas("Decoder") not in ([], [victim])


def test_killed_planner_replica_fails_reasoning_in_flight_and_is_replaced(
    platform: LocalPlatform, client: PonderClient
) -> None:
    request = pb.ReasonRequest(
        problem="A farmer has 12 cows and buys 7 more. How many cows does he have?",
        budget=pb.ReasonBudget(max_branches=4, max_tokens=1024),
    )
    ended: list[tuple[str, float]] = []

    def reason() -> None:
        try:
            client.reason(request, timeout=120)
            ended.append(("OK", time.monotonic()))
        except grpc.RpcError as error:
            ended.append((error.code().name, time.monotonic()))

    callers = [threading.Thread(target=reason, daemon=True) for _ in range(3)]
    for caller in callers:
        caller.start()
    decoder = serve.get_deployment_handle("Decoder", app_name="ponder")
    deadline = time.monotonic() + 60
    while decoder.stats.remote().result().unfinished_requests == 0:  # branches generating
        assert time.monotonic() < deadline, "the reasonings never reached the decoder"
        time.sleep(0.1)
    victim = _kill("Planner")
    killed_at = time.monotonic()
    for caller in callers:
        caller.join(timeout=90)

    assert len(ended) == 3, "a Reason call hung after its planner died"
    assert {code for code, _ in ended} <= {"UNAVAILABLE", "OK"}
    assert "UNAVAILABLE" in {code for code, _ in ended}
    assert max(at for _, at in ended) - killed_at < 30
    # The dead planner's branch generations do not keep running in the decoder.
    deadline = time.monotonic() + 60
    while decoder.stats.remote().result().unfinished_requests:
        assert time.monotonic() < deadline, "orphaned generations still run in the decoder"
        time.sleep(0.5)

    answer, seen = _retry_until_served(lambda: client.reason(request, timeout=120), 300)
    assert answer.answer
    assert seen <= {"UNAVAILABLE"}
    assert _replicas("Planner") not in ([], [victim])
