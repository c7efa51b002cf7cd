"""The pieces of learning the answer ranker from outcomes: the paired gate, what an
outcome teaches, the held-back slice of problems, and the unseen stream's disjointness
from the held-out problems and from every training run."""

from __future__ import annotations

import json

import pytest

from ponder import env
from ponder.learning.gate import Verdict
from ponder.learning.paired_gate import PairedGateSettings, paired_decision, sign_test_p
from ponder.learning.ranker_examples import (
    RankerExample,
    held_back,
    holdout_key,
    right_answer_of,
)
from ponder.learning.stream_split import learning_problems
from ponder.reasoning.answer_features import SampledProgram
from ponder.reasoning.problems import split_of
from tests.unit.data_marks import needs_data

SETTINGS = PairedGateSettings(min_problems=10, min_effect=0.05, max_p_value=0.1)


def test_sign_test() -> None:
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(3, 0) == pytest.approx(1 / 8)
    assert sign_test_p(1, 1) == pytest.approx(3 / 4)


def test_paired_gate_promotes_only_a_clear_gain() -> None:
    active = [True] * 10 + [False] * 10
    better = [True] * 10 + [True] * 6 + [False] * 4
    assert paired_decision(active, better, SETTINGS).verdict is Verdict.PROMOTE
    worse = [False] * 6 + [True] * 4 + [False] * 10
    decision = paired_decision(active, worse, SETTINGS)
    assert decision.verdict is Verdict.REJECT
    assert (decision.wins, decision.losses) == (0, 6)
    # the same accuracy, different problems: no gain, rejected
    swapped = [False] * 2 + [True] * 8 + [True] * 2 + [False] * 8
    assert paired_decision(active, swapped, SETTINGS).verdict is Verdict.REJECT
    # one win is below the minimum effect of 5 % of 20 problems and its p is 0.5
    one = [*active[:10], True, *active[11:]]
    assert paired_decision(active, one, SETTINGS).verdict is Verdict.REJECT
    assert paired_decision(active[:5], better[:5], SETTINGS).verdict is Verdict.DEFER
    with pytest.raises(ValueError):
        paired_decision(active, better[:3], SETTINGS)


def test_the_sign_test_counts_groups_of_problems_once() -> None:
    # 6 wins all inside one group of variants, no losses: 6 coin flips for the problem
    # count (p = 1/64), one for the group count (p = 1/2)
    active = [False] * 6 + [True] * 14
    candidate = [True] * 20
    groups = ["story-a"] * 6 + [f"story-{i}" for i in range(14)]
    by_problem = paired_decision(active, candidate, SETTINGS)
    assert by_problem.verdict is Verdict.PROMOTE
    assert by_problem.p_value == pytest.approx(1 / 64)
    by_group = paired_decision(active, candidate, SETTINGS, groups)
    assert by_group.verdict is Verdict.REJECT
    assert (by_group.groups, by_group.group_wins, by_group.group_losses) == (15, 1, 0)
    assert by_group.p_value == pytest.approx(1 / 2) and "in 15 groups 1 won" in by_group.reason
    # the same wins spread over six groups are six pieces of evidence again
    spread = [f"story-{i}" for i in range(20)]
    assert paired_decision(active, candidate, SETTINGS, spread).verdict is Verdict.PROMOTE
    # a group's sign is its net: 2 wins and 1 loss in one group count as one group won
    mixed_active = [False, False, True, True]
    mixed_candidate = [True, True, False, True]
    decision = paired_decision(mixed_active, mixed_candidate, SETTINGS, ["g", "g", "g", "h"])
    assert (decision.wins, decision.losses, decision.group_wins, decision.group_losses) == (
        2,
        1,
        1,
        0,
    )
    with pytest.raises(ValueError, match="one group per judged problem"):
        paired_decision(active, candidate, SETTINGS, groups[:3])


def test_decisions_logged_before_groups_were_counted_still_read() -> None:
    from ponder.learning.paired_gate import PairedDecision

    data = paired_decision([False] * 10, [True] * 10, SETTINGS).to_json()
    for key in ("groups", "group_wins", "group_losses"):
        data.pop(key)
    assert PairedDecision.from_json(data).groups == 0


