"""Choosing a request's answer with the answer ranker: what it reads from the paths the
planner completed, and the path it answers from (a sampled one, or a program found by
search, shown as a path of its own so the caller sees where the answer came from)."""

from __future__ import annotations

from collections.abc import Iterable

from ponder.reasoning.answer_features import Candidate, SampledProgram
from ponder.reasoning.paths import PathState, PathStatus, answers_agree
from ponder.reasoning.plan import BranchSpec, NodeKind, Strategy, format_number
from ponder.reasoning.ranker import AnswerRanker
from ponder.reasoning.requests import ReasonResult
from ponder.reasoning.steps import StepRecord

SEARCH_PATH_ID = "search"


def completed(paths: Iterable[PathState]) -> list[PathState]:
    return [p for p in paths if p.status is PathStatus.COMPLETED and p.answer is not None]


def sampled_programs(paths: Iterable[PathState]) -> list[SampledProgram]:
    """The completed paths as the ranker sees them: program, answer, mean log-probability
    of the generated steps, and whether the path was the greedy one."""
    out = []
    for path in completed(paths):
        assert path.answer is not None
        generated = [s for s in path.steps if s.tokens > 0]
        mean = sum(s.mean_logprob for s in generated) / len(generated) if generated else 0.0
        method = next((s.output for s in path.steps if s.kind is NodeKind.METHOD), "")
        out.append(SampledProgram(method.strip(), path.answer, mean, path.spec.temperature == 0))
    return out


def chosen_program(result: ReasonResult) -> str:
    """The program of the path a Reason answered from ("" when it has none)."""
    for path in result.paths:
        if path.spec.id == result.chosen_path_id:
            return next((s.output.strip() for s in path.steps if s.kind is NodeKind.METHOD), "")
    return ""


def rank_paths(
    ranker: AnswerRanker, problem: str, paths: Iterable[PathState], doubt_yield: float = 0.0
) -> list[tuple[Candidate, float]]:
    return ranker.rank(problem, sampled_programs(paths), doubt_yield)


def search_path(candidate: Candidate, probability: float) -> PathState:
    """A completed path for an answer only program search reached: its program and value,
    no decoder call, its score the ranker's probability."""
    spec = BranchSpec(SEARCH_PATH_ID, Strategy.POT, 0.0, 0)
    method = StepRecord(f"{SEARCH_PATH_ID}.method", NodeKind.METHOD, candidate.program)
    compute = StepRecord(
        f"{SEARCH_PATH_ID}.compute",
        NodeKind.COMPUTE,
        format_number(candidate.answer),
        value=candidate.answer,
    )
    path = PathState(spec, [method, compute], PathStatus.COMPLETED, candidate.answer)
    path.score = probability
    path.note = (
        f"program search (no decoder call): the answer ranker chose it at p={probability:.2f}"
    )
    return path


def chosen_path(
    ranked: list[tuple[Candidate, float]], paths: Iterable[PathState]
) -> PathState | None:
    """The path the ranker's first candidate comes from: the best-scored completed path
    with that answer, or a search path when no sampled path gave it."""
    if not ranked:
        return None
    top, probability = ranked[0]
    agreeing = [p for p in completed(paths) if answers_agree(p.answer or 0.0, top.answer)]
    if agreeing:
        return max(agreeing, key=lambda p: p.score)
    return search_path(top, probability)
