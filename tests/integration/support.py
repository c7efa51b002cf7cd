"""Shared helpers of the integration tier: paths, the test Serve config, training jobs and
what they produced. (Fixtures live in conftest.py; test modules import from here.)"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from ray import serve

from ponder.learning.ranker_examples import RankerExample
from ponder.reasoning.answer_features import SampledProgram
from ponder.reasoning.ranker_fit import RankingExample
from ponder.redis_server import free_port

if TYPE_CHECKING:
    import pytest

    from deployments.runner import LocalPlatform
    from ponder.engine.protocol import EngineFactory

SERVE_LOCAL = Path(__file__).parents[2] / "config" / "serve-local.yaml"
PACKAGE_STUDENTS = Path(__file__).parents[2] / "platform" / "ponder" / "students"
TINY_ADAPTER_CONFIG = Path(__file__).parent / "tiny-adapter.yaml"
TINY_STUDENT_CONFIG = Path(__file__).parent / "tiny-student.yaml"
TEST_MAX_MODEL_LEN = 2048


@dataclass(frozen=True)
class TrainedAdapter:
    """An adapter a few steps of `ponder train adapter` produced during this session."""

    name: str
    path: Path
    first_run_log: str
    resumed_run_log: str


@dataclass(frozen=True)
class TrainedStudent:
    """A student a few steps of `ponder train student` produced during this session."""

    name: str
    parts: Path  # the committed parts (student.json, delta/, metrics.json)
    model_dir: Path  # the full model the job derived from them
    log: str


def run_job(job: str, config: Path, out: Path, storage: Path, max_steps: int, **env: str) -> str:
    command = [
        sys.executable, "-m", "ponder.cli", "train", job,
        "--config", str(config), "--max-steps", str(max_steps),
        "--run-name", f"integration-{job}", "--storage-dir", str(storage), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, **env},
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return log


def train_adapter(out: Path, storage: Path, max_steps: int) -> str:
    return run_job("adapter", TINY_ADAPTER_CONFIG, out, storage, max_steps)


def planner_adapter_for_tests() -> str:
    """The adapter Reason runs on in the test platform: the committed student's teacher."""
    args = yaml.safe_load(SERVE_LOCAL.read_text())["applications"][0]["args"]
    manifest = PACKAGE_STUDENTS / args["student"]["name"] / "student.json"
    return str(json.loads(manifest.read_text())["teacher_adapter"])


QUEUE_WAIT_TOKENS_PER_S = 20_000


def serve_config_for_tests(
    traces: Path | None = None,
    adapters: dict[str, Path] | None = None,
    student: TrainedStudent | None = None,
    token_file: Path | None = None,
) -> dict:
    """The local Serve config, with quicker-starting engines and free ports; spans go to
    JSON-lines files under `traces` when given; `adapters` are served beside the
    configured ones; `student` replaces the configured student (without one, no student
    replicas start); API tokens come from `token_file` when given (else the state dir's),
    re-read every 0.5 s."""
    data = copy.deepcopy(yaml.safe_load(SERVE_LOCAL.read_text()))
    data["http_options"]["port"] = free_port()
    args = data["applications"][0]["args"]
    engine = args["decoder"]["engine"]
    for name, path in (adapters or {}).items():
        engine.setdefault("lora_adapters", {})[name] = str(path)
    # Reason runs on the committed student's teacher here, whatever the shipped default:
    # the test student is a two-step toy that cannot reason (tests that want Reason on a
    # student name it per request).
    args["planner"].update(model="", adapter=planner_adapter_for_tests())
    if student is not None:
        section = args.setdefault("student", {})
        section.update(enabled=True, name=student.name)
        section.setdefault("engine", {})["model"] = str(student.model_dir)
        section["engine"]["refresh_adapters"] = True  # test_model_refresh hot-loads one
    elif "student" in args:
        args["student"]["enabled"] = False
    engines = [engine] + ([args["student"].setdefault("engine", {})] if "student" in args else [])
    for each in engines:
        each["enforce_eager"] = True  # ~30 s start instead of ~90 s
        each["max_model_len"] = TEST_MAX_MODEL_LEN
        each["max_prompt_tokens"] = TEST_MAX_MODEL_LEN - 64
    # Quick learning cycles: a candidate every 4 outcomes, every 2nd one held back. The gate
    # admits any candidate here (margin 1 nat): these tests check the promotion mechanics
    # (versions, hot reload, rollback), which must not hang on which few outcomes earlier
    # tests reported; the gate's own decisions are tested in test_learning_log and unit.
    data["applications"][0]["args"]["planner"]["learning"].update(
        gate_margin=1.0,
        batch_size=4,
        learning_rate=0.5,
        max_step=2.0,
        propose_every=4,
        min_outcomes=4,
        holdout_every=2,
        min_holdout_examples=1,
        reload_interval_s=0.5,
        poll_block_ms=200,
    )
    args["auth"] = {"reload_interval_s": 0.5}
    # Queue-wait admission with its rate pinned (a window no test outlasts keeps the
    # starting rate) and no bound of its own: a call is refused only when its caller's
    # deadline is far too short for the work in flight, which the tests arrange.
    args["ingress"]["queue_wait"] = {
        "max_wait_s": None,
        "min_tokens_per_s": QUEUE_WAIT_TOKENS_PER_S,
        "window_s": 1e6,
    }
    if token_file is not None:
        args["auth"]["token_file"] = str(token_file)
    data["applications"][0]["args"]["telemetry"] = {
        "tracing": {
            "exporter": "file" if traces else "off",
            "sampling_ratio": 1.0,
            "file_dir": str(traces or ""),
        },
        "metrics_export_port": 0,
    }
    return data