def test_what_an_outcome_says_is_right() -> None:
    assert right_answer_of(8.0, 0.0, 48.0) == 48.0  # the reported answer wins
    assert right_answer_of(8.0, 1.0, None) == 8.0  # "right": the chosen answer
    assert right_answer_of(8.0, 0.0, None) is None  # "wrong" alone: unknown
    assert right_answer_of(None, 1.0, None) is None


def test_ranker_example_round_trip_and_rows() -> None:
    example = RankerExample(
        "A box holds 12 pens. How many pens are in 4 boxes?",
        (SampledProgram("12 * 4", 48.0, -0.1, True), SampledProgram("12 - 4", 8.0, -0.4)),
        48.0,
    )
    assert RankerExample.from_json(example.to_json()) == example
    grouped = RankerExample(example.problem, example.programs, 48.0, "pens")
    assert RankerExample.from_json(grouped.to_json()) == grouped
    assert "group" not in json.loads(example.to_json())  # logs written before groups read
    ranking = example.ranking(search=False)
    assert len(ranking.rows) == 2 and sorted(ranking.right) == [False, True]


def test_held_back_slice_is_by_problem_and_near_its_share() -> None:
    texts = [f"Problem {i}: how many apples are left?" for i in range(4000)]
    share = sum(held_back(holdout_key(t), 20) for t in texts) / len(texts)
    assert 0.17 < share < 0.23
    assert holdout_key(texts[7]) == holdout_key("  " + texts[7].upper() + " ")


def test_a_named_group_holds_back_every_variant_of_a_problem_together() -> None:
    """With the caller's group, the side is the group's: variants that differ in text
    (renumbered, reworded) fall on one side, and the groups' share is near the percent."""
    variants = [
        f"Story {s}: Ann had {n} pens and gave away {n // 2}."
        for s in range(800)
        for n in (4, 9, 30)
    ]
    sides: dict[str, set[bool]] = {}
    for text in variants:
        story = text.split(":")[0]
        sides.setdefault(story, set()).add(held_back(holdout_key(text, story), 20))
    assert all(len(side) == 1 for side in sides.values())
    share = sum(True in side for side in sides.values()) / len(sides)
    assert 0.17 < share < 0.23
    # without groups, the variants of a story are split apart (which is what groups fix)
    apart = [
        {held_back(holdout_key(t), 20) for t in variants[i : i + 3]} for i in range(0, 2400, 3)
    ]
    assert sum(len(side) == 2 for side in apart) > 100
    assert holdout_key("Any text", " pens \t 2 ") == holdout_key("Other text", "pens 2")


@needs_data
def test_stream_and_held_out_are_disjoint_and_never_trained_on() -> None:
    data = env.data_dir() / "mawps_asdiv_train.jsonl"
    problems = learning_problems(data, env.REPO_ROOT / "bench/data/robust-dev.jsonl")
    assert len(problems.stream) >= 1000 and len(problems.held_out) >= 500
    assert not problems.stream_parents & problems.held_out_parents
    stream_texts = {p.question for p in problems.stream}
    held_texts = {p.question for p in problems.held_out}
    assert not stream_texts & held_texts
    train_texts = {
        str(row["question"]).strip()
        for row in map(json.loads, data.read_text().splitlines())
        if split_of(str(row["question"]).strip()) == "train"
    }
    assert not (stream_texts | held_texts) & train_texts
    # every dev problem of the stream half is a stream parent, none of the held-out half
    dev_in_stream = [p for p in problems.stream if p.source == "dev"]
    assert dev_in_stream and all(split_of(p.question) == "dev" for p in dev_in_stream)
    # each problem names its story (the dev problem it varies), in its own half
    assert all(problems.story_of[p.question] in problems.stream_parents for p in problems.stream)
    assert all(
        problems.story_of[p.question] in problems.held_out_parents for p in problems.held_out
    )
    assert len({problems.story_of[p.question] for p in problems.stream}) >= 100
    again = learning_problems(data, env.REPO_ROOT / "bench/data/robust-dev.jsonl")
    assert [p.question for p in again.stream] == [p.question for p in problems.stream]
