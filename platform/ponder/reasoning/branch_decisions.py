"""What a request run decides from its paths' scores, as plain functions of the paths and
the planner's settings: which running branches to stop, whether the answer vote is settled
(so no further wave of branches starts), and, when no branch answered, the error the
caller sees."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ponder.config import PlannerConfig
from ponder.errors import InvalidArgument, NotFound, PonderError, ResourceExhausted, Unavailable
from ponder.reasoning.answer_features import Candidate, doubted, read_problem
from ponder.reasoning.paths import PathState, PathStatus, answers_agree, group_by_answer


def answer_groups(paths: Iterable[PathState]) -> list[list[PathState]]:
    """Completed paths grouped by answer, the highest total score first."""
    done = [p for p in paths if p.status is PathStatus.COMPLETED and p.answer is not None]
    groups = [
        [done[i] for i in group] for group in group_by_answer([p.answer or 0.0 for p in done])
    ]
    return sorted(groups, key=lambda g: sum(p.score for p in g), reverse=True)


def ranker_settled(
    ranked: list[tuple[Candidate, float]], config: PlannerConfig, problem: str = ""
) -> bool:
    """Whether the answer ranker's top candidate has enough votes and probability (and,
    with `doubt_holds_waves`, whether the problem's words do not speak against it)."""
    if not ranked:
        return False
    top, probability = ranked[0]
    if top.votes < config.settle_votes or probability < config.settle_share:
        return False
    return not (config.doubt_holds_waves and doubted(read_problem(problem), top.program))


def vote_settled(groups: list[list[PathState]], config: PlannerConfig) -> bool:
    """Whether the score-weighted vote over `answer_groups` is decided enough."""
    if not groups:
        return False
    total = sum(p.score for g in groups for p in g)
    lead = sum(p.score for p in groups[0])
    return len(groups[0]) >= config.settle_votes and (
        total <= 0 or lead / total >= config.settle_share
    )


def prune_decisions(paths: Collection[PathState], config: PlannerConfig) -> list[tuple[str, str]]:
    """Which running branches to stop now, and why."""
    running = [p for p in paths if p.status is PathStatus.RUNNING]
    completed = [p for p in paths if p.status is PathStatus.COMPLETED]
    if not running:
        return []
    for path in completed:
        agreeing = [
            q
            for q in completed
            if q.answer is not None
            and path.answer is not None
            and answers_agree(q.answer, path.answer)
        ]
        if len(agreeing) >= config.early_stop_agree and all(
            q.score >= config.early_stop_score for q in agreeing
        ):
            return [(p.spec.id, "early stop: strong answers agree") for p in running]
    decisions: list[tuple[str, str]] = []
    contenders = sorted(
        (p for p in paths if p.status in (PathStatus.RUNNING, PathStatus.COMPLETED)),
        key=lambda p: p.score,
        reverse=True,
    )
    best = contenders[0].score if contenders else 0.0
    # Partial scores of different strategies are not comparable; the relative bar is
    # set by answers already in hand.
    best_answer = max((p.score for p in completed), default=0.0)
    for rank, path in enumerate(contenders):
        if path.status is not PathStatus.RUNNING or not path.steps:
            continue
        threshold = max(config.prune_below, config.prune_below_best_fraction * best_answer)
        if path.score < threshold and path.score < best:
            decisions.append(
                (path.spec.id, f"score {path.score:.3f} below threshold {threshold:.3f}")
            )
        elif rank >= config.keep_top:
            decisions.append((path.spec.id, f"outside the top {config.keep_top}"))
    return decisions


def no_answer(paths: list[PathState], notes: str) -> PonderError:
    """Why no branch answered, as the caller should see it: the caller's own error when
    every failed branch failed because of the request (INVALID_ARGUMENT, NOT_FOUND,
    RESOURCE_EXHAUSTED for a spent token budget — not worth retrying unchanged), else
    UNAVAILABLE."""
    failed = [p for p in paths if p.status is PathStatus.FAILED]
    causes = [p.caller_error for p in failed]
    if failed and all(cause is not None for cause in causes):
        for kind in (InvalidArgument, NotFound, ResourceExhausted):
            first = next((c for c in causes if isinstance(c, kind)), None)
            if first is not None:
                return kind(f"{first.message} (reasoning: {notes})")
    return Unavailable(f"reasoning: no branch produced an answer ({notes})")
