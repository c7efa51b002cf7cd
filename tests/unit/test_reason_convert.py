import pytest

from ponder.api.client import build_reason_request
from ponder.api.reason_convert import event_to_proto, reason_call_from_proto, result_to_proto
from ponder.config import PlannerConfig
from ponder.errors import InvalidArgument, NotFound
from ponder.reasoning.cache import CacheCounters
from ponder.reasoning.paths import PathState, PathStatus
from ponder.reasoning.plan import NodeKind, Strategy, build_plan
from ponder.reasoning.requests import BranchPruned, PlanBuilt, ReasonResult
from ponder.reasoning.steps import StepRecord
from ponder.v1 import ponder_pb2 as pb

CONFIG = PlannerConfig()


def convert(request: pb.ReasonRequest):  # type: ignore[no-untyped-def]
    return reason_call_from_proto(request, reasoning_id="r1", config=CONFIG, adapters=["sql"])


def test_defaults_apply() -> None:
    call = convert(build_reason_request("  What is 2 + 2?  "))
    assert call.problem == "What is 2 + 2?"
    assert call.budget.max_branches == CONFIG.default_branches
    assert call.budget.max_tokens == CONFIG.default_max_tokens
    assert len(call.budget.strategies) == 4
    assert call.reasoning_id == "r1"


def test_explicit_budget_and_strategies() -> None:
    call = convert(build_reason_request("p", branches=16, max_tokens=500, strategies=["cot"]))
    assert (call.budget.max_branches, call.budget.max_tokens) == (16, 500)
    assert call.budget.strategies == (Strategy.COT,)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (build_reason_request(""), "problem"),
        (build_reason_request(" \n "), "problem"),
        (build_reason_request("x" * 4001), "problem"),
        (build_reason_request("p", branches=0), "budget.max_branches"),
        (build_reason_request("p", branches=17), "budget.max_branches"),
        (build_reason_request("p", max_tokens=8), "budget.max_tokens"),
        (build_reason_request("p", strategies=["cot", "astrology"]), "strategies"),
    ],
)
def test_bad_requests_name_the_field(request_: pb.ReasonRequest, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        convert(request_)
    assert caught.value.message.startswith(field + ":")


def test_unknown_adapter_is_not_found() -> None:
    with pytest.raises(NotFound):
        convert(build_reason_request("p", adapter="nope"))


def test_result_and_events_convert() -> None:
    plan = build_plan((Strategy.POT, Strategy.DIRECT), 2)
    pot, direct = (PathState(spec) for spec in plan.branches)
    pot.steps.append(StepRecord("b0-pot.method", NodeKind.METHOD, "3 + 4", tokens=3))
    pot.status, pot.answer, pot.score = PathStatus.COMPLETED, 7.0, 0.8
    direct.status, direct.note = PathStatus.PRUNED, "score 0.01 below threshold"
    result = ReasonResult(
        reasoning_id="r1",
        answer="7",
        numeric_answer=7.0,
        plan=plan,
        paths=(pot, direct),
        chosen_path_id=pot.spec.id,
        decoder_calls=1,
        prompt_tokens=40,
        completion_tokens=3,
        scorer_version="v9",
        cache=CacheCounters(hits=2, misses=3, bypassed=1),
    )
    message = result_to_proto(result)
    assert message.numeric_answer == 7.0 and message.answer == "7"
    assert [p.status for p in message.paths] == [pb.PATH_STATUS_COMPLETED, pb.PATH_STATUS_PRUNED]
    assert message.paths[0].steps[0].kind == pb.NODE_KIND_METHOD
    assert (message.cache_hits, message.cache_misses, message.cache_bypassed) == (2, 3, 1)
    assert message.plan[0].kind == pb.NODE_KIND_EXTRACT
    built = event_to_proto(PlanBuilt(plan))
    assert built.kind == pb.REASON_EVENT_KIND_PLAN_BUILT and len(built.plan) == len(plan.nodes)
    pruned = event_to_proto(BranchPruned("b1-direct", "low", 0.01))
    assert pruned.kind == pb.REASON_EVENT_KIND_BRANCH_PRUNED and pruned.note == "low"
