"""One real platform for the integration tier: Ray + Serve + vLLM on the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient
from tests.integration.support import (
    TINY_STUDENT_CONFIG,
    TrainedAdapter,
    TrainedStudent,
    run_job,
    running_platform,
    serve_config_for_tests,
    train_adapter,
)


@pytest.fixture(scope="session")
def trained_adapter(tmp_path_factory: pytest.TempPathFactory) -> TrainedAdapter:
    """Two steps through Ray Train, then the same command with one more step: it resumes
    from the first run's checkpoint and packages the adapter."""
    root = tmp_path_factory.mktemp("adapter")
    storage = root / "ray-train"
    first = train_adapter(root / "first", storage, max_steps=2)
    resumed = train_adapter(root / "out", storage, max_steps=3)
    (folder,) = [p for p in (root / "out").iterdir() if p.is_dir()]
    return TrainedAdapter(folder.name, folder, first, resumed)


@pytest.fixture(scope="session")
def trained_student(tmp_path_factory: pytest.TempPathFactory) -> TrainedStudent:
    """Two steps of distillation through Ray Train; the job derives the full student into
    its own state dir (the base model is the converted one)."""
    from ponder import env

    root = tmp_path_factory.mktemp("student")
    state = root / "state"
    log = run_job(
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
    data = serve_config_for_tests(traces_dir, adapters, trained_student, tokens)
    with running_platform(data, tmp_path_factory, "platform") as local:
        yield local


@pytest.fixture()
def client(platform: LocalPlatform) -> Iterator[PonderClient]:
    with platform.client() as c:
        yield c
