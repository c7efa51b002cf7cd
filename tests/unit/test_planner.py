"""The planner with a scripted decoder: DAG, fan-out, scoring, pruning, selection."""

from __future__ import annotations

import asyncio
import math

import pytest

from ponder.config import PlannerConfig
from ponder.errors import InvalidArgument, ResourceExhausted, Unavailable
from ponder.generation import (
    FinishReason,
    GenerationRequest,
    GenerationResult,
    TokenLogprob,
    TokenMeter,
)
from ponder.reasoning.cache import CacheUnavailable, NoScoreCache
from ponder.reasoning.path_scorer import PathScorer, fit_scorer, load_scorer
from ponder.reasoning.paths import FEATURE_NAMES, PathStatus
from ponder.reasoning.plan import (
    EXTRACT_NODE_ID,
    NodeKind,
    Strategy,
    build_plan,
    extract_conditions,
    parse_strategies,
)
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import (
    BranchPruned,
    BranchStarted,
    Finished,
    PlanBuilt,
    ReasonBudget,
    StepDone,
)
from ponder.reasoning.steps import StepRecord

PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have now?"


class ScriptedDecoder:
    """Answers by strategy instruction; records calls and cancellations."""

    def __init__(
        self,
        answers: dict[str, str],
        delays: dict[str, float] | None = None,
        streamed_first: int = 0,
    ) -> None:
        self.answers = answers
        self.delays = delays or {}
        self.streamed_first = streamed_first  # tokens "streamed" before the delay
        self.calls: list[str] = []
        self.cancelled: list[str] = []
        self.concurrent = 0
        self.max_concurrent = 0

    @staticmethod
    def kind(request: GenerationRequest) -> str:
        text = request.messages[-1].content
        for key, marker in (
            ("direct", "only the final numeric"),
            ("cot", "step by step"),
            ("pot", "one arithmetic expression"),
            ("steps", "at most 3 steps"),
            ("verify", "Is this answer correct"),
        ):
            if marker in text:
                return key
        raise AssertionError(text)

    async def complete(
        self, request: GenerationRequest, meter: TokenMeter | None = None
    ) -> GenerationResult:
        kind = self.kind(request)
        self.calls.append(kind)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        if meter is not None:
            meter.generated += self.streamed_first
        try:
            await asyncio.sleep(self.delays.get(kind, 0.01))
        except asyncio.CancelledError:
            self.cancelled.append(kind)
            raise
        finally:
            self.concurrent -= 1
        text = self.answers[kind]
        if meter is not None:
            meter.generated += len(text.split()) + 1 - self.streamed_first
        return GenerationResult(
            text=text,
            prompt_tokens=50,
            completion_tokens=len(text.split()) + 1,
            finish_reason=FinishReason.STOP,
            logprobs=tuple(TokenLogprob(w, -0.2) for w in text.split() or ["x"]),
        )


GOOD = {
    "direct": "7",
    "cot": "3 + 4 = 7. The answer is 7.",
    "pot": "3 + 4",
    "steps": "3 + 4 = 7\n",
    "verify": "yes",
}


def uniform_scorer(version: str = "test-1") -> PathScorer:
    n = len(FEATURE_NAMES)
    weights = [0.0] * n
    weights[FEATURE_NAMES.index("agreement")] = 2.0
    weights[FEATURE_NAMES.index("has_answer")] = 1.0
    return PathScorer(version, tuple(weights), 0.0, (0.0,) * n, (1.0,) * n, {})


def planner(decoder: ScriptedDecoder, **settings: object) -> ReasoningPlanner:
    config = PlannerConfig.model_validate(settings)
    return ReasoningPlanner(decoder, uniform_scorer, NoScoreCache(), config)


def collect(agen) -> list:  # type: ignore[no-untyped-def]
    async def run() -> list:
        return [event async for event in agen]

    return asyncio.run(run())


def test_extract_conditions() -> None:
    conditions = extract_conditions(
        "A shop sold 1,200 pens on Monday and 35.5 kg of rice. How many pens were sold?"
    )
    assert conditions.quantities == (1200.0, 35.5)
    assert conditions.question == "How many pens were sold?"


