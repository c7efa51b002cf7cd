"""What one branch does at each node: prompts, decoder calls, parsing and evaluation.

Every branch's prompt starts with the same system message and problem text, so vLLM's
prefix cache computes that shared prefix once for all branches.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from ponder.config import StepTokensConfig
from ponder.errors import InvalidArgument, NotFound, PonderError, ResourceExhausted
from ponder.generation import (
    GenerationRequest,
    GenerationResult,
    SamplingOptions,
    StructuredOutput,
    TokenMeter,
    TopLogprob,
)
from ponder.reasoning.arithmetic import UnsafeExpression, evaluate
from ponder.reasoning.formats import (
    COT_INSTRUCTION,
    DIRECT_INSTRUCTION,
    NUMBER_REGEX,
    VERIFY_CHOICES,
    expression_instruction,
    expression_regex,
    problem_messages,
    steps_instruction,
    steps_regex,
    verify_instruction,
)
from ponder.reasoning.plan import (
    STRATEGY_NODES,
    BranchSpec,
    Conditions,
    NodeKind,
    Strategy,
    format_number,
    parse_number,
)

_ANSWER_IS = re.compile(r"answer is[:\s]*\$?\s*(-?[\d,]*\.?\d+)", re.IGNORECASE)
_ANY_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


class PlannerDecoder(Protocol):
    """The planner's view of the decoder replica set."""

    async def complete(
        self, request: GenerationRequest, meter: TokenMeter | None = None
    ) -> GenerationResult:
        """The whole answer; `meter` counts tokens as they are generated."""
        ...


@dataclass
class StepRecord:
    """The outcome of one node of one branch."""

    node_id: str
    kind: NodeKind
    output: str
    tokens: int = 0
    prompt_tokens: int = 0
    mean_logprob: float = 0.0
    min_logprob: float = 0.0
    value: float | None = None
    detail: dict[str, float] = field(default_factory=dict)
    first_token_top: tuple[TopLogprob, ...] = ()


class BranchFailed(PonderError):
    """A branch cannot go on (evaluator refused, nothing parseable, decoder error).

    caller_error: set when the caller's request is the reason (a prompt the context cannot
    hold, a token budget too small), so a request whose every branch failed that way is
    answered with that error's code, not UNAVAILABLE (which clients retry)."""

    def __init__(self, message: str, caller_error: PonderError | None = None) -> None:
        super().__init__(message)
        self.caller_error = caller_error


def _stats(result: GenerationResult) -> tuple[float, float]:
    values = [lp.logprob for lp in result.logprobs if math.isfinite(lp.logprob)]
    if not values:
        return 0.0, 0.0
    return sum(values) / len(values), max(min(values), -20.0)


