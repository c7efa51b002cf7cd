"""Translate Reason requests, results and events between ponder.v1 and the planner core."""

from __future__ import annotations

from collections.abc import Iterable

from ponder.config import PlannerConfig
from ponder.errors import InvalidArgument
from ponder.model_catalogue import BASE_MODEL_NAME, resolve_model
from ponder.reasoning.paths import PathState, PathStatus
from ponder.reasoning.plan import NodeKind, Plan, format_number, parse_strategies
from ponder.reasoning.requests import (
    BranchDone,
    BranchPruned,
    BranchStarted,
    Finished,
    PlanBuilt,
    ReasonBudget,
    ReasonCall,
    ReasonEvent,
    ReasonResult,
    StepDone,
)
from ponder.reasoning.steps import StepRecord
from ponder.v1 import ponder_pb2 as pb

_NODE_KINDS = {
    NodeKind.EXTRACT: pb.NODE_KIND_EXTRACT,
    NodeKind.METHOD: pb.NODE_KIND_METHOD,
    NodeKind.COMPUTE: pb.NODE_KIND_COMPUTE,
    NodeKind.VERIFY: pb.NODE_KIND_VERIFY,
    NodeKind.ANSWER: pb.NODE_KIND_ANSWER,
}
_STATUSES = {
    PathStatus.RUNNING: pb.PATH_STATUS_UNSPECIFIED,
    PathStatus.COMPLETED: pb.PATH_STATUS_COMPLETED,
    PathStatus.PRUNED: pb.PATH_STATUS_PRUNED,
    PathStatus.FAILED: pb.PATH_STATUS_FAILED,
}


def reason_call_from_proto(
    request: pb.ReasonRequest,
    *,
    reasoning_id: str,
    config: PlannerConfig,
    adapters: Iterable[str],
    scope: str = "shared",
    students: Iterable[str] = (),
    tenant: str = "",
) -> ReasonCall:
    """Check a ReasonRequest; raises InvalidArgument naming the field, or NotFound."""
    problem = request.problem.strip()
    if not problem:
        raise InvalidArgument("problem", "empty")
    if len(problem) > config.max_problem_chars:
        raise InvalidArgument(
            "problem", f"{len(problem)} characters exceeds the limit of {config.max_problem_chars}"
        )
    budget = request.budget
    branches = budget.max_branches if budget.HasField("max_branches") else config.default_branches
    if not 1 <= branches <= config.max_branches:
        raise InvalidArgument(
            "budget.max_branches", f"must be 1 to {config.max_branches}, got {branches}"
        )
    tokens = budget.max_tokens if budget.HasField("max_tokens") else config.default_max_tokens
    if not 16 <= tokens <= config.max_tokens_limit:
        raise InvalidArgument(
            "budget.max_tokens", f"must be 16 to {config.max_tokens_limit}, got {tokens}"
        )
    strategies = parse_strategies(list(request.strategies) or list(config.default_strategies))
    target = resolve_model(
        request.model, request.adapter, adapters, students, config.model, config.adapter
    )
    return ReasonCall(
        problem=problem,
        budget=ReasonBudget(max_branches=branches, max_tokens=tokens, strategies=strategies),
        reasoning_id=reasoning_id,
        adapter=target.adapter,
        scope=scope,
        model=target.model,
        tenant=tenant,
    )


def plan_to_proto(plan: Plan) -> list[pb.PlanNode]:
    return [
        pb.PlanNode(
            id=n.id, kind=_NODE_KINDS[n.kind], depends_on=list(n.deps), branch_id=n.branch or ""
        )
        for n in plan.nodes
    ]


def step_to_proto(step: StepRecord) -> pb.PathStep:
    return pb.PathStep(
        node_id=step.node_id,
        kind=_NODE_KINDS[step.kind],
        output=step.output,
        tokens=step.tokens,
        mean_logprob=step.mean_logprob,
    )


def path_to_proto(path: PathState) -> pb.CandidatePath:
    return pb.CandidatePath(
        id=path.spec.id,
        strategy=path.spec.strategy.value,
        steps=[step_to_proto(s) for s in path.steps],
        answer=format_number(path.answer) if path.answer is not None else "",
        score=path.score,
        status=_STATUSES[path.status],
        tokens=path.tokens,
        note=path.note,
    )


def result_to_proto(result: ReasonResult) -> pb.ReasonResponse:
    response = pb.ReasonResponse(
        reasoning_id=result.reasoning_id,
        answer=result.answer,
        plan=plan_to_proto(result.plan),
        paths=[path_to_proto(p) for p in result.paths],
        chosen_path_id=result.chosen_path_id,
        usage=pb.ReasonUsage(
            decoder_calls=result.decoder_calls,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            kept_tokens=result.kept_tokens,
        ),
        scorer_version=result.scorer_version,
        ranker_version=result.ranker_version,
        cache_hits=result.cache.hits,
        cache_misses=result.cache.misses,
        cache_bypassed=result.cache.bypassed,
        outcome_reportable=result.outcome_reportable,
        adapter=result.adapter or BASE_MODEL_NAME,
        model=result.model or BASE_MODEL_NAME,
    )
    if result.numeric_answer is not None:
        response.numeric_answer = result.numeric_answer
    return response


def event_to_proto(event: ReasonEvent) -> pb.ReasonEvent:
    if isinstance(event, PlanBuilt):
        return pb.ReasonEvent(kind=pb.REASON_EVENT_KIND_PLAN_BUILT, plan=plan_to_proto(event.plan))
    if isinstance(event, BranchStarted):
        return pb.ReasonEvent(
            kind=pb.REASON_EVENT_KIND_BRANCH_STARTED,
            branch_id=event.branch_id,
            strategy=event.strategy.value,
        )
    if isinstance(event, StepDone):
        return pb.ReasonEvent(
            kind=pb.REASON_EVENT_KIND_STEP_DONE,
            branch_id=event.branch_id,
            step=step_to_proto(event.step),
            score=event.score,
        )
    if isinstance(event, BranchPruned):
        return pb.ReasonEvent(
            kind=pb.REASON_EVENT_KIND_BRANCH_PRUNED,
            branch_id=event.branch_id,
            score=event.score,
            status=pb.PATH_STATUS_PRUNED,
            note=event.reason,
        )
    if isinstance(event, BranchDone):
        answer = format_number(event.answer) if event.answer is not None else ""
        return pb.ReasonEvent(
            kind=pb.REASON_EVENT_KIND_BRANCH_DONE,
            branch_id=event.branch_id,
            score=event.score,
            status=_STATUSES[event.status],
            answer=answer,
            note=event.note,
        )
    if isinstance(event, Finished):
        return pb.ReasonEvent(
            kind=pb.REASON_EVENT_KIND_FINAL_ANSWER, response=result_to_proto(event.result)
        )
    raise TypeError(f"unknown event {event!r}")
