"""Search that earns its tokens, with a scripted decoder: diverse samples, the learned
verify step (no decoder call), the score-weighted vote over distinct answers, adaptive
waves that stop when the vote is settled, the question cues the verifier reads, and the
offline replay of sampled paths."""

from __future__ import annotations

import asyncio

import pytest

from ponder.config import PlannerConfig
from ponder.generation import (
    FinishReason,
    GenerationRequest,
    GenerationResult,
    TokenLogprob,
    TokenMeter,
)
from ponder.reasoning.cache import NoScoreCache
from ponder.reasoning.cues import operator_shares, read_cues, used_positions
from ponder.reasoning.path_scorer import PathScorer
from ponder.reasoning.paths import FEATURE_NAMES, PathState, PathStatus, path_features
from ponder.reasoning.plan import (
    BranchSpec,
    NodeKind,
    Strategy,
    build_plan,
    extract_conditions,
)
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import ReasonBudget
from ponder.reasoning.steps import StepRecord
from ponder.reasoning.verifier import SampledPath, SampledProblem, fit_verifier, replay

RACHEL = (
    "Rachel bought 7 books for 4 dollars each. She also has 12 pencils. "
    "How much did she spend on books?"
)
POT_ONLY = ReasonBudget(max_branches=12, max_tokens=2048, strategies=(Strategy.POT,))


class SeededDecoder:
    """Answers pot calls by the branch's seed (None = greedy), counts calls by kind."""

    def __init__(self, by_seed: dict[int | None, str], default: str) -> None:
        self.by_seed = by_seed
        self.default = default
        self.calls: list[str] = []

    async def complete(
        self, request: GenerationRequest, meter: TokenMeter | None = None
    ) -> GenerationResult:
        text = request.messages[-1].content
        kind = "verify" if "Is this answer correct" in text else "pot"
        self.calls.append(kind)
        await asyncio.sleep(0.001)
        answer = (
            "yes" if kind == "verify" else self.by_seed.get(request.sampling.seed, self.default)
        )
        if meter is not None:
            meter.generated += 3
        return GenerationResult(
            text=answer,
            prompt_tokens=40,
            completion_tokens=3,
            finish_reason=FinishReason.STOP,
            logprobs=(TokenLogprob(answer, -0.1),),
        )


def scorer_with(**weights: float) -> PathScorer:
    n = len(FEATURE_NAMES)
    values = [0.0] * n
    for name, weight in weights.items():
        values[FEATURE_NAMES.index(name)] = weight
    return PathScorer("test", tuple(values), 0.0, (0.0,) * n, (1.0,) * n, {})


def run(decoder: SeededDecoder, scorer: PathScorer, budget: ReasonBudget, **settings: object):  # type: ignore[no-untyped-def]
    config = PlannerConfig.model_validate(
        {"verify_step": "verifier", "early_stop_agree": 99, "selection": "vote"} | settings
    )
    planner = ReasoningPlanner(decoder, lambda: scorer, NoScoreCache(), config)
    return asyncio.run(planner.reason(RACHEL, budget, "r"))


def test_cues_find_the_irrelevant_number_and_the_questions_wording() -> None:
    cues = read_cues(RACHEL)
    assert cues.relevance == (1.0, 1.0, 0.0)  # 7 books, 4 dollars: asked about; 12 pencils: not
    assert cues.body_rate == 1.0 and cues.asks_total == 0.0
    difference = read_cues("Tom has 9 red and 4 blue cars. How many more red cars than blue?")
    assert difference.asks_difference == 1.0
    assert operator_shares("(7 * 4) + 12") == (0.5, 0.0, 0.5, 0.0)
    assert operator_shares("7 * 4 = 28\n28 - 3 = 25\n") == (0.0, 0.5, 0.5, 0.0)
    assert used_positions("7 * 4", (7.0, 4.0, 12.0)) == [0, 1]
    assert used_positions("4 + 4", (4.0, 9.0, 4.0)) == [0, 2]  # a value given twice, used twice


