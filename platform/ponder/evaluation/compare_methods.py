"""`ponder eval`: compare answering methods through the gRPC API on the same problems.

Methods:
  greedy            one Generate, temperature 0, asked for only the number
  cot               one Generate, temperature 0, step by step, last number parsed
  self-consistency  k step-by-step samples (temperature 0.7), majority answer; k is set so
                    its token budget equals reason's (k = reason max_tokens // cot max_tokens)
  reason            the Reason RPC (planner, scorer, pruning)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc

from ponder.api.client import PonderClient, build_reason_request, build_request
from ponder.evaluation.admission_retry import call_retrying
from ponder.reasoning.formats import COT_INSTRUCTION, DIRECT_INSTRUCTION, problem_messages
from ponder.reasoning.plan import parse_number
from ponder.reasoning.problems import Problem, is_correct
from ponder.reasoning.steps import parse_final_number
from ponder.stats import wilson_interval

METHODS = ("greedy", "cot", "self-consistency", "reason")
COT_MAX_TOKENS = 256
DIRECT_MAX_TOKENS = 16


@dataclass
class MethodOutcome:
    """One method's answer to one problem."""

    correct: bool
    tokens: int
    seconds: float
    answer: float | None
    error: str = ""  # the status code when the call failed (counted as wrong)


@dataclass
class MethodReport:
    method: str
    problems: int
    accuracy: float
    correct: int
    ci95: tuple[float, float]
    tokens_per_problem: float
    seconds_per_problem: float
    errors: int = 0  # calls that failed (deadline, overload); counted as wrong answers


def _messages(problem: str, instruction: str) -> list[tuple[str, str]]:
    return [(m.role.value, m.content) for m in problem_messages(problem, instruction)]


class Evaluator:
    """Each method answers one problem; `adapter` and `model` apply to every method ('' means
    the main decoder's base model for Generate and the planner's defaults for Reason;
    adapter 'base' means none; model is a decoder set, e.g. the distilled student)."""

    def __init__(
        self,
        client: PonderClient,
        reason_max_tokens: int,
        branches: int | None,
        adapter: str = "",
        model: str = "",
    ) -> None:
        self._client = client
        self._reason_max_tokens = reason_max_tokens
        self._branches = branches
        self._adapter = adapter
        self._model = model
        self.sc_samples = max(1, reason_max_tokens // COT_MAX_TOKENS)

    def greedy(self, problem: Problem) -> tuple[float | None, int]:
        request = build_request(
            messages=_messages(problem.question, DIRECT_INSTRUCTION),
            temperature=0.0,
            max_tokens=DIRECT_MAX_TOKENS,
            adapter=self._adapter,
            model=self._model,
        )
        response, _ = call_retrying(lambda: self._client.generate(request, timeout=600))
        numbers = [parse_number(t) for t in response.text.replace("$", " ").split()]
        first = next((n for n in numbers if n is not None), None)
        return first, response.usage.completion_tokens

    def _cot(
        self, problem: Problem, temperature: float, seed: int | None
    ) -> tuple[float | None, int]:
        request = build_request(
            messages=_messages(problem.question, COT_INSTRUCTION),
            temperature=temperature,
            max_tokens=COT_MAX_TOKENS,
            seed=seed,
            adapter=self._adapter,
            model=self._model,
        )
        response, _ = call_retrying(lambda: self._client.generate(request, timeout=600))
        return parse_final_number(response.text), response.usage.completion_tokens

    def cot(self, problem: Problem) -> tuple[float | None, int]:
        return self._cot(problem, 0.0, None)

    def self_consistency(self, problem: Problem) -> tuple[float | None, int]:
        """k samples fanned out at once (as Reason fans out its branches), majority answer."""
        votes: Counter[float] = Counter()
        tokens = 0
        with ThreadPoolExecutor(max_workers=self.sc_samples) as pool:
            # Sample k is seeded k + 1, so a rerun draws the same samples (Reason's sampled
            # branches are seeded per branch too).
            samples = list(
                pool.map(lambda k: self._cot(problem, 0.7, k + 1), range(self.sc_samples))
            )
        for answer, used in samples:
            tokens += used
            if answer is not None:
                votes[round(answer, 4)] += 1
        return (votes.most_common(1)[0][0] if votes else None), tokens

    def reason(self, problem: Problem) -> tuple[float | None, int]:
        request = build_reason_request(
            problem.question,
            branches=self._branches,
            max_tokens=self._reason_max_tokens,
            adapter=self._adapter,
            model=self._model,
        )
        response, _ = call_retrying(lambda: self._client.reason(request, timeout=600))
        answer = response.numeric_answer if response.HasField("numeric_answer") else None
        return answer, response.usage.completion_tokens

    def method(self, name: str) -> Callable[[Problem], tuple[float | None, int]]:
        return {
            "greedy": self.greedy,
            "cot": self.cot,
            "self-consistency": self.self_consistency,
            "reason": self.reason,
        }[name]


def evaluate(
    client: PonderClient,
    problems: list[Problem],
    methods: list[str],
    concurrency: int,
    reason_max_tokens: int,
    branches: int | None,
    progress: Callable[[str], None] = print,
    adapter: str = "",
    model: str = "",
) -> dict[str, object]:
    evaluator = Evaluator(client, reason_max_tokens, branches, adapter, model)
    reports, details = [], {}
    for name in methods:
        run = evaluator.method(name)

        def one(
            problem: Problem, run: Callable[[Problem], tuple[float | None, int]] = run
        ) -> MethodOutcome:
            started = time.monotonic()
            try:
                answer, tokens = run(problem)
            except grpc.RpcError as error:
                # One slow or refused call must not sink a long run: it counts as a
                # wrong answer, and the report says how many there were.
                code = error.code().name
                return MethodOutcome(False, 0, time.monotonic() - started, None, code)
            return MethodOutcome(
                is_correct(answer, problem.answer), tokens, time.monotonic() - started, answer
            )

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            outcomes = list(pool.map(one, problems))
        wall = time.monotonic() - started
        n = max(1, len(outcomes))
        report = MethodReport(
            method=name,
            problems=len(outcomes),
            accuracy=sum(o.correct for o in outcomes) / n,
            correct=sum(o.correct for o in outcomes),
            ci95=wilson_interval(sum(o.correct for o in outcomes), len(outcomes)),
            tokens_per_problem=sum(o.tokens for o in outcomes) / n,
            seconds_per_problem=wall / n,
            errors=sum(bool(o.error) for o in outcomes),
        )
        progress(
            f"{name}: accuracy {report.accuracy:.3f}, {report.tokens_per_problem:.0f} "
            f"tokens/problem, {report.seconds_per_problem:.2f} s/problem, "
            f"{report.errors} failed calls"
        )
        reports.append(report)
        details[name] = [asdict(o) for o in outcomes]
    return {
        "adapter": adapter or "(defaults)",
        "model": model or "(defaults)",
        "self_consistency_samples": evaluator.sc_samples,
        "reason_max_tokens": reason_max_tokens,
        "reports": [asdict(r) for r in reports],
        "outcomes": details,
    }


def format_table(result: dict[str, object]) -> str:
    lines = [
        "| method | correct / problems | accuracy [95 % CI] | decoder tokens / problem "
        "| wall s / problem |",
        "|---|---|---|---|---|",
    ]
    for r in result["reports"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {r['method']} | {r['correct']}/{r['problems']} | {r['accuracy']:.3f} "
            f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] | "
            f"{r['tokens_per_problem']:.0f} | {r['seconds_per_problem']:.2f} |"
        )
    return "\n".join(lines)


def write_json(result: dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
