"""The answer ranker and program search: every short program over the quantities, the
candidates (sampled answers, then searched ones), the features that tell a distractor or
a wrong operator apart, the listwise fit, the planner choosing by the ranker (a sampled
path, or a search path when no branch wrote the right program), its settle rule, and the
offline replay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ponder.config import PlannerConfig
from ponder.reasoning.answer_features import (
    FEATURE_NAMES,
    SampledProgram,
    candidate_rows,
    candidates,
    read_problem,
)
from ponder.reasoning.cache import NoScoreCache
from ponder.reasoning.paths import FEATURE_NAMES as PATH_FEATURES
from ponder.reasoning.paths import PathStatus
from ponder.reasoning.plan import Strategy
from ponder.reasoning.program_search import search_programs
from ponder.reasoning.ranker import DEFAULT_RANKER_PATH, AnswerRanker, load_ranker
from ponder.reasoning.ranker_fit import (
    RankingExample,
    examples_at_counts,
    fit_ranker,
    ranking_example,
)
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import ReasonBudget
from ponder.reasoning.selection import SEARCH_PATH_ID
from ponder.reasoning.verifier import SampledPath, SampledProblem, replay
from tests.unit.test_search import RACHEL, SeededDecoder, scorer_with

BOXES = "A box holds 12 pens. How many pens are in 4 boxes?"


def ranker_with(search: bool, **weights: float) -> AnswerRanker:
    """A network that scores w . z exactly: relu(w . z) - relu(-w . z)."""
    n = len(FEATURE_NAMES)
    values = [0.0] * n
    for name, weight in weights.items():
        values[FEATURE_NAMES.index(name)] = weight
    hidden = (tuple(values), tuple(-v for v in values))
    return AnswerRanker("test", hidden, (0.0, 0.0), (1.0, -1.0), (0.0,) * n, (1.0,) * n, search)


def features(problem: str, program: str, answer: float, votes: int = 0) -> dict[str, float]:
    reading = read_problem(problem)
    sampled = [SampledProgram(program, answer)] * votes
    found = candidates(reading, sampled, search=True)
    rows = candidate_rows(reading, found)
    row = next(r for c, r in zip(found, rows, strict=True) if c.answer == answer)
    return dict(zip(FEATURE_NAMES, row, strict=True))


def test_search_enumerates_one_and_two_operation_programs_over_the_quantities() -> None:
    found = search_programs((7.0, 4.0, 12.0))
    values = {p.text: p.value for p in found}
    assert values["7 * 4"] == 28.0 and values["4 - 7"] == -3.0
    assert "4 * 7" not in values  # commutative operators once per pair
    assert values["(7 * 4) + 12"] == 40.0 and values["12 - (7 * 4)"] == -16.0
    assert all(p.operations in (1, 2) for p in found)
    assert search_programs((5.0,)) == []  # nothing to combine
    one = search_programs((7.0, 4.0, 12.0), max_operations=1)
    assert one and all(p.operations == 1 for p in one)
    assert len(one) == 3 * 6  # three pairs: + and * once, - and / both ways
    assert [p.text for p in search_programs((3.0, 0.0)) if "/" in p.text] == ["0 / 3"]


def test_candidates_keep_sampled_answers_first_and_merge_search_into_them() -> None:
    reading = read_problem(BOXES)
    sampled = [SampledProgram("12 - 4", 8.0, -0.2, greedy=True), SampledProgram("12 / 4", 3.0)]
    sampled.append(SampledProgram("12 - 4", 8.0, -0.5))
    found = candidates(reading, sampled, search=True)
    assert [c.answer for c in found[:2]] == [8.0, 3.0]
    assert found[0].votes == 2 and found[0].greedy and found[0].best_mean_logprob == -0.2
    assert "12 - 4" in found[0].programs
    searched = {c.answer: c for c in found[2:]}
    assert searched[48.0].votes == 0 and searched[48.0].program == "12 * 4"
    assert len(candidates(reading, sampled, search=False)) == 2
    rows = dict(zip((c.answer for c in found), candidate_rows(reading, found), strict=True))
    same = FEATURE_NAMES.index("votes_on_same_quantities")
    most = FEATURE_NAMES.index("most_votes")
    # 12 * 4 uses the quantities all three samples used, with another operator
    assert rows[48.0][same] == 1.0 and rows[48.0][most] == 0.0
    assert rows[8.0][most] == 1.0 and rows[3.0][most] == 0.0
    assert rows[16.0][same] == 1.0 and rows[8.0][FEATURE_NAMES.index("vote_share")] == 2 / 3


def test_features_tell_a_program_using_the_distractor_and_the_operator_it_meets() -> None:
    right = features(RACHEL, "7 * 4", 28.0, votes=1)
    distracted = features(RACHEL, "(7 * 4) + 12", 40.0)
    assert right["irrelevant_used"] == 0.0 and distracted["irrelevant_used"] > 0
    assert right["vote_share"] == 1.0 and distracted["vote_share"] == 0.0
    assert right["operations"] == 1.0 and distracted["two_or_more_operations"] == 1.0

    # the words around each quantity ("books for", "dollars each") meet the operator
    def context(row: dict[str, float]) -> set[str]:
        return {k for k, v in row.items() if k.startswith("context_operator_") and v > 0}

    assert context(right) and context(right) != context(features(RACHEL, "7 + 4", 11.0))


JACK = (
    "Jack had 8 pens and Mary had 5 pens. Jack gave 3 pens to Mary. "
    "How many pens does Jack have now?"
)


def test_features_tell_a_program_that_starts_from_someone_else_s_holding() -> None:
    # Mary's 5 less the 3 Jack gave leaves out Jack's own 8, which the question asks about
    assert features(JACK, "5 - 3", 2.0, votes=1)["asked_holding_unused"] == 1.0
    assert features(JACK, "8 - 3", 5.0, votes=1)["asked_holding_unused"] == 0.0
    assert features(JACK, "(8 + 5) - 3", 10.0, votes=1)["asked_holding_unused"] == 0.0
    # asked about Mary, her own 5 is the holding to start from
    mary = JACK.replace("does Jack have", "does Mary have")
    assert features(mary, "5 + 3", 8.0, votes=1)["asked_holding_unused"] == 0.0
    assert features(mary, "8 + 3", 11.0, votes=1)["asked_holding_unused"] == 1.0
    # a question that names no one flags nothing
    nobody = JACK.replace("does Jack have now", "are there in all")
    assert features(nobody, "5 - 3", 2.0, votes=1)["asked_holding_unused"] == 0.0


def test_fit_ranker_learns_to_prefer_the_right_candidate_and_skips_hopeless_problems() -> None:
    # The right candidate never uses an irrelevant number; the wrong one does, and holds
    # more votes in most problems: only the first cue tells them apart.
    def row(irrelevant: float, votes: float) -> list[float]:
        values = [0.0] * len(FEATURE_NAMES)
        values[FEATURE_NAMES.index("irrelevant_used")] = irrelevant
        values[FEATURE_NAMES.index("vote_share")] = votes
        return values

    examples = [RankingExample(rows=[row(0, 0.5)] * 2, right=[False, False])]  # left out
    for i in range(20):
        votes = 0.3 + 0.02 * i
        examples.append(
            RankingExample(rows=[row(1, 1 - votes), row(0, votes)], right=[False, True])
        )
    ranker = fit_ranker(examples, search=False, hidden=8, steps=200)
    probabilities = ranker.probabilities([row(1, 0.8), row(0, 0.2)])
    assert probabilities[1] > 0.9 and sum(probabilities) == pytest.approx(1.0)
    assert fit_ranker(examples, search=False, hidden=8, steps=200) == ranker  # deterministic
    with pytest.raises(ValueError, match="no training problem"):
        fit_ranker(examples[:1], search=False)


def test_ranking_example_labels_candidates_by_executing_against_the_answer() -> None:
    example = ranking_example(BOXES, 48.0, [SampledProgram("12 - 4", 8.0)], search=True)
    assert example.right[0] is False and sum(example.right) == 1
    assert len(example.rows) == len(example.right) and len(example.rows[0]) == len(FEATURE_NAMES)


def test_examples_at_counts_enter_each_problem_once_per_count_from_its_first_programs() -> None:
    # The ranker learns what votes are worth at the counts the waves rank: 2 of the first
    # 3 programs say 8, while 3 of all 5 say 48.
    row = [0.0] * len(PATH_FEATURES)
    programs = [
        ("12 - 4", 8.0),
        ("12 * 4", 48.0),
        ("12 - 4", 8.0),
        ("12 * 4", 48.0),
        ("12 * 4", 48.0),
    ]
    paths = [
        SampledPath(f"b{i}-pot", "pot", 1.0, a, a == 48.0, 3, [row], prog)
        for i, (prog, a) in enumerate(programs)
    ]
    record = SampledProblem(BOXES, 48.0, "test", paths)
    examples = examples_at_counts([record, record], search=False, counts=(3, 5))
    assert len(examples) == 4  # two problems, two counts
    votes = FEATURE_NAMES.index("log_votes")

    def votes_of_48(example: RankingExample) -> float:
        return next(r[votes] for r, right in zip(example.rows, example.right, strict=True) if right)

    at_three, at_five = examples[0], examples[2]
    assert votes_of_48(at_three) < votes_of_48(at_five)
    assert at_three.right == [False, True] and at_five.right == [False, True]


def test_ranker_round_trips_and_rejects_other_features(tmp_path: Path) -> None:
    ranker = ranker_with(True, vote_share=2.0)
    ranker.save(tmp_path / "r.json")
    assert load_ranker(tmp_path / "r.json") == ranker
    data = json.loads((tmp_path / "r.json").read_text())
    data["features"] = data["features"][:-1]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="features differ"):
        load_ranker(tmp_path / "bad.json")
    packaged = load_ranker(DEFAULT_RANKER_PATH)
    assert packaged.metrics["trained_on"]  # fitted by `ponder train verifier`


def reason(problem: str, decoder: SeededDecoder, ranker: AnswerRanker, **settings: object):  # type: ignore[no-untyped-def]
    config = PlannerConfig.model_validate(
        {"verify_step": "verifier", "early_stop_agree": 99, "selection": "ranker"} | settings
    )
    planner = ReasoningPlanner(
        decoder, lambda: scorer_with(), NoScoreCache(), config, ranker=ranker
    )
    budget = ReasonBudget(max_branches=8, max_tokens=2048, strategies=(Strategy.POT,))
    return asyncio.run(planner.reason(problem, budget, "r"))


def test_planner_answers_from_a_search_path_when_no_branch_wrote_the_right_program() -> None:
    decoder = SeededDecoder({}, "12 - 4")  # every branch writes the memorised 12 - 4
    ranker = ranker_with(True, op_mul=5.0)  # a ranker that has learned "in 4 boxes" wants *
    result = reason(BOXES, decoder, ranker)
    assert result.numeric_answer == 48.0 and result.chosen_path_id == SEARCH_PATH_ID
    search = next(p for p in result.paths if p.spec.id == SEARCH_PATH_ID)
    assert search.status is PathStatus.COMPLETED and search.tokens == 0
    assert search.steps[0].output == "12 * 4" and "program search" in search.note
    # without search among its candidates, the ranker can only pick a sampled answer
    sampled_only = reason(BOXES, SeededDecoder({}, "12 - 4"), ranker_with(False, op_mul=5.0))
    assert sampled_only.numeric_answer == 8.0 and sampled_only.chosen_path_id != SEARCH_PATH_ID


def test_ranker_settles_the_waves_only_on_a_voted_confident_answer() -> None:
    confident = ranker_with(False, vote_share=20.0)
    decoder = SeededDecoder({}, "7 * 4")
    settled = reason(RACHEL, decoder, confident, initial_branches=3, wave_branches=2)
    assert settled.numeric_answer == 28.0
    assert sum(1 for p in settled.paths if p.started) == 3  # settled after the first wave
    unsure = ranker_with(False)  # uniform over candidates: never settled below 8 branches
    split = SeededDecoder({None: "7 * 4", 1: "7 + 4"}, "7 * 4 + 12")
    spread = reason(RACHEL, split, unsure, initial_branches=3, wave_branches=2)
    assert sum(1 for p in spread.paths if p.started) == 8


def test_doubt_holds_the_waves_when_the_words_speak_against_the_leader() -> None:
    """A sure ranker settles on `12 / 4` (pens per box per box) after the first wave unless
    `doubt_holds_waves`: then the next waves start while the leader is doubted."""
    confident = ranker_with(False, vote_share=20.0)
    decoder = SeededDecoder({None: "12 / 4", 1: "12 / 4", 2: "12 / 4"}, "12 * 4")
    settled = reason(BOXES, decoder, confident, initial_branches=3, wave_branches=2)
    assert settled.numeric_answer == 3.0
    assert sum(1 for p in settled.paths if p.started) == 3
    held = reason(
        BOXES,
        SeededDecoder({None: "12 / 4", 1: "12 / 4", 2: "12 / 4"}, "12 * 4"),
        confident,
        initial_branches=3,
        wave_branches=2,
        doubt_holds_waves=True,
    )
    # the waves go on until `12 * 4` outvotes the doubted `12 / 4` (4 of 7 against 3)
    assert sum(1 for p in held.paths if p.started) == 7
    assert held.numeric_answer == 48.0


def test_a_doubted_first_answer_yields_to_a_close_unflagged_one() -> None:
    """`12 / 4` leads on votes, but its result cannot count pens; `12 * 4` has a third of
    its probability and is not flagged: with doubt_yield 0.3 it comes first."""
    sampled = [SampledProgram("12 / 4", 3.0, -0.1, True), SampledProgram("12 / 4", 3.0, -0.1)]
    sampled += [SampledProgram("12 * 4", 48.0, -0.3)]
    ranker = ranker_with(False, vote_share=1.0)
    plain = ranker.rank(BOXES, sampled)
    assert plain[0][0].program == "12 / 4"
    share = plain[1][1] / plain[0][1]
    assert 0.3 <= share < 1.0
    yielded = ranker.rank(BOXES, sampled, doubt_yield=0.3)
    assert [c.program for c, _ in yielded[:2]] == ["12 * 4", "12 / 4"]
    assert ranker.rank(BOXES, sampled, doubt_yield=min(1.0, share + 0.01))[0][0].program == "12 / 4"


def test_replay_ranked_answers_from_the_samples() -> None:
    row = [0.0] * len(PATH_FEATURES)
    paths = [
        SampledPath(f"b{i}-pot", "pot", 0.0 if i == 0 else 1.0, a, a == 48.0, 3, [row], prog)
        for i, (prog, a) in enumerate([("12 - 4", 8.0), ("12 * 4", 48.0), ("12 - 4", 8.0)])
    ]
    record = SampledProblem(BOXES, 48.0, "test", paths)
    prefers_mul = ranker_with(False, op_mul=5.0)
    assert replay(record, 3, "ranked", ranker=prefers_mul) == (True, 9)
    assert replay(record, 1, "ranked", ranker=prefers_mul) == (False, 3)
    assert replay(record, 3, "majority") == (False, 9)
    with pytest.raises(ValueError, match="needs an answer ranker"):
        replay(record, 3, "ranked")


def test_ranker_answers_pot_plans_only_and_only_when_selected() -> None:
    prefers_mul = ranker_with(True, op_mul=5.0)
    # a plan with other strategies than pot: the ranker (fitted on pot programs) stays out
    config = PlannerConfig.model_validate(
        {"verify_step": "verifier", "early_stop_agree": 99, "selection": "ranker"}
    )
    planner = ReasoningPlanner(
        SeededDecoder({}, "12 - 4"),
        lambda: scorer_with(),
        NoScoreCache(),
        config,
        ranker=prefers_mul,
    )
    mixed = ReasonBudget(
        max_branches=2, max_tokens=2048, strategies=(Strategy.POT, Strategy.DIRECT)
    )
    result = asyncio.run(planner.reason(BOXES, mixed, "r"))
    assert all(p.spec.id != SEARCH_PATH_ID for p in result.paths)
    # selection 'vote' ignores a ranker handed in
    voted = reason(BOXES, SeededDecoder({}, "12 - 4"), prefers_mul, selection="vote")
    assert voted.numeric_answer == 8.0


def test_sampling_for_training_never_uses_the_ranker() -> None:
    from ponder.reasoning.verifier import collect_settings

    shipped = PlannerConfig.model_validate({"selection": "ranker", "initial_branches": 2})
    settings = collect_settings(shipped)
    assert settings.selection == "vote" and settings.initial_branches == 0
