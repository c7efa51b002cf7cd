"""Outcome-driven refresh of the served model (issue 27, item 4).

Against a real redis-server (no Ray): the model registry keeps every proposed version and
its adapter files, promotes only what the gate promoted, refuses a proposal judged against
a version that is no longer active, rolls back; a decoder replica writes a kept adapter to
its cache once; the planners' watcher follows the active version.

Through the real platform (Ray Serve, vLLM, Redis): `ponder train refresh` trains a LoRA
on the student from the verified paths of logged outcomes, runs both versions through
Reason on the held-back problems and keeps the candidate with the gate's decision; made
active (`ponder scorer rollback --model`), the student's replicas load it without a restart
and Reason's branches on the student run on it; GetScorer and ListModels show it; a
rollback to the base model takes it out again.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_reason_request
from ponder.config import RedisConfig
from ponder.errors import InvalidArgument, NotFound
from ponder.learning.model_registry import (
    ADAPTER_FILES,
    BASE_VERSION,
    ModelRegistry,
    ModelVersion,
    RefreshAdapters,
    refresh_name,
)
from ponder.learning.outcome_log import Keys
from ponder.learning.paired_gate import PairedDecision
from ponder.learning.ranker_examples import RankerExample
from ponder.learning.records import SHARED_SCOPE, now_ms
from ponder.learning.watcher import ModelWatcher
from ponder.reasoning.answer_features import SampledProgram
from ponder.redis_client import connect
from ponder.redis_server import LocalRedis
from ponder.v1 import ponder_pb2 as pb
from tests.integration.support import TrainedStudent, serve_config_for_tests

pytestmark = pytest.mark.integration

TINY_REFRESH_CONFIG = Path(__file__).parent / "tiny-refresh.yaml"
STUDENT = "student-test"


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(data_dir=tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def _files(seed: int) -> dict[str, bytes]:
    return {
        "adapter_config.json": json.dumps({"r": 8, "seed": seed}).encode(),
        "adapter_model.safetensors": bytes([seed]) * 64,
    }


def _version(files: dict[str, bytes], status: str, parent: str = BASE_VERSION) -> ModelVersion:
    gate = PairedDecision.from_json(
        {
            "verdict": status,
            "problems": 50,
            "active_right": 30,
            "candidate_right": 33 if status == "promoted" else 29,
            "wins": 4 if status == "promoted" else 1,
            "losses": 1 if status == "promoted" else 2,
            "p_value": 0.19 if status == "promoted" else 0.88,
            "reason": "test",
        }
    )
    return ModelVersion(refresh_name(files), STUDENT, parent, now_ms(), status, gate=gate)


def test_the_registry_keeps_versions_and_adapters_and_rolls_back(
    redis: LocalRedis, tmp_path: Path
) -> None:
    async def scenario() -> None:
        client = connect(RedisConfig(url=redis.url))
        registry = ModelRegistry(client)
        try:
            assert await registry.seed_base(SHARED_SCOPE, STUDENT) == BASE_VERSION
            rejected, promoted = _files(1), _files(2)
            weak = _version(rejected, "rejected")
            assert await registry.propose(SHARED_SCOPE, weak, BASE_VERSION, rejected)
            assert await registry.active_version(SHARED_SCOPE) == BASE_VERSION  # kept, not used
            better = _version(promoted, "promoted")
            assert await registry.propose(SHARED_SCOPE, better, BASE_VERSION, promoted)
            assert await registry.active_version(SHARED_SCOPE) == better.name
            assert (await registry.active(SHARED_SCOPE)).promoted_ms > 0
            # judged against a version that is no longer active: nothing is written
            late = _version(_files(3), "promoted")
            assert not await registry.propose(SHARED_SCOPE, late, BASE_VERSION, _files(3))
            with pytest.raises(NotFound):
                await registry.adapter_files(late.name)
            assert await registry.adapter_files(weak.name) == rejected
            # an operator's rollback, to the base model and to a rejected version
            await registry.rollback(SHARED_SCOPE, BASE_VERSION)
            assert await registry.active_version(SHARED_SCOPE) == BASE_VERSION
            await registry.rollback(SHARED_SCOPE, weak.name)
            assert await registry.active_version(SHARED_SCOPE) == weak.name
            events = [e["event"] for e in await registry.history(SHARED_SCOPE)]
            assert events == ["seed", "rejected", "promoted", "rollback", "rollback"]
            with pytest.raises(NotFound):
                await registry.rollback(SHARED_SCOPE, "refresh-00000000")
            with pytest.raises(InvalidArgument):
                await registry.adapter_files("../../etc")

            # a decoder replica's cache: written once, in full
            adapters = RefreshAdapters(registry, tmp_path / "cache")
            folder = await adapters.folder(weak.name)
            assert {p.name for p in folder.iterdir()} == set(ADAPTER_FILES)
            assert (folder / "adapter_model.safetensors").read_bytes() == rejected[
                "adapter_model.safetensors"
            ]
            assert await adapters.folder(weak.name) == folder
            with pytest.raises(NotFound):
                await adapters.folder("math-50464f8b")  # not a refresh name: never fetched

            # the planners' watcher follows the active version
            watcher = ModelWatcher(registry, ModelVersion(BASE_VERSION, STUDENT, "", 0, "seed"))
            await watcher.refresh()
            assert watcher.current(SHARED_SCOPE).name == weak.name
            assert watcher.current("tenant-new").name == weak.name  # falls back to shared
            await registry.rollback(SHARED_SCOPE, BASE_VERSION)
            await watcher.refresh()
            assert watcher.current(SHARED_SCOPE).name == BASE_VERSION
        finally:
            await client.aclose()

    asyncio.run(scenario())


# -- through the platform ---------------------------------------------------------------

PROBLEMS = [
    (f"Tom has {a} apples and buys {b} more. How many apples does he have?", a, b)
    for a, b in ((3, 5), (4, 9), (7, 2), (6, 6), (8, 3), (2, 11), (5, 5), (9, 4))
]


def _logged(problem: str, a: int, b: int) -> RankerExample:
    """What the learner keeps of an answered problem with a reported outcome."""
    programs = (
        SampledProgram(f"{a} + {b}", float(a + b), -0.2, True),
        SampledProgram(f"{a} - {b}", float(a - b), -0.5, False),
    )
    return RankerExample(problem, programs, float(a + b))


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _cli(redis_url: str, *args: str) -> str:
    """A ponder command against the platform's Redis (its URL, with the password, in the
    environment: the CLI refuses a password on its command line)."""
    done = subprocess.run(
        [sys.executable, "-m", "ponder.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PONDER_REDIS_URL": redis_url},
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return done.stdout


def test_refresh_is_trained_gated_hot_loaded_and_rolled_back(
    platform: LocalPlatform,
    client: PonderClient,
    trained_student: TrainedStudent,
    tmp_path: Path,
) -> None:
    url = platform.redis_servers[0].url
    scope = client.get_scorer_response().scorer.scope
    tenant = scope.removeprefix("tenant-") if scope.startswith("tenant-") else ""

    async def log_outcomes() -> None:
        redis = connect(RedisConfig(url=url))
        try:
            keys = Keys()
            for index, (problem, a, b) in enumerate(PROBLEMS):
                key = keys.ranker_examples(scope, held_back=index % 2 == 1)
                await redis.rpush(key, _logged(problem, a, b).to_json())
        finally:
            await redis.aclose()

    asyncio.run(log_outcomes())
    serve_config = tmp_path / "serve.yaml"
    serve_config.write_text(yaml.safe_dump(serve_config_for_tests(None, None, trained_student)))
    out = _cli(
        url, "train", "refresh", "--local", "--config", str(TINY_REFRESH_CONFIG),
        "--serve-config", str(serve_config), "--tenant", tenant,
    )  # fmt: skip
    report = json.loads(out[out.rindex('{\n  "version"') :])  # vLLM prints before it
    version = report["version"]
    assert version.startswith("refresh-") and report["status"] in ("promoted", "rejected")
    assert report["gate"]["problems"] == 4  # the held-back half, never trained on

    def reason_adapter() -> str:
        request = build_reason_request(
            PROBLEMS[0][0], branches=1, max_tokens=64, model=trained_student.name
        )
        return client.reason(request, timeout=300).adapter

    # Made active, the student's replicas load it from Redis on first use (no restart).
    _cli(url, "scorer", "rollback", "--model", "--tenant", tenant, version)
    _wait_for(lambda: reason_adapter() == version, f"Reason's branches on {version}")
    model = client.get_scorer_response().model
    assert model.active.version == version and model.active.base_model == trained_student.name
    assert model.active.gate_problems == 4 and model.kept_versions == 2
    listed = {m.name: m for m in client.list_models()}
    assert listed[version].kind == pb.MODEL_KIND_REFRESH
    # A rollback to the base model takes it out of the branches again.
    _cli(url, "scorer", "rollback", "--model", "--tenant", tenant, BASE_VERSION)
    _wait_for(lambda: reason_adapter() == "base", "Reason back on the base student")
    assert version not in {m.name for m in client.list_models()}
