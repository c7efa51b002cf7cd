"""Online scorer learning through the real platform: Reason -> ReportOutcome over gRPC ->
outcome log in Redis -> Learner replica -> promoted version -> planners hot-reload it.
Test config (conftest): a candidate every 4 outcomes, every 2nd outcome held back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import grpc
import psutil
import pytest
import ray
import redis

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_reason_request
from ponder.config import RedisConfig
from ponder.learning.outcome_log import LEARNER_GROUP, Keys, OutcomeLog
from ponder.learning.records import ReasoningRecord, now_ms
from ponder.redis_client import connect

pytestmark = pytest.mark.integration

PROBLEM = "Sara has 12 apples. She buys 30 more apples. How many apples does Sara have now?"
TENANT_SCOPE = "tenant-local"  # the scope of the tenant of the platform's client token


def _reason(client: PonderClient, request_id: str = "") -> object:
    request = build_reason_request(PROBLEM, branches=2, strategies=["pot", "direct"])
    return client.reason(request, timeout=300, request_id=request_id)


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.25)


def _settled(client: PonderClient) -> bool:
    info = client.get_scorer()
    return info.outcomes_pending == 0 and info.outcomes_applied == info.outcomes_reported


def _answers(client: PonderClient, request_ids: list[str]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda rid: _reason(client, rid), request_ids))


def _report_correct_answers(client: PonderClient, count: int) -> None:
    """Ask `count` Reasons and report every answer correct."""
    for answer in _answers(client, [f"learn-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]):
        client.report_outcome(answer.reasoning_id, correct=True)


def test_reported_outcomes_promote_a_version_that_planners_reload(
    platform: LocalPlatform, client: PonderClient
) -> None:
    before = client.get_scorer()
    # The shipped per-tenant learning: the test client's tenant (`local`) trains its own
    # scope, read as the shared one until its first version exists.
    assert before.scope in ("shared", TENANT_SCOPE) and before.active.version
    request_ids = [f"learn-{uuid.uuid4().hex[:8]}-{i}" for i in range(12)]
    answers = _answers(client, request_ids)
    ids = [answer.reasoning_id for answer in answers]  # type: ignore[attr-defined]
    # The server picks reasoning ids (128 random bits); x-request-id only correlates.
    assert len(set(ids)) == 12 and not set(ids) & set(request_ids)
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in ids)
    for answer in answers:
        assert answer.outcome_reportable  # type: ignore[attr-defined]
        assert answer.scorer_version == before.active.version  # type: ignore[attr-defined]

    for rid in ids:
        ack = client.report_outcome(rid, correct=True)
        assert not ack.duplicate and ack.scope == TENANT_SCOPE
        assert ack.scorer_version == before.active.version
    # A retried report is acknowledged and applied once; a different one is refused.
    assert client.report_outcome(ids[0], correct=True).duplicate
    with pytest.raises(grpc.RpcError) as caught:
        client.report_outcome(ids[0], correct=False)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    _wait_for(lambda: _settled(client), 60, "the learner to apply every outcome")
    info = client.get_scorer()
    assert info.outcomes_reported == before.outcomes_reported + 12
    assert info.active.version != before.active.version, info
    assert info.active.status == "promoted" and info.active.parent
    assert info.active.heldout.examples > 0 and info.active.promoted_unix_ms > 0

    # Planners pick the new version up without a restart; its cache keys are new.
    new_version = info.active.version
    _wait_for(
        lambda: (
            _reason(client).scorer_version  # type: ignore[attr-defined]
            == new_version
        ),
        30,
        "planners to hot-reload the promoted scorer",
    )
    keys = redis.Redis.from_url(platform.redis_servers[0].url)
    try:
        assert next(keys.scan_iter(f"ponder:score:*:{new_version}:*"), None)
        assert next(keys.scan_iter(f"ponder:score:*:{before.active.version}:*"), None)
    finally:
        keys.close()


def _cli(*args: str, redis_url: str = "") -> str:
    environment = {**os.environ, "PONDER_REDIS_URL": redis_url} if redis_url else None
    result = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "scorer", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_history_and_rollback_reach_the_planners(
    platform: LocalPlatform, client: PonderClient
) -> None:
    store = platform.redis_servers[0].url  # through PONDER_REDIS_URL: it has a password
    url = ["--tenant", "local"]
    refused = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "scorer", "status", "--redis-url", store],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "PONDER_REDIS_URL" in refused.stderr
    active = client.get_scorer().active
    if not active.parent:  # nothing promoted yet (run on its own): promote a version
        _report_correct_answers(client, 12)
        _wait_for(lambda: _settled(client), 60, "the learner to apply every outcome")
        active = client.get_scorer().active
    assert active.parent, "12 correct outcomes promoted no version"
    history = _cli("history", *url, redis_url=store)
    assert "seed" in history and f"promoted  {active.version}" in history
    assert f"active    {active.version} [promoted]" in _cli("status", *url, redis_url=store)

    _cli("rollback", active.parent, *url, redis_url=store)
    assert client.get_scorer().active.version == active.parent
    _wait_for(
        lambda: (
            _reason(client).scorer_version  # type: ignore[attr-defined]
            == active.parent
        ),
        30,
        "planners to reload the rolled-back version",
    )
    assert "rollback" in _cli("history", *url, redis_url=store).splitlines()[-2]


def test_bad_reports_get_clear_errors(client: PonderClient) -> None:
    cases = [
        (lambda: client.report_outcome("no-such-reasoning", correct=True), "NOT_FOUND"),
        (lambda: client.report_outcome("x", reward=1.5), "INVALID_ARGUMENT"),
        (lambda: client.report_outcome("", correct=True), "INVALID_ARGUMENT"),
        (lambda: client.report_outcome("x"), "INVALID_ARGUMENT"),
        (lambda: client.report_outcome("x", correct=True, correct_answer="?"), "INVALID_ARGUMENT"),
    ]
    for call, code in cases:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code().name == code, caught.value.details()


def _learner_actors() -> list[str]:
    return [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "#Learner#" in a["name"]
    ]


def _learner_pid() -> int:
    """The operating-system process of the one Learner replica."""
    (pid,) = [
        process.pid
        for process in psutil.process_iter(["cmdline"])
        if any("ServeReplica:ponder:Learner" in part for part in process.info["cmdline"] or [])
    ]
    return int(pid)


def test_learner_killed_mid_stream_loses_and_doubles_nothing(
    platform: LocalPlatform, client: PonderClient
) -> None:
    template = _reason(client)
    url = platform.redis_servers[0].url
    record = None

    async def load_and_log(ids: list[str]) -> None:
        nonlocal record
        log = OutcomeLog(connect(RedisConfig(url=url)), retention_s=3600)
        record = await log.get_record(template.reasoning_id)  # type: ignore[attr-defined]
        for rid in ids:  # more answers like it, as if 40 callers had asked
            await log.record(replace(record, reasoning_id=rid, created_ms=now_ms()))

    ids = [f"crash-{uuid.uuid4().hex[:8]}-{i}" for i in range(40)]
    asyncio.run(load_and_log(ids))
    assert isinstance(record, ReasoningRecord) and record.paths
    before = client.get_scorer()
    (victim,) = _learner_actors()
    store = redis.Redis.from_url(url)
    stream = Keys().outcomes_stream

    def delivered_unacknowledged() -> int:
        return int(store.xpending(stream, LEARNER_GROUP)["pending"])

    def report(reporter: PonderClient, i: int) -> None:
        reporter.report_outcome(ids[i], correct=i % 3 == 0)

    # Reports arrive from 4 callers at once, faster than the learner applies them. The
    # learner is frozen (SIGSTOP) while it holds a delivered batch it has not acknowledged
    # — checked after the freeze, retried if it acknowledged in between — then its process
    # is killed (SIGKILL), so it can never acknowledge that batch.
    pid = _learner_pid()
    with platform.client() as reporter, ThreadPoolExecutor(max_workers=4) as pool:
        try:
            sent = [pool.submit(report, reporter, i) for i in range(len(ids))]
            deadline = time.monotonic() + 60
            left_pending = 0
            while left_pending == 0:
                assert time.monotonic() < deadline, "the learner never held a batch"
                if delivered_unacknowledged() == 0:
                    time.sleep(0.001)
                    continue
                os.kill(pid, signal.SIGSTOP)
                left_pending = delivered_unacknowledged()  # frozen: cannot acknowledge now
                if left_pending == 0:
                    os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)  # dies holding the batch (as in an OOM kill)
            for future in sent:
                future.result(timeout=120)
        finally:
            store.close()
    assert left_pending > 0, "killed between batches: nothing was in flight"
    # Serve replaces the replica; the new learner resumes from the consumer group.
    _wait_for(lambda: _learner_actors() not in ([], [victim]), 120, "Serve to start a new learner")
    _wait_for(lambda: _settled(client), 120, "the restarted learner to catch up")
    after = client.get_scorer()
    assert after.outcomes_reported == before.outcomes_reported + 40
    assert after.outcomes_applied == after.outcomes_reported  # nothing lost, nothing doubled


def test_logged_answers_and_labels_survive_a_redis_restart(
    platform: LocalPlatform, client: PonderClient
) -> None:
    answer = _reason(client)
    assert answer.outcome_reportable  # type: ignore[attr-defined]
    rid = answer.reasoning_id  # type: ignore[attr-defined]
    client.report_outcome(rid, reward=0.25, correct_answer="42")
    reported = client.get_scorer().outcomes_reported
    (server,) = platform.redis_servers
    server.stop()
    try:
        # Redis down: Reason still answers, scoring without the cache (and says so), but
        # its answer cannot be reported; a report is UNAVAILABLE, never a false ack.
        down = _reason(client)
        assert down.answer and down.cache_bypassed > 0  # type: ignore[attr-defined]
        assert not down.outcome_reportable  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as unavailable:
            client.report_outcome(rid, reward=0.5)
        assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.start()
    _wait_for(lambda: _settled(client), 60, "the learner to reconnect")
    info = client.get_scorer()
    assert info.outcomes_reported == reported
    again = client.report_outcome(rid, reward=0.25, correct_answer="42")
    assert again.duplicate  # the label is still there
    with pytest.raises(grpc.RpcError) as caught:
        client.report_outcome(rid, reward=1.0)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
