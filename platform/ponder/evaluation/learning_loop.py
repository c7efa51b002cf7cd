"""`ponder eval --learn-stream N`: the online-learning loop, simulated through the gRPC API.

A stream of unseen problems (`ponder.learning.stream_split`) goes through Reason; each
answer's outcome is reported with ReportOutcome (right or wrong against the data's
answer, the right answer, and the problem's story as its group, so the learner's gates
hold back whole stories). At each checkpoint (e.g. after 250, 500 and 1000 outcomes)
the loop waits until the learner has applied every outcome and every due ranker refit has
run, then measures `reason` on the held-out problems (never reported) with whatever
versions are active by then, paired with the first pass on the same problems. At the
checkpoints named for it, a model refresh (`ponder train refresh`, given as a callable)
runs next; when its gate promotes it, the loop waits until Reason's branches run on it and
measures once more, so each refresh has its own row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc

from ponder.api.client import PonderClient, build_reason_request
from ponder.evaluation.admission_retry import call_retrying
from ponder.learning.paired_gate import sign_test_p
from ponder.reasoning.plan import format_number
from ponder.reasoning.problems import Problem, is_correct
from ponder.stats import wilson_interval
from ponder.v1 import ponder_pb2 as pb

Progress = Callable[[str], None]


def reason_retrying(
    client: PonderClient, request: pb.ReasonRequest, request_id: str = ""
) -> tuple[pb.ReasonResponse, int]:
    """Reason, retrying what admission control turned away (admission_retry); the
    response and how many retries it took."""
    return call_retrying(lambda: client.reason(request, timeout=600, request_id=request_id))


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


def wait_for_ranker(client: PonderClient, propose_every: int, timeout_s: float) -> float:
    """Block until every due ranker refit of the caller's scope has run; seconds waited."""
    started = time.monotonic()
    while True:
        response = client.get_scorer_response()
        if not response.HasField("ranker"):
            return time.monotonic() - started
        ranker = response.ranker
        if ranker.train_examples - ranker.fitted_on < propose_every:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("the ranker refit is still due")
        time.sleep(1.0)


def _snapshot(client: PonderClient) -> dict[str, Any]:
    response = client.get_scorer_response()
    info = response.scorer
    snapshot: dict[str, Any] = {
        "scope": info.scope,
        "active_version": info.active.version,
        "outcomes_reported": info.outcomes_reported,
        "outcomes_applied": info.outcomes_applied,
        "progressive_log_loss": info.progressive_log_loss,
    }
    if response.HasField("ranker"):
        ranker = response.ranker
        snapshot |= {
            "ranker_scope": ranker.scope,
            "ranker_version": ranker.active.version,
            "ranker_status": ranker.active.status,
            "ranker_train_examples": ranker.train_examples,
            "ranker_heldout_examples": ranker.heldout_examples,
        }
        if ranker.HasField("latest"):
            snapshot["ranker_latest"] = {
                "version": ranker.latest.version,
                "status": ranker.latest.status,
                "gate": ranker.latest.gate_reason,
            }
    if response.HasField("model"):
        snapshot["model_version"] = response.model.active.version
    return snapshot


def wait_for_model(client: PonderClient, version: str, timeout_s: float) -> float:
    """Block until Reason's branches run on model `version` (the planners' watchers have
    switched: three probes in a row name its adapter); seconds waited."""
    started = time.monotonic()
    in_a_row = 0
    while in_a_row < 3:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"Reason does not run on model {version} yet")
        probe = build_reason_request(
            "Tom has 2 apples and gets 3 more. How many?", branches=1, max_tokens=16
        )
        in_a_row = in_a_row + 1 if reason_retrying(client, probe)[0].adapter == version else 0
        if in_a_row == 0:
            time.sleep(1.0)
    return time.monotonic() - started


def held_out_pass(
    client: PonderClient,
    problems: list[Problem],
    concurrency: int,
    reason_max_tokens: int,
    branches: int,
) -> list[dict[str, Any]]:
    """Reason once on every held-out problem (never reported): per problem its reasoning
    id, whether it was right and the tokens it generated (a failed call: wrong, 0)."""

    def one(problem: Problem) -> dict[str, Any]:
        request = build_reason_request(
            problem.question, branches=branches, max_tokens=reason_max_tokens
        )
        try:
            response, retries = reason_retrying(client, request)
        except grpc.RpcError as error:
            return {"reasoning_id": "", "right": False, "tokens": 0, "error": error.code().name}
        answer = response.numeric_answer if response.HasField("numeric_answer") else None
        return {
            "reasoning_id": response.reasoning_id,
            "right": is_correct(answer, problem.answer),
            "tokens": response.usage.completion_tokens,
            "ranker_version": response.ranker_version,
            "error": "",
            "retries": retries,
        }

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, problems))