class BranchRunner:
    """Runs one branch node by node, yielding a StepRecord after each."""

    def __init__(
        self,
        decoder: PlannerDecoder,
        problem: str,
        conditions: Conditions,
        spec: BranchSpec,
        request_id: str,
        adapter: str | None,
        budget: StepTokensConfig,
        tokens_left: list[int],
        meter: TokenMeter | None = None,
        model: str = "",
        decoder_verify: bool = True,
    ) -> None:
        self._decoder = decoder
        # False: the verify node makes no call; the planner's learned verifier scores the
        # executed program when this step arrives (PlannerConfig.verify_step).
        self._decoder_verify = decoder_verify
        self._problem = problem
        self._conditions = conditions
        self._spec = spec
        self._request_id = request_id
        self._adapter = adapter
        self._model = model  # decoder set ("" = the main one)
        self._budget = budget
        self._tokens_left = tokens_left  # shared by all branches of a request
        self._meter = meter  # every generated token of the request, aborted calls included
        self._calls = 0

    async def _call(
        self,
        node_id: str,
        kind: NodeKind,
        instruction: str,
        max_tokens: int,
        structured: StructuredOutput | None = None,
        logprobs: int = 1,
        follow_up: tuple[str, str] | None = None,
    ) -> StepRecord:
        if self._tokens_left[0] < max_tokens:
            raise BranchFailed(
                "token budget exhausted",
                ResourceExhausted(
                    "budget.max_tokens: spent before a branch could answer; raise it or ask "
                    "for fewer branches"
                ),
            )
        self._tokens_left[0] -= max_tokens  # reserve; the unused part is returned below
        self._calls += 1
        request = GenerationRequest(
            request_id=f"{self._request_id}-{self._spec.id}-{self._calls}",
            messages=problem_messages(self._problem, instruction, follow_up),
            sampling=SamplingOptions(
                temperature=self._spec.temperature,
                seed=self._spec.seed if self._spec.temperature > 0 else None,
                max_tokens=max_tokens,
                logprobs=logprobs,
                structured=structured,
            ),
            adapter=self._adapter,
            model=self._model,
            affinity_key=self._request_id,  # every branch of the request: one replica
        )
        try:
            result = await self._decoder.complete(request, self._meter)
        except PonderError as error:
            self._tokens_left[0] += max_tokens
            caused = error if isinstance(error, InvalidArgument | NotFound) else None
            raise BranchFailed(f"decoder: {error.message}", caused) from error
        self._tokens_left[0] += max_tokens - result.completion_tokens
        mean, low = _stats(result)
        return StepRecord(
            node_id=node_id,
            kind=kind,
            output=result.text,
            tokens=result.completion_tokens,
            prompt_tokens=result.prompt_tokens,
            mean_logprob=mean,
            min_logprob=low,
            first_token_top=result.logprobs[0].top if result.logprobs else (),
        )

    def _node_id(self, kind: NodeKind) -> str:
        return f"{self._spec.id}.{kind.value}"

    async def run(self) -> AsyncIterator[StepRecord]:
        strategy = self._spec.strategy
        if strategy is Strategy.DIRECT:
            async for step in self._direct():
                yield step
        elif strategy is Strategy.COT:
            async for step in self._cot():
                yield step
        else:
            async for step in self._program(strategy):
                yield step

    async def _direct(self) -> AsyncIterator[StepRecord]:
        step = await self._call(
            self._node_id(NodeKind.ANSWER),
            NodeKind.ANSWER,
            DIRECT_INSTRUCTION,
            self._budget.direct,
            StructuredOutput(regex=NUMBER_REGEX),
        )
        step.value = parse_number(step.output.strip())
        if step.value is None:
            raise BranchFailed("no number in the answer")
        yield step

    async def _cot(self) -> AsyncIterator[StepRecord]:
        instruction = COT_INSTRUCTION
        reasoning = await self._call(
            self._node_id(NodeKind.COMPUTE),
            NodeKind.COMPUTE,
            instruction,
            self._budget.cot,
        )
        reasoning.value = parse_final_number(reasoning.output)
        yield reasoning
        answer = await self._call(
            self._node_id(NodeKind.ANSWER),
            NodeKind.ANSWER,
            instruction,
            self._budget.direct,
            StructuredOutput(regex=NUMBER_REGEX),
            follow_up=(reasoning.output, DIRECT_INSTRUCTION),
        )
        answer.value = parse_number(answer.output.strip())
        if answer.value is None:
            raise BranchFailed("no number in the answer")
        answer.detail["matches_reasoning"] = float(
            reasoning.value is not None and abs(reasoning.value - answer.value) < 1e-6
        )
        yield answer

    async def _program(self, strategy: Strategy) -> AsyncIterator[StepRecord]:
        quantities = self._conditions.quantities
        if strategy is Strategy.POT:
            method = await self._call(
                self._node_id(NodeKind.METHOD),
                NodeKind.METHOD,
                expression_instruction(quantities),
                self._budget.expression,
                StructuredOutput(regex=expression_regex(self._conditions)),
            )
            expressions = [method.output.strip()]
        else:
            method = await self._call(
                self._node_id(NodeKind.METHOD),
                NodeKind.METHOD,
                steps_instruction(quantities),
                self._budget.steps,
                StructuredOutput(regex=steps_regex(self._conditions)),
            )
            expressions = [line for line in method.output.splitlines() if line.strip()]
        method.detail["quantities_used"] = quantities_used(method.output, self._conditions)
        yield method

        compute = StepRecord(
            node_id=self._node_id(NodeKind.COMPUTE), kind=NodeKind.COMPUTE, output=""
        )
        consistent = 0
        value = math.nan
        for line in expressions:
            expression, _, claimed = line.partition("=")
            try:
                value = evaluate(expression)
            except UnsafeExpression as error:
                raise BranchFailed(error.message) from error
            claimed_value = parse_number(claimed.strip()) if claimed else None
            if claimed_value is None or abs(claimed_value - value) <= 1e-6 * max(1, abs(value)):
                consistent += 1
        compute.value = value
        compute.output = format_number(value)
        compute.detail["steps_consistent"] = consistent / len(expressions)
        yield compute

        if self._decoder_verify:
            verify = await self._call(
                self._node_id(NodeKind.VERIFY),
                NodeKind.VERIFY,
                verify_instruction(value),
                self._budget.verify,
                StructuredOutput(choice=VERIFY_CHOICES),
                logprobs=5,
            )
            verify.detail["p_yes"] = verify_probability(verify)
        else:
            verify = StepRecord(
                node_id=self._node_id(NodeKind.VERIFY), kind=NodeKind.VERIFY, output="verifier"
            )
        yield verify
        yield StepRecord(
            node_id=self._node_id(NodeKind.ANSWER),
            kind=NodeKind.ANSWER,
            output=format_number(value),
            value=value,
        )


def parse_final_number(text: str) -> float | None:
    """The number after 'the answer is', else the last number in the text."""
    match = _ANSWER_IS.search(text)
    if match:
        return parse_number(match.group(1))
    numbers = _ANY_NUMBER.findall(text)
    return parse_number(numbers[-1]) if numbers else None


def quantities_used(expression: str, conditions: Conditions) -> float:
    """Fraction of the problem's quantities that the expression uses."""
    if not conditions.quantities:
        return 0.0
    used = {parse_number(n) for n in _ANY_NUMBER.findall(expression.split("=")[0])}
    hits = sum(1 for q in conditions.quantities if q in used)
    return hits / len(conditions.quantities)


def verify_probability(step: StepRecord) -> float:
    """P(yes | yes or no) from the verify call's first-token log-probabilities.

    Falls back to the constrained choice itself when neither appears in the top tokens.
    """
    yes = no = 0.0
    for candidate in step.first_token_top:
        word = candidate.token.strip().lower()
        if word == "yes":
            yes += math.exp(candidate.logprob)
        elif word == "no":
            no += math.exp(candidate.logprob)
    if yes + no > 0:
        return yes / (yes + no)
    return 1.0 if step.output.strip().lower().startswith("yes") else 0.0


def total_steps(strategy: Strategy) -> int:
    return len(STRATEGY_NODES[strategy])