def test_path_features_mark_a_program_that_uses_the_distractor() -> None:
    conditions = extract_conditions(RACHEL)
    cues = read_cues(RACHEL)

    def row(program: str, answer: float) -> dict[str, float]:
        path = PathState(BranchSpec("b0-pot", Strategy.POT, 0.0, 0), answer=answer)
        path.steps.append(StepRecord("b0-pot.method", NodeKind.METHOD, program, tokens=3))
        features = path_features(path, [path], conditions, len(RACHEL), cues)
        return dict(zip(FEATURE_NAMES, features, strict=True))

    right, wrong = row("7 * 4", 28.0), row("7 * 4 + 12", 40.0)
    assert right["irrelevant_used"] == 0.0 and wrong["irrelevant_used"] == pytest.approx(1 / 3)
    assert right["relevant_unused"] == 0.0
    assert row("7 + 12", 19.0)["relevant_unused"] == pytest.approx(0.5)  # 4 dollars unused
    assert right["op_mul"] == 1.0 and right["rate_and_mul"] == 1.0
    assert wrong["op_add"] == pytest.approx(0.5)


def test_sampled_branches_cycle_through_temperatures_with_their_own_seeds() -> None:
    plan = build_plan((Strategy.POT,), 5, (0.8, 1.2))
    assert [b.temperature for b in plan.branches] == [0.0, 0.8, 1.2, 0.8, 1.2]
    assert len({b.seed for b in plan.branches}) == 5


def test_the_learned_verify_step_makes_no_decoder_call() -> None:
    decoder = SeededDecoder({}, "7 * 4")
    budget = ReasonBudget(max_branches=2, max_tokens=2048, strategies=(Strategy.POT,))
    result = run(decoder, scorer_with(has_answer=1.0), budget)
    assert decoder.calls.count("verify") == 0
    assert all(p.status is PathStatus.COMPLETED for p in result.paths)
    assert [s.kind for s in result.paths[0].steps] == [
        NodeKind.METHOD,
        NodeKind.COMPUTE,
        NodeKind.VERIFY,
        NodeKind.ANSWER,
    ]
    assert result.numeric_answer == 28


def test_the_weighted_vote_outweighs_a_larger_group_of_weak_paths() -> None:
    # Three paths add the pencils (40); two use only the books (28). The verifier weighs
    # a program with the irrelevant number far down, so 28 wins though 40 has more votes.
    programs = {None: "7 * 4 + 12", 1: "7 * 4 + 12", 2: "7 * 4", 3: "(7 * 4) + 12", 4: "7 * 4"}
    decoder = SeededDecoder(programs, "7 * 4")
    budget = ReasonBudget(max_branches=5, max_tokens=2048, strategies=(Strategy.POT,))
    plain = run(decoder, scorer_with(has_answer=1.0), budget)
    assert plain.numeric_answer == 40  # equal weights: the majority
    weighted = run(SeededDecoder(programs, "7 * 4"), scorer_with(irrelevant_used=-12.0), budget)
    assert weighted.numeric_answer == 28


def test_waves_stop_once_the_vote_is_settled() -> None:
    decoder = SeededDecoder({}, "7 * 4")  # every sample agrees
    result = run(
        decoder, scorer_with(has_answer=1.0), POT_ONLY, initial_branches=4, wave_branches=4
    )
    started = [p for p in result.paths if "not started" not in p.note]
    assert len(started) == 4 and decoder.calls.count("pot") == 4
    skipped = [p for p in result.paths if "not started" in p.note]
    assert len(skipped) == 8 and all(p.status is PathStatus.PRUNED for p in skipped)
    assert not any(p.started for p in skipped) and all(p.started for p in started)
    assert all(p.tokens == 0 for p in skipped)
    assert result.numeric_answer == 28