def paired_against(base: list[bool], now: list[bool]) -> dict[str, Any]:
    """Paired comparison of two passes over the same problems."""
    wins = sum(n and not b for b, n in zip(base, now, strict=True))
    losses = sum(b and not n for b, n in zip(base, now, strict=True))
    return {
        "wins": wins,
        "losses": losses,
        "net_points": 100 * (wins - losses) / max(1, len(base)),
        "sign_test_p": sign_test_p(wins, losses),
    }


@dataclass(frozen=True)
class LoopSettings:
    concurrency: int  # Reason calls at once
    reason_max_tokens: int
    branches: int
    run_id: str  # prefix of the stream's x-request-ids
    propose_every: int  # the server's ranker_propose_every
    refresh_at: tuple[int, ...] = ()  # checkpoints after which the model is refreshed


# Runs one model refresh of the caller's scope (train, gate, keep); its report
# ({"version", "status", "gate", ...}) or None when there were too few verified paths.
Refresh = Callable[[int], dict[str, Any] | None]


def measure(
    client: PonderClient,
    held_out: list[Problem],
    settings: LoopSettings,
    outcomes: int,
    progress: Progress,
) -> dict[str, Any]:
    """One held-out pass with the versions active now: its row of the loop's table."""
    snapshot = _snapshot(client)
    progress(
        f"  held-out pass with ranker {snapshot.get('ranker_version', '-')}, "
        f"scorer {snapshot['active_version']}"
    )
    passed = held_out_pass(
        client, held_out, settings.concurrency, settings.reason_max_tokens, settings.branches
    )
    right = [p["right"] for p in passed]
    k = sum(right)
    progress(f"  held-out {k}/{len(right)} right")
    return {
        "outcomes": outcomes,
        **snapshot,
        "held_out_right": k,
        "held_out_problems": len(right),
        "accuracy": k / max(1, len(right)),
        "ci95": wilson_interval(k, len(right)),
        "tokens_per_problem": sum(p["tokens"] for p in passed) / max(1, len(passed)),
        "failed_calls": sum(bool(p["error"]) for p in passed),
        "retried_calls": sum(p.get("retries", 0) > 0 for p in passed),
        "right": right,
        "reasoning_ids": [p["reasoning_id"] for p in passed],
    }


def reason_and_report(
    client: PonderClient,
    problem: Problem,
    index: int,
    settings: LoopSettings,
    progress: Progress,
    group: str = "",
) -> tuple[bool, float]:
    """Reason, then report the outcome (naming the problem's `group` when known);
    (right, report time), or (False, nan) when the Reason call failed and (right, nan)
    when its answer was not logged (nothing to report either way; counted, never
    silently dropped)."""
    request = build_reason_request(
        problem.question, branches=settings.branches, max_tokens=settings.reason_max_tokens
    )
    try:
        response, _ = reason_retrying(client, request, f"{settings.run_id}-{index}")
    except grpc.RpcError as error:
        progress(f"  stream problem {index}: Reason failed ({error.code().name}); skipped")
        return False, math.nan
    answer = response.numeric_answer if response.HasField("numeric_answer") else None
    right = is_correct(answer, problem.answer)
    if not response.outcome_reportable:  # not logged (e.g. the tenant's record quota)
        progress(f"  stream problem {index}: answered but not reportable; skipped")
        return right, math.nan
    reported = time.time()
    client.report_outcome(
        response.reasoning_id,
        correct=right,
        correct_answer=format_number(problem.answer),
        problem_group=group,
    )
    return right, reported


