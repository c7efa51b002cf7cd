"""ReportOutcome / GetScorer messages <-> the learning core's types."""

from __future__ import annotations

import math

from ponder.errors import InvalidArgument
from ponder.learning.model_registry import ModelVersion
from ponder.learning.online import Metrics
from ponder.learning.paired_gate import PairedDecision
from ponder.learning.ranker_registry import RankerVersion
from ponder.learning.records import Outcome, now_ms
from ponder.learning.registry import VersionInfo
from ponder.learning.scorer_status import ModelStatus, RankerStatus, ScorerStatus
from ponder.reasoning.plan import parse_number
from ponder.v1 import ponder_pb2 as pb

MAX_REASONING_ID_CHARS = 128


def outcome_from_proto(request: pb.ReportOutcomeRequest) -> Outcome:
    """Check a ReportOutcomeRequest; raises InvalidArgument naming the field."""
    reasoning_id = request.reasoning_id.strip()
    if not reasoning_id:
        raise InvalidArgument("reasoning_id", "empty")
    if len(reasoning_id) > MAX_REASONING_ID_CHARS:
        raise InvalidArgument("reasoning_id", f"longer than {MAX_REASONING_ID_CHARS} characters")
    which = request.WhichOneof("outcome")
    if which is None:
        raise InvalidArgument("outcome", "set either correct or reward")
    reward = float(request.correct) if which == "correct" else request.reward
    if not (math.isfinite(reward) and 0.0 <= reward <= 1.0):
        raise InvalidArgument("reward", f"must be within [0, 1], got {reward}")
    correct_answer = None
    if request.correct_answer.strip():
        correct_answer = parse_number(request.correct_answer.strip())
        if correct_answer is None or not math.isfinite(correct_answer):
            raise InvalidArgument(
                "correct_answer", f"not a number: {request.correct_answer.strip()[:40]!r}"
            )
    # Outcome checks the group's length (InvalidArgument naming problem_group)
    group = " ".join(request.problem_group.split())
    return Outcome(reasoning_id, reward, correct_answer, now_ms(), group)


def metrics_to_proto(metrics: Metrics) -> pb.ScorerMetrics:
    def finite(value: float) -> float:
        return value if math.isfinite(value) else 0.0

    return pb.ScorerMetrics(
        examples=metrics.examples,
        log_loss=finite(metrics.log_loss),
        accuracy=finite(metrics.accuracy),
        calibration_error=finite(metrics.calibration_error),
    )


def version_to_proto(info: VersionInfo) -> pb.ScorerVersion:
    message = pb.ScorerVersion(
        version=info.version,
        parent=info.parent,
        status=info.status,
        created_unix_ms=info.created_ms,
        promoted_unix_ms=info.promoted_ms,
        gate_reason=info.reason,
        outcomes_applied=info.outcomes_applied,
    )
    if info.heldout is not None:
        message.heldout.CopyFrom(metrics_to_proto(info.heldout))
    return message


def scorer_status_to_proto(
    status: ScorerStatus, ranker: RankerStatus | None = None, model: ModelStatus | None = None
) -> pb.GetScorerResponse:
    info = pb.ScorerInfo(
        scope=status.scope,
        active=version_to_proto(status.active),
        outcomes_reported=status.outcomes_reported,
        outcomes_applied=status.outcomes_applied,
        outcomes_pending=status.outcomes_pending,
        progressive_log_loss=status.progressive_log_loss,
    )
    if status.candidate is not None:
        info.candidate.CopyFrom(version_to_proto(status.candidate))
    if status.active_heldout is not None:
        info.active_heldout.CopyFrom(metrics_to_proto(status.active_heldout))
    response = pb.GetScorerResponse(scorer=info)
    if ranker is not None:
        response.ranker.CopyFrom(ranker_status_to_proto(ranker))
    if model is not None:
        response.model.CopyFrom(model_status_to_proto(model))
    return response


def model_version_to_proto(info: ModelVersion) -> pb.ModelVersion:
    message = pb.ModelVersion(
        version=info.name,
        base_model=info.base_model,
        parent=info.parent,
        status=info.status,
        created_unix_ms=info.created_ms,
        promoted_unix_ms=info.promoted_ms,
        train_examples=info.train_examples,
    )
    _copy_gate(message, info.gate)
    return message


def model_status_to_proto(status: ModelStatus) -> pb.ModelRefreshInfo:
    return pb.ModelRefreshInfo(
        scope=status.scope,
        active=model_version_to_proto(status.active),
        kept_versions=status.kept_versions,
    )


def refresh_model_info(status: ModelStatus) -> pb.ModelInfo:
    """ListModels' line for a scope's active refresh adapter."""
    active = status.active
    gate = f"; gate: {active.gate.reason}" if active.gate else ""
    return pb.ModelInfo(
        name=active.name,
        kind=pb.MODEL_KIND_REFRESH,
        version=active.name,
        description=f"outcome-driven refresh of {active.base_model} for scope "
        f"{status.scope} ({active.train_examples} verified paths){gate}",
        planner_default=True,
    )


def _copy_gate(message: pb.RankerVersion | pb.ModelVersion, gate: PairedDecision | None) -> None:
    """The paired gate's decision on a version message (none for a seed version)."""
    if gate is not None:
        message.gate_reason = gate.reason
        message.gate_problems = gate.problems
        message.gate_wins = gate.wins
        message.gate_losses = gate.losses


def ranker_version_to_proto(info: RankerVersion) -> pb.RankerVersion:
    message = pb.RankerVersion(
        version=info.version,
        parent=info.parent,
        status=info.status,
        created_unix_ms=info.created_ms,
        promoted_unix_ms=info.promoted_ms,
        train_examples=info.train_examples,
    )
    _copy_gate(message, info.gate)
    return message


def ranker_status_to_proto(status: RankerStatus) -> pb.RankerInfo:
    info = pb.RankerInfo(
        scope=status.scope,
        active=ranker_version_to_proto(status.active),
        train_examples=status.progress.train_examples,
        heldout_examples=status.progress.heldout_examples,
        fitted_on=status.progress.fitted_on,
    )
    if status.latest is not None:
        info.latest.CopyFrom(ranker_version_to_proto(status.latest))
    return info
