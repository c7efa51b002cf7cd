"""The learning loop's model-refresh step (`ponder.evaluation.learning_loop`).

The loop drives the platform through its gRPC client; here the client is an in-memory
stand-in that answers with real protobuf messages and serves whichever model version is
active, so what is checked is the loop's own bookkeeping: a promoted refresh is waited
for, measured and paired with the pass before it; a rejected one adds no row.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from ponder.evaluation.admission_retry import call_retrying, retry_after_s
from ponder.evaluation.learning_loop import LoopSettings, learning_loop
from ponder.reasoning.problems import Problem
from ponder.v1 import ponder_pb2 as pb

HELD_OUT = [Problem(f"held-out {i}: how many?", float(i), "dev") for i in range(10)]
STREAM = [Problem(f"stream {i}: how many?", float(i), "dev") for i in range(8)]


class ServedPlatform:
    """Answers Reason like a platform whose model is `model`: the base model gets the
    first five held-out problems right, a refreshed one the first eight."""

    def __init__(self) -> None:
        self.model = "base"
        self.reported = 0

    def get_scorer(self) -> pb.ScorerInfo:
        return pb.ScorerInfo(
            scope="tenant-t", outcomes_reported=self.reported, outcomes_applied=self.reported
        )

    def get_scorer_response(self) -> pb.GetScorerResponse:
        model = pb.ModelRefreshInfo(scope="tenant-t", active=pb.ModelVersion(version=self.model))
        return pb.GetScorerResponse(scorer=self.get_scorer(), model=model)

    def reason(self, request: pb.ReasonRequest, **_: Any) -> pb.ReasonResponse:
        index = (
            int(request.problem.split(" ")[1].rstrip(":")) if "held-out" in request.problem else -1
        )
        solved = 8 if self.model != "base" else 5
        answer = float(index) if 0 <= index < solved else -1.0
        return pb.ReasonResponse(
            reasoning_id=f"r-{index}",
            numeric_answer=answer,
            adapter=self.model,
            outcome_reportable=True,
        )

    def report_outcome(self, *_: Any, **__: Any) -> None:
        self.reported += 1


def _loop(platform: ServedPlatform, verdict: str) -> dict[str, Any]:
    def refresh(checkpoint: int) -> dict[str, Any]:
        assert platform.reported == checkpoint  # every outcome so far is in Redis
        if verdict == "promoted":
            platform.model = "refresh-0123abcd"
        return {"version": "refresh-0123abcd", "status": verdict, "gate": None}

    settings = LoopSettings(2, 64, 2, "run", propose_every=200, refresh_at=(8,))
    return learning_loop(
        platform,  # type: ignore[arg-type]
        STREAM,
        HELD_OUT,
        [4, 8],
        settings,
        progress=lambda _: None,
        refresh=refresh,
    )


def test_a_promoted_refresh_gets_its_own_held_out_pass_paired_with_the_one_before() -> None:
    result = _loop(ServedPlatform(), "promoted")
    rows = result["checkpoints"]
    assert [r["outcomes"] for r in rows] == [0, 4, 8, 8]
    assert [r["held_out_right"] for r in rows] == [5, 5, 5, 8]
    assert rows[-1]["refresh"] == "refresh-0123abcd"
    assert rows[-1]["model_version"] == "refresh-0123abcd"
    assert rows[-1]["paired_vs_previous"] | {"net_points": 0} == {
        "wins": 3,
        "losses": 0,
        "net_points": 0,
        "sign_test_p": 0.125,
    }
    assert [r["status"] for r in result["refreshes"]] == ["promoted"]
    assert result["refreshes"][0]["switch_seconds"] >= 0


def test_a_rejected_refresh_is_recorded_without_a_held_out_pass() -> None:
    result = _loop(ServedPlatform(), "rejected")
    assert [r["outcomes"] for r in result["checkpoints"]] == [0, 4, 8]
    assert [r["status"] for r in result["refreshes"]] == ["rejected"]
    assert all(r.get("model_version") == "base" for r in result["checkpoints"])


class Refused(grpc.RpcError):
    """What the channel raises for a refused call, with the server's trailing metadata."""

    def __init__(self, retry_after_ms: str | None) -> None:
        self._trailing = () if retry_after_ms is None else (("retry-after-ms", retry_after_ms),)

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.RESOURCE_EXHAUSTED

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


def test_a_refused_call_waits_as_long_as_the_server_asked() -> None:
    assert retry_after_s(Refused("250"), default_s=2.0) == 0.25
    assert retry_after_s(Refused(None), default_s=2.0) == 2.0
    assert retry_after_s(Refused("600000"), default_s=2.0) == 60.0  # capped


class Unavailable(Refused):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


def test_refusals_are_retried_after_the_pause_asked_and_other_errors_raise() -> None:
    answers: list[Exception | str] = [Refused("2500"), Refused("3"), Refused(None), "answer"]
    slept: list[float] = []

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert call_retrying(call, slept.append) == ("answer", 3)
    # the server's pause when it is the longer, else a growing one of the client's own
    assert slept == [2.5, 1.0, 2.0]

    def unavailable() -> str:
        raise Unavailable(None)

    with pytest.raises(Unavailable):
        call_retrying(unavailable, slept.append)
    assert len(slept) == 3  # not retried


def test_ponder_evals_methods_retry_what_admission_turned_away() -> None:
    from types import SimpleNamespace

    from ponder.evaluation.compare_methods import Evaluator
    from ponder.reasoning.problems import Problem

    class Client:
        def __init__(self) -> None:
            self.calls = 0

        def reason(self, request: object, timeout: float) -> object:
            self.calls += 1
            if self.calls == 1:
                raise Refused("1")
            return SimpleNamespace(
                HasField=lambda name: True,
                numeric_answer=12.0,
                usage=SimpleNamespace(completion_tokens=30),
            )

    client = Client()
    evaluator = Evaluator(client, 1024, None)  # type: ignore[arg-type]
    problem = Problem(question="5 + 7?", answer=12.0, source="test")
    assert evaluator.reason(problem) == (12.0, 30)
    assert client.calls == 2