def learning_loop(
    client: PonderClient,
    stream: list[Problem],
    held_out: list[Problem],
    checkpoints: list[int],
    settings: LoopSettings,
    progress: Progress = print,
    refresh: Refresh | None = None,
    group_of: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Held-out passes before and after each checkpoint's stream outcomes are reported.
    `group_of` maps a stream problem's question to its group (the story it varies), sent
    with its outcome so that the learner's gate holds back whole stories."""
    groups = group_of or {}
    progress("checkpoint 0: held-out accuracy with the packaged scorer and ranker")
    rows: list[dict[str, Any]] = [measure(client, held_out, settings, 0, progress)]
    refreshes: list[dict[str, Any]] = []
    done = 0
    for checkpoint in checkpoints:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
            results = list(
                pool.map(
                    lambda i: reason_and_report(
                        client, stream[i], i, settings, progress, groups.get(stream[i].question, "")
                    ),
                    range(done, checkpoint),
                )
            )
        stream_s = time.monotonic() - started
        waited = wait_until_applied(client, timeout_s=300)
        refit_wait = wait_for_ranker(client, settings.propose_every, timeout_s=900)
        failed = sum(math.isnan(at) for _, at in results)
        stream_accuracy = sum(r for r, _ in results) / max(1, len(results))
        progress(
            f"checkpoint {checkpoint}: {checkpoint - done - failed} outcomes reported in "
            f"{stream_s:.0f} s, {failed} not reported (failed or not logged; stream accuracy "
            f"{stream_accuracy:.3f}); learner caught up {waited:.1f} s after the last "
            f"report, ranker refits {refit_wait:.0f} s"
        )
        done = checkpoint
        row = measure(client, held_out, settings, checkpoint, progress) | {
            "stream_accuracy": stream_accuracy,
            "stream_seconds": stream_s,
            "stream_failed_calls": failed,
            "catch_up_seconds": waited,
            "refit_wait_seconds": refit_wait,
        }
        row["paired_vs_start"] = paired_against(rows[0]["right"], row["right"])
        row["paired_vs_previous"] = paired_against(rows[-1]["right"], row["right"])
        rows.append(row)
        if refresh is not None and checkpoint in settings.refresh_at:
            report, refreshed = _refresh_and_measure(
                client, held_out, settings, checkpoint, refresh, progress
            )
            refreshes.append({"outcomes": checkpoint, **report})
            if refreshed is not None:
                refreshed["paired_vs_start"] = paired_against(rows[0]["right"], refreshed["right"])
                refreshed["paired_vs_previous"] = paired_against(row["right"], refreshed["right"])
                rows.append(refreshed)
    return {
        "run_id": settings.run_id,
        "held_out_problems": len(held_out),
        "checkpoints": rows,
        "refreshes": refreshes,
    }


def _refresh_and_measure(
    client: PonderClient,
    held_out: list[Problem],
    settings: LoopSettings,
    checkpoint: int,
    refresh: Refresh,
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Refresh the model: what the refresh did, and when its gate promoted it, a held-out
    pass with Reason's branches on it (its row of the table)."""
    started = time.monotonic()
    report = refresh(checkpoint)
    done: dict[str, Any] = {"seconds": time.monotonic() - started}
    if report is None:
        progress(f"checkpoint {checkpoint}: too few verified paths for a model refresh")
        return done | {"status": "not run"}, None
    done |= report
    progress(f"checkpoint {checkpoint}: refresh {report['version']} {report['status']}")
    if report["status"] != "promoted":
        return done, None
    done["switch_seconds"] = wait_for_model(client, report["version"], timeout_s=300)
    row = measure(client, held_out, settings, checkpoint, progress)
    return done, row | {"refresh": report["version"]}


def format_loop_table(result: dict[str, Any]) -> str:
    lines = [
        "| outcomes reported | answer ranker | held-out right | 95 % interval "
        "| paired vs start (won/lost, p) | stream accuracy | tokens / problem |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["checkpoints"]:
        low, high = row["ci95"]
        paired = row.get("paired_vs_start")
        versus = (
            "-"
            if paired is None
            else f"+{paired['wins']}/-{paired['losses']}, p={paired['sign_test_p']:.3f}"
        )
        stream = row.get("stream_accuracy")
        lines.append(
            f"| {row['outcomes']} | {row.get('ranker_version', '-')} | "
            f"{row['held_out_right']}/{row['held_out_problems']} | "
            f"[{100 * low:.1f}, {100 * high:.1f}] | {versus} | "
            f"{'-' if stream is None else f'{stream:.3f}'} | {row['tokens_per_problem']:.0f} |"
        )
    return "\n".join(lines)
