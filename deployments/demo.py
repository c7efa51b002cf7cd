"""The main command's demo (`ponder serve --demo`): what a newcomer sees once the platform
is up."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ponder.cli.common import say

if TYPE_CHECKING:
    from deployments.runner import LocalPlatform

DEMO_QUESTION = "What is the capital of France?"
DEMO_PROBLEM = (
    "Rachel bought 7 books for 4 dollars each. She also has 12 pencils. "
    "How much did she spend on books?"
)
DEMO_ANSWER = "28"


def run_demo(platform: LocalPlatform) -> None:
    """What Ponder is for, on the first screen: a Reason with its branches and chosen path,
    its outcome reported to the learning loop and the scorer's counts; then a Generate."""
    from ponder.api.client import build_reason_request, build_request
    from ponder.cli.rpc_commands import format_compact_tree, format_plan
    from ponder.reasoning.problems import is_correct

    with platform.client() as client:
        say(f"demo 1/2 Reason: {DEMO_PROBLEM}")
        started = time.monotonic()
        response = client.reason(build_reason_request(DEMO_PROBLEM), timeout=300)
        elapsed = time.monotonic() - started
        say(f"  plan: {format_plan(response)}")
        for line in format_compact_tree(response, elapsed).splitlines():
            say(f"  {line}")
        right = response.HasField("numeric_answer") and is_correct(
            response.numeric_answer, float(DEMO_ANSWER)
        )
        if response.outcome_reportable:
            report = client.report_outcome(
                response.reasoning_id, correct=right, correct_answer=DEMO_ANSWER
            )
            scorer = client.get_scorer()
            say(
                f"  ReportOutcome(correct={right}) -> scope {report.scope}, "
                f"{'duplicate' if report.duplicate else 'logged'}; GetScorer: active "
                f"{scorer.active.version}, {scorer.outcomes_reported} outcomes reported, "
                f"{scorer.outcomes_applied} applied, {scorer.outcomes_pending} pending"
            )
        else:
            say("  outcome learning is off in this config: no outcome to report")
        request = build_request(messages=[("user", DEMO_QUESTION)], max_tokens=64)
        answer = client.generate(request, timeout=120)
    say(f"demo 2/2 Generate: {DEMO_QUESTION} -> {answer.text.strip()}")