def test_plan_shares_the_extract_node_and_orders_dependencies() -> None:
    plan = build_plan(parse_strategies([]), max_branches=6)
    assert len(plan.branches) == 6
    assert [b.strategy for b in plan.branches[:4]] == [
        Strategy.POT,
        Strategy.COT,
        Strategy.DECOMPOSE,
        Strategy.DIRECT,
    ]
    assert plan.branches[4].temperature > 0 and plan.branches[0].temperature == 0
    order = [n.id for n in plan.topological_order()]
    assert order[0] == EXTRACT_NODE_ID
    for node in plan.nodes:
        for dep in node.deps:
            assert order.index(dep) < order.index(node.id)
    firsts = [plan.branch_nodes(b.id)[0] for b in plan.branches]
    assert all(n.deps == (EXTRACT_NODE_ID,) for n in firsts)
    pot = [n.kind for n in plan.branch_nodes(plan.branches[0].id)]
    assert pot == [NodeKind.METHOD, NodeKind.COMPUTE, NodeKind.VERIFY, NodeKind.ANSWER]


def test_unknown_strategy_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="strategies"):
        parse_strategies(["magic"])
    assert parse_strategies(["direct", "pot"]) == (Strategy.POT, Strategy.DIRECT)


def test_all_branches_answer_and_run_concurrently() -> None:
    decoder = ScriptedDecoder(GOOD)
    events = collect(planner(decoder, early_stop_agree=99).run(PROBLEM, ReasonBudget(), "r1"))
    assert isinstance(events[0], PlanBuilt)
    assert sum(isinstance(e, BranchStarted) for e in events) == 4
    assert isinstance(events[-1], Finished)
    result = events[-1].result
    assert result.numeric_answer == 7
    assert all(p.status is PathStatus.COMPLETED for p in result.paths)
    assert decoder.max_concurrent >= 4  # branches fanned out, not one after another
    assert result.decoder_calls == len(decoder.calls)
    assert any(isinstance(e, StepDone) for e in events)


def test_failed_branches_do_not_sink_the_request() -> None:
    answers = dict(GOOD, pot="__import__('os')", steps="1 / 0 = 1\n")
    result = asyncio.run(planner(ScriptedDecoder(answers)).reason(PROBLEM, ReasonBudget(), "r"))
    status = {p.spec.strategy: p.status for p in result.paths}
    assert status[Strategy.POT] is PathStatus.FAILED
    assert status[Strategy.DECOMPOSE] is PathStatus.FAILED
    assert result.numeric_answer == 7


def test_all_branches_failing_is_an_error() -> None:
    answers = {
        "direct": "",
        "cot": "no idea",
        "pot": "1 / 0",
        "steps": "1 / 0 = 0\n",
        "verify": "no",
    }
    with pytest.raises(Unavailable, match="no branch"):
        asyncio.run(planner(ScriptedDecoder(answers)).reason(PROBLEM, ReasonBudget(), "r"))