@contextlib.contextmanager
def running_platform(
    data: dict,
    tmp_path_factory: pytest.TempPathFactory,
    label: str,
    engine_factory: EngineFactory | None = None,
) -> Iterator[LocalPlatform]:
    """A tier's platform from a Serve config dict: validated, started on free ports with a
    Redis of its own, stopped at the end (`label` prefixes its progress lines)."""
    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config

    config = validate_serve_config(data, source=f"{label} config")
    local = LocalPlatform(
        config,
        grpc_port=free_port(),
        engine_factory=engine_factory,
        redis_data_dir=tmp_path_factory.mktemp("redis"),
    )
    try:
        local.start(progress=lambda message: print(f"[{label}] {message}", flush=True))
        yield local
    finally:
        local.stop()


def wait_until_engine_idle(timeout: float = 20.0) -> int:
    """Poll the decoder replica until it has no unfinished request; return the count."""
    decoder = serve.get_deployment_handle("Decoder", app_name="ponder")
    deadline = time.monotonic() + timeout
    while True:
        unfinished = decoder.stats.remote().result().unfinished_requests
        if unfinished == 0 or time.monotonic() > deadline:
            return int(unfinished)
        time.sleep(0.2)


# -- synthetic problems for the answer ranker's learning -----------------------------------

_APPLY = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}


def synthetic_problem(rng: random.Random) -> tuple[str, float, tuple[SampledProgram, ...]]:
    """A one-step problem with its right program and the two wrong operators sampled."""
    a, b = rng.randint(3, 40), rng.randint(2, 9)
    name = rng.choice(["Tom", "Sara", "Ali", "Mia", "Ken", "Lea"])
    kind = rng.randrange(3)
    if kind == 0:
        text, x, op = f"A box holds {a} pens. How many pens are in {b} boxes?", a, "*"
    elif kind == 1:
        x, op = a + b, "-"
        text = (
            f"{name} had {x} apples. {name} gave {b} apples away. "
            f"How many apples does {name} have now?"
        )
    else:
        text, x, op = f"{name} has {a} red balls and {b} blue balls. How many balls?", a, "+"
    sampled = []
    for other in _APPLY:
        for _ in range(rng.randint(1, 3)):
            value = float(_APPLY[other](x, b))
            sampled.append(SampledProgram(f"{x} {other} {b}", value, -0.3 * rng.random()))
    rng.shuffle(sampled)
    return text, float(_APPLY[op](x, b)), tuple(sampled)


def synthetic_rehearsal(seed: int, invert: bool = False, count: int = 60) -> list[RankingExample]:
    """Ranking examples of synthetic problems (`invert`: every label flipped)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text, answer, programs = synthetic_problem(rng)
        ranking = RankerExample(text, programs, answer).ranking(search=True)
        right = [not r for r in ranking.right] if invert else ranking.right
        out.append(RankingExample(ranking.rows, right))
    return out
