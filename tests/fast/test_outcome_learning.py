"""Outcome learning through the whole platform (scripted engine, real Redis, real tokens):
a tenant's reported outcomes become answer-ranker examples of its own scope, a refit is
proposed there and judged by the paired gate, and another tenant's ranker (the shared
one) is untouched."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from deployments.runner import LocalPlatform
from ponder.api.client import build_reason_request
from ponder.reasoning.plan import format_number
from ponder.reasoning.ranker import load_ranker
from tests.fast.test_security import _token

pytestmark = pytest.mark.fast


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_tenants_outcomes_refit_only_its_own_answer_ranker(platform: LocalPlatform) -> None:
    packaged = load_ranker().version
    learner = platform.client(token=_token(platform, "ranker-learner"))
    bystander = platform.client(token=_token(platform, "ranker-bystander"))
    try:
        for i in range(10):
            a, b = 5 + i, 9 + 2 * i
            problem = f"Ann has {a} pens and buys {b} more pens. How many pens does Ann have?"
            answer = learner.reason(build_reason_request(problem, strategies=["pot"]), timeout=120)
            assert answer.ranker_version == packaged  # the tenant starts from the shared one
            learner.report_outcome(
                answer.reasoning_id, correct=False, correct_answer=format_number(a + b)
            )

        def refitted() -> bool:
            info = learner.get_scorer_response().ranker
            return info.scope == "tenant-ranker-learner" and info.HasField("latest")

        _wait_for(refitted, "a ranker refit of the tenant's scope")
        mine = learner.get_scorer_response().ranker
        assert mine.train_examples + mine.heldout_examples == 10
        assert mine.fitted_on >= 4 and mine.latest.parent == packaged
        assert mine.latest.status in ("promoted", "rejected")
        assert 1 <= mine.latest.gate_problems <= mine.heldout_examples
        assert mine.latest.gate_reason
        pets = build_reason_request("Bo has 2 cats and 3 dogs. How many pets?")
        _wait_for(  # planners hot-reload the scope's active version
            lambda: learner.reason(pets).ranker_version == mine.active.version,
            "the planner to answer with the tenant's active ranker",
            timeout_s=30,
        )

        other = bystander.get_scorer_response().ranker
        assert other.scope == "shared" and other.active.version == packaged
        assert other.train_examples == 0 and not other.HasField("latest")
        assert bystander.reason(pets).ranker_version == packaged
        keys = redis.Redis.from_url(platform.redis_servers[0].url)
        try:
            assert keys.llen("ponder:ranker:shared:train") == 0
            assert not keys.exists("ponder:ranker:tenant-ranker-bystander:active")
        finally:
            keys.close()
    finally:
        learner.close()
        bystander.close()