class RefusingDecoder(ScriptedDecoder):
    """Refuses every call the way the engine refuses a request (a caller error)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(GOOD)
        self.error = error

    async def complete(
        self, request: GenerationRequest, meter: TokenMeter | None = None
    ) -> GenerationResult:
        raise self.error


def test_a_request_the_decoder_refuses_fails_with_the_callers_error_not_unavailable() -> None:
    refusal = InvalidArgument("prompt", "is 5000 tokens; the context holds 4096")
    with pytest.raises(InvalidArgument, match="context holds 4096") as caught:
        asyncio.run(planner(RefusingDecoder(refusal)).reason(PROBLEM, ReasonBudget(), "r"))
    assert not isinstance(caught.value, Unavailable)
    with pytest.raises(Unavailable, match="no branch"):  # the server's trouble stays retryable
        asyncio.run(
            planner(RefusingDecoder(Unavailable("decoder engine unhealthy"))).reason(
                PROBLEM, ReasonBudget(), "r"
            )
        )


def test_a_budget_too_small_for_any_branch_is_resource_exhausted() -> None:
    with pytest.raises(ResourceExhausted, match=r"budget\.max_tokens"):
        asyncio.run(
            planner(ScriptedDecoder(GOOD)).reason(
                PROBLEM, ReasonBudget(max_tokens=16, strategies=(Strategy.COT,)), "r"
            )
        )


def test_early_stop_cancels_slow_branches() -> None:
    decoder = ScriptedDecoder(GOOD, delays={"cot": 5.0, "steps": 5.0})
    settings = {"early_stop_agree": 2, "early_stop_score": 0.5}
    events = collect(planner(decoder, **settings).run(PROBLEM, ReasonBudget(), "r"))
    pruned = [e for e in events if isinstance(e, BranchPruned)]
    assert {e.branch_id.split("-")[1] for e in pruned} == {"cot", "decompose"}
    assert set(decoder.cancelled) == {"cot", "steps"}  # in-flight calls were aborted
    result = events[-1].result
    assert sum(p.status is PathStatus.PRUNED for p in result.paths) == 2


def test_usage_counts_the_tokens_of_aborted_calls() -> None:
    decoder = ScriptedDecoder(GOOD, delays={"cot": 5.0, "steps": 5.0}, streamed_first=1)
    settings = {"early_stop_agree": 2, "early_stop_score": 0.5}
    result = asyncio.run(planner(decoder, **settings).reason(PROBLEM, ReasonBudget(), "r"))
    assert set(decoder.cancelled) == {"cot", "steps"}
    kept = sum(p.tokens for p in result.paths)
    assert result.kept_tokens == kept
    # the two aborted calls had streamed one token each before they were cancelled
    assert result.completion_tokens == kept + 2


def test_low_scores_are_pruned_while_running() -> None:
    n = len(FEATURE_NAMES)
    weights = [0.0] * n
    weights[FEATURE_NAMES.index("strategy_decompose")] = -10.0
    scorer = PathScorer("neg", tuple(weights), 0.0, (0.0,) * n, (1.0,) * n, {})
    decoder = ScriptedDecoder(GOOD, delays={"verify": 0.3})
    planner_ = ReasoningPlanner(
        decoder,
        lambda: scorer,
        NoScoreCache(),
        PlannerConfig(prune_below=0.1, early_stop_agree=99),
    )
    result = asyncio.run(planner_.reason(PROBLEM, ReasonBudget(), "r"))
    decompose = next(p for p in result.paths if p.spec.strategy is Strategy.DECOMPOSE)
    assert decompose.status is PathStatus.PRUNED
    assert "threshold" in decompose.note


def test_token_budget_limits_branches() -> None:
    decoder = ScriptedDecoder(GOOD)
    budget = ReasonBudget(max_tokens=200)  # cot needs 160 reserved, pot 40 ...
    result = asyncio.run(planner(decoder).reason(PROBLEM, budget, "r"))
    assert any("budget" in p.note for p in result.paths if p.status is PathStatus.FAILED)


@pytest.mark.parametrize("selection", ["best", "vote"])
def test_selection_prefers_agreeing_answers(selection: str) -> None:
    answers = dict(GOOD, direct="9")
    result = asyncio.run(
        planner(ScriptedDecoder(answers), selection=selection, early_stop_agree=99).reason(
            PROBLEM, ReasonBudget(), "r"
        )
    )
    assert result.numeric_answer == 7


class FlakyCache:
    def __init__(self) -> None:
        self.store: dict[str, float] = {}
        self.down = False

    async def get_many(self, keys: list[str]) -> list[float | None]:
        if self.down:
            raise CacheUnavailable
        return [self.store.get(k) for k in keys]

    async def put_many(self, values: dict[str, float]) -> None:
        if self.down:
            raise CacheUnavailable
        self.store.update(values)


def test_cache_hits_on_repeat_and_keys_carry_the_version() -> None:
    cache = FlakyCache()
    run = lambda scorer: asyncio.run(  # noqa: E731
        ReasoningPlanner(
            ScriptedDecoder(GOOD), scorer, cache, PlannerConfig(early_stop_agree=99)
        ).reason(PROBLEM, ReasonBudget(), "r")
    )
    first = run(lambda: uniform_scorer("v1"))
    # Unchanged paths are rescored after every step: within one request they already hit.
    assert first.cache.misses > 0
    second = run(lambda: uniform_scorer("v1"))
    assert second.cache.misses == 0
    assert second.cache.hits == first.cache.hits + first.cache.misses
    assert all(":v1:" in k for k in cache.store)
    third = run(lambda: uniform_scorer("v2"))
    assert third.cache.misses == first.cache.misses
    assert any(":v2:" in k for k in cache.store)
    cache.down = True
    fourth = run(lambda: uniform_scorer("v1"))
    assert fourth.numeric_answer == 7 and fourth.cache.bypassed > 0


def test_fit_scorer_separates_labels_and_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [[float(i % 2)] + [0.0] * (len(FEATURE_NAMES) - 1) for i in range(40)]
    labels = [i % 2 for i in range(40)]
    scorer = fit_scorer(rows, labels, version="t")
    low, high = scorer.score_many([rows[0], rows[1]])
    assert high > 0.8 and low < 0.2
    scorer.save(tmp_path / "s.json")
    loaded = load_scorer(tmp_path / "s.json")
    assert loaded == scorer


def test_default_scorer_file_loads() -> None:
    scorer = load_scorer()
    assert scorer.version
    assert len(scorer.weights) == len(FEATURE_NAMES)
    assert "held_out_dev" in scorer.metrics  # measured on paths it was not fitted on


def test_path_features_reflect_the_path() -> None:
    from ponder.reasoning.paths import PathState, path_features
    from ponder.reasoning.plan import BranchSpec

    conditions = extract_conditions(PROBLEM)
    pot = PathState(BranchSpec("b0-pot", Strategy.POT, 0.0, 0))
    pot.steps.append(
        StepRecord(
            "b0-pot.method",
            NodeKind.METHOD,
            "3 + 4",
            tokens=3,
            mean_logprob=-0.5,
            min_logprob=-1.5,
            detail={"quantities_used": 1.0},
        )
    )
    pot.answer = 7.0
    direct = PathState(BranchSpec("b3-direct", Strategy.DIRECT, 0.0, 3), answer=7.0)
    wrong = PathState(BranchSpec("b1-cot", Strategy.COT, 0.0, 1), answer=3.0)
    row = dict(
        zip(FEATURE_NAMES, path_features(pot, [pot, direct, wrong], conditions, 60), strict=True)
    )
    assert row["strategy_pot"] == 1.0 and row["strategy_cot"] == 0.0
    assert row["progress"] == pytest.approx(0.25)
    assert (row["mean_logprob"], row["min_logprob"]) == (-0.5, -1.5)
    assert row["quantities_used"] == 1.0
    assert row["verify_p_yes"] == 0.5  # not verified yet
    assert row["agreement"] == pytest.approx(0.5)  # agrees with direct, not with cot
    assert row["answer_is_given_quantity"] == 0.0  # 7 is not one of 3, 4
    assert row["has_answer"] == 1.0 and row["answer_is_integer"] == 1.0


def test_cached_part_of_the_score_ignores_other_branches() -> None:
    scorer = load_scorer()
    row = [0.5] * len(FEATURE_NAMES)
    agreeing = list(row)
    agreeing[FEATURE_NAMES.index("agreement")] = 1.0
    assert scorer.own_logits([row]) == scorer.own_logits([agreeing])
    assert scorer.context_logits([row]) != scorer.context_logits([agreeing])
    full = scorer.score_many([agreeing])[0]
    x = [(v - m) / s for v, m, s in zip(agreeing, scorer.mean, scorer.std, strict=True)]
    logit = sum(w * v for w, v in zip(scorer.weights, x, strict=True)) + scorer.bias
    assert full == pytest.approx(1 / (1 + math.exp(-logit)))