def test_waves_go_on_while_the_vote_is_split() -> None:
    programs = {None: "7 * 4", 1: "7 + 4", 2: "12 - 7", 3: "7 * 12"}  # four answers
    decoder = SeededDecoder(programs, "7 * 4")  # later samples agree on 28
    result = run(
        decoder,
        scorer_with(has_answer=1.0),
        POT_ONLY,
        initial_branches=4,
        wave_branches=4,
        settle_share=0.6,
    )
    assert decoder.calls.count("pot") == 8  # one more wave, then settled (5 of 8 say 28)
    assert sum("not started" in p.note for p in result.paths) == 4
    assert result.numeric_answer == 28
    assert len(result.plan.branches) == 12  # the plan holds every branch it may start


def sampled(
    answers: list[float | None], right: float, rows: list[list[float]] | None = None
) -> SampledProblem:
    n = len(FEATURE_NAMES)
    paths = [
        SampledPath(
            f"b{i}",
            "pot",
            0.0 if i == 0 else 1.0,
            answer,
            answer is not None and answer == right,
            5,
            [rows[i] if rows else [0.0] * n],
        )
        for i, answer in enumerate(answers)
    ]
    return SampledProblem("q", right, "t", paths)


def test_replay_answers_like_the_planner_at_each_budget() -> None:
    record = sampled([3.0, 5.0, 5.0, 3.0, 5.0, 5.0, 5.0, 5.0], right=5.0)
    assert replay(record, 1, "greedy") == (False, 5)
    assert replay(record, 4, "majority")[0] in (True, False)  # a 2-2 tie
    assert replay(record, 8, "majority") == (True, 40)
    settings = PlannerConfig(initial_branches=4, wave_branches=4, settle_votes=3)
    ok, tokens = replay(record, 8, "adaptive", scorer_with(has_answer=1.0), settings)
    assert ok and tokens == 40  # split at 4, so the second wave ran
    agreeing = sampled([5.0] * 8, right=5.0)
    assert replay(agreeing, 8, "adaptive", scorer_with(has_answer=1.0), settings) == (True, 20)


def test_the_verifier_learns_from_execution_labels() -> None:
    n = len(FEATURE_NAMES)
    bad = FEATURE_NAMES.index("irrelevant_used")

    def row(irrelevant: float) -> list[float]:
        values = [0.0] * n
        values[bad] = irrelevant
        values[FEATURE_NAMES.index("has_answer")] = 1.0
        return values

    train = [sampled([7.0, 9.0], right=7.0, rows=[row(0.0), row(1.0)]) for _ in range(20)]
    verifier = fit_verifier(train, {"held": train[:5]}, "test")
    low, high = verifier.score_many([row(1.0), row(0.0)])
    assert high > 0.8 > 0.2 > low
    assert verifier.metrics["held_out_held"]["precision"] == 1.0
    assert verifier.metrics["held_out_held"]["recall"] == 1.0


def test_sampled_paths_are_labelled_by_executing_their_programs() -> None:
    from ponder.reasoning.problems import Problem
    from ponder.reasoning.verifier import sample_paths

    programs = {None: "7 * 4", 1: "7 + 4", 2: "4 * 7", 3: "12 - 4"}
    decoder = SeededDecoder(programs, "7 * 4")
    settings = PlannerConfig(verify_step="verifier", initial_branches=2, early_stop_agree=1)
    budget = ReasonBudget(max_branches=4, max_tokens=2048, strategies=(Strategy.POT,))
    records = asyncio.run(
        sample_paths(decoder, [Problem(RACHEL, 28.0, "t")], settings, budget, 4, lambda _: None)
    )
    (record,) = records
    # Every branch ran to its end (no waves, no early stop while collecting).
    assert [p.program for p in record.paths] == ["7 * 4", "7 + 4", "4 * 7", "12 - 4"]
    assert [p.answer for p in record.paths] == [28.0, 11.0, 28.0, 8.0]
    assert [p.correct for p in record.paths] == [True, False, True, False]
    assert all(len(p.rows) == 4 for p in record.paths)  # one row per node of the branch
    assert all(len(row) == len(FEATURE_NAMES) for p in record.paths for row in p.rows)
