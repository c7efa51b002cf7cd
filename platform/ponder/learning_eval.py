"""`ponder eval --learn-stream N`: the online-learning loop, simulated through the gRPC API.

A stream of training problems goes through Reason; each answer's outcome is reported
with ReportOutcome (right or wrong against the data's answer, and the right answer). At
each checkpoint (e.g. after 200, 500 and 1000 outcomes) the loop waits until the learner
has applied every outcome, then measures `reason` on held-out problems that are never
reported, with whatever scorer version is active by then.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from ponder.api.client import PonderClient, build_reason_request
from ponder.evaluation import evaluate
from ponder.reasoning.plan import format_number
from ponder.reasoning.problems import Problem, is_correct

Progress = Callable[[str], None]


def wait_until_applied(client: PonderClient, timeout_s: float) -> float:
    """Block until the learner has applied every reported outcome; seconds waited."""
    started = time.monotonic()
    while True:
        info = client.get_scorer()
        if info.outcomes_pending == 0 and info.outcomes_applied >= info.outcomes_reported:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"learner still has {info.outcomes_pending} outcomes pending")
        time.sleep(0.2)


def _scorer_snapshot(client: PonderClient) -> dict[str, Any]:
    info = client.get_scorer()
    snapshot: dict[str, Any] = {
        "active_version": info.active.version,
        "active_status": info.active.status,
        "outcomes_reported": info.outcomes_reported,
        "outcomes_applied": info.outcomes_applied,
        "progressive_log_loss": info.progressive_log_loss,
    }
    if info.HasField("active_heldout"):
        snapshot["active_heldout_log_loss"] = info.active_heldout.log_loss
        snapshot["active_heldout_examples"] = info.active_heldout.examples
    if info.HasField("candidate"):
        snapshot["candidate_version"] = info.candidate.version
        snapshot["candidate_status"] = info.candidate.status
        snapshot["candidate_heldout_log_loss"] = info.candidate.heldout.log_loss
    return snapshot


def learning_loop(
    client: PonderClient,
    stream: list[Problem],
    held_out: list[Problem],
    checkpoints: list[int],
    concurrency: int,
    reason_max_tokens: int,
    branches: int,
    run_id: str,
    progress: Progress = print,
) -> dict[str, Any]:
    def held_out_accuracy() -> dict[str, Any]:
        result = evaluate(
            client, held_out, ["reason"], concurrency, reason_max_tokens, branches, progress
        )
        report = result["reports"][0]  # type: ignore[index]
        return {"accuracy": report["accuracy"], "tokens_per_problem": report["tokens_per_problem"]}

    def reason_and_report(index: int) -> tuple[bool, float]:
        """Reason, then report the outcome; (right, report time), or (False, nan) when
        the Reason call failed (nothing to report; counted, never silently dropped)."""
        problem = stream[index]
        request = build_reason_request(
            problem.question, branches=branches, max_tokens=reason_max_tokens
        )
        try:
            response = client.reason(request, timeout=600, request_id=f"{run_id}-{index}")
        except grpc.RpcError as error:
            progress(f"  stream problem {index}: Reason failed ({error.code().name}); skipped")
            return False, math.nan
        answer = response.numeric_answer if response.HasField("numeric_answer") else None
        right = is_correct(answer, problem.answer)
        reported = time.time()
        client.report_outcome(
            response.reasoning_id, correct=right, correct_answer=format_number(problem.answer)
        )
        return right, reported

    rows: list[dict[str, Any]] = []
    progress("checkpoint 0: held-out accuracy of reason with the initial scorer")
    rows.append({"outcomes": 0, **_scorer_snapshot(client), **held_out_accuracy()})
    done = 0
    for checkpoint in checkpoints:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(reason_and_report, range(done, checkpoint)))
        stream_s = time.monotonic() - started
        waited = wait_until_applied(client, timeout_s=300)
        failed = sum(math.isnan(at) for _, at in results)
        progress(
            f"checkpoint {checkpoint}: {checkpoint - done - failed} outcomes reported in "
            f"{stream_s:.0f} s, {failed} Reason calls failed "
            f"(stream accuracy {sum(r for r, _ in results) / max(1, len(results)):.3f}); "
            f"learner caught up {waited:.1f} s after the last report"
        )
        done = checkpoint
        snapshot = _scorer_snapshot(client)
        progress(f"  active scorer {snapshot['active_version']}; measuring held-out accuracy")
        rows.append(
            {
                "outcomes": checkpoint,
                "stream_accuracy": sum(r for r, _ in results) / max(1, len(results)),
                "stream_seconds": stream_s,
                "stream_failed_calls": failed,
                "catch_up_seconds": waited,
                **snapshot,
                **held_out_accuracy(),
            }
        )
    return {"run_id": run_id, "held_out_problems": len(held_out), "checkpoints": rows}


def format_loop_table(result: dict[str, Any]) -> str:
    lines = [
        "| outcomes reported | active scorer | held-back log-loss (active) | stream accuracy "
        "| held-out accuracy of reason | tokens / problem |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["checkpoints"]:
        heldout = row.get("active_heldout_log_loss")
        lines.append(
            f"| {row['outcomes']} | {row['active_version']} | "
            f"{'-' if heldout is None else f'{heldout:.4f}'} | "
            f"{row.get('stream_accuracy', float('nan')):.3f} | {row['accuracy']:.3f} | "
            f"{row['tokens_per_problem']:.0f} |"
        )
    return "\n".join(lines)
