"""One real platform for the integration tier: Ray + Serve + vLLM on the real model."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deployments.runner import LocalPlatform
from deployments.serve_config import validate_serve_config
from ponder.api.client import PonderClient
from ponder.redis_server import free_port

SERVE_LOCAL = Path(__file__).parents[2] / "config" / "serve-local.yaml"
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


def _run_job(job: str, config: Path, out: Path, storage: Path, max_steps: int, **env: str) -> str:
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


def _train(out: Path, storage: Path, max_steps: int) -> str:
    return _run_job("adapter", TINY_ADAPTER_CONFIG, out, storage, max_steps)


@pytest.fixture(scope="session")
def trained_adapter(tmp_path_factory: pytest.TempPathFactory) -> TrainedAdapter:
    """Two steps through Ray Train, then the same command with one more step: it resumes
    from the first run's checkpoint and packages the adapter."""
    root = tmp_path_factory.mktemp("adapter")
    storage = root / "ray-train"
    first = _train(root / "first", storage, max_steps=2)
    resumed = _train(root / "out", storage, max_steps=3)
    (folder,) = [p for p in (root / "out").iterdir() if p.is_dir()]
    return TrainedAdapter(folder.name, folder, first, resumed)


@pytest.fixture(scope="session")
def trained_student(tmp_path_factory: pytest.TempPathFactory) -> TrainedStudent:
    """Two steps of distillation through Ray Train; the job derives the full student into
    its own state dir (the base model is the converted one)."""
    from ponder import env

    root = tmp_path_factory.mktemp("student")
    state = root / "state"
    log = _run_job(
        "student",
        TINY_STUDENT_CONFIG,
        root / "out",
        root / "ray-train",
        max_steps=2,
        PONDER_STATE_DIR=str(state),
        PONDER_MODEL_DIR=str(env.default_model_dir()),
    )
    (parts,) = [p for p in (root / "out").iterdir() if p.is_dir()]
    return TrainedStudent(parts.name, parts, state / "models" / parts.name, log)


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
    if student is not None:
        section = args.setdefault("student", {})
        section.update(enabled=True, name=student.name)
        section.setdefault("engine", {})["model"] = str(student.model_dir)
        if args.get("planner", {}).get("model") not in (None, "", "base"):
            args["planner"]["model"] = student.name
    elif "student" in args:
        args["student"]["enabled"] = False
        args["planner"]["model"] = ""
    engines = [engine] + ([args["student"].setdefault("engine", {})] if "student" in args else [])
    for each in engines:
        each["enforce_eager"] = True  # ~30 s start instead of ~90 s
        each["max_model_len"] = TEST_MAX_MODEL_LEN
        each["max_prompt_tokens"] = TEST_MAX_MODEL_LEN - 64
    # Quick learning cycles: a candidate every 4 outcomes, every 2nd one held back.
    data["applications"][0]["args"]["planner"]["learning"].update(
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


@pytest.fixture(scope="session")
def traces_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traces")


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    traces_dir: Path,
    trained_adapter: TrainedAdapter,
    trained_student: TrainedStudent,
) -> Iterator[LocalPlatform]:
    adapters = {trained_adapter.name: trained_adapter.path}
    tokens = tmp_path_factory.mktemp("auth") / "tokens.yaml"
    config = validate_serve_config(
        serve_config_for_tests(traces_dir, adapters, trained_student, tokens),
        source="test config",
    )
    local = LocalPlatform(
        config, grpc_port=free_port(), redis_data_dir=tmp_path_factory.mktemp("redis")
    )
    try:
        local.start(progress=lambda message: print(f"[platform] {message}", flush=True))
        yield local
    finally:
        local.stop()


@pytest.fixture()
def client(platform: LocalPlatform) -> Iterator[PonderClient]:
    with platform.client() as c:
        yield c
