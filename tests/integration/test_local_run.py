"""Training without Ray (`python -m ponder.training.local_run`, what a bare GPU box runs)
and packaging its checkpoint here (`ponder train student --from-checkpoint`): the real
teacher and student on the CPU, two steps, then a rerun that resumes instead of training
again, then the committed parts built from that checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from ponder import env
from ponder.student_build import StudentManifest, check_inputs
from tests.integration.support import TINY_STUDENT_CONFIG

pytestmark = pytest.mark.integration


WITHOUT_RAY = (
    "import sys; sys.modules['ray'] = None; "  # any `import ray` now fails
    "from ponder.training.local_run import main; sys.exit(main())"
)


def _run(*args: str, state: Path) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **os.environ,
            "PONDER_STATE_DIR": str(state),
            "PONDER_MODEL_DIR": str(env.default_model_dir()),
        },
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return log


def test_train_without_ray_resume_and_package(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_STUDENT_CONFIG.read_text() + "max_steps: 2\n")
    run = tmp_path / "run"
    first = _run("-c", WITHOUT_RAY, "student", "--config", str(config),
                 "--out", str(run), state=tmp_path / "state")  # fmt: skip
    assert "training on cpu" in first and "step 2/2" in first
    final = run / "checkpoint-000002"
    facts = json.loads((final / "facts.json").read_text())
    assert facts["steps"] == 2 and facts["runner"] == "in-process, cpu"
    assert facts["command"].startswith("python -m ponder.training.local_run student --config")
    assert [c["step"] for c in facts["loss_curve"]] == [2]

    again = _run("-m", "ponder.training.local_run", "student", "--config", str(config),
                 "--out", str(run), state=tmp_path / "state")  # fmt: skip
    assert f"resuming from {final}" in again and "step 1/2" not in again

    log = _run("-m", "ponder.cli", "train", "student", "--config", str(config),
               "--from-checkpoint", str(final), "--out", str(tmp_path / "out"),
               state=tmp_path / "state")  # fmt: skip
    assert "Ray Train" not in log
    (parts,) = list((tmp_path / "out").iterdir())
    manifest = StudentManifest.read(parts)
    check_inputs(parts, manifest)
    assert manifest.layers == (0, 10, 19, 29)
    delta = load_file(str(parts / "delta" / "adapter_model.safetensors"))
    trained = load_file(str(final / "adapter" / "adapter_model.safetensors"))
    assert delta.keys() == trained.keys()
    assert all(delta[k].equal(trained[k]) for k in delta)
    metrics = json.loads((parts / "metrics.json").read_text())
    assert metrics["command"].startswith("ponder train student")
    assert metrics["training"]["command"] == facts["command"]
    assert (tmp_path / "state" / "models" / parts.name / "config.json").is_file()


def test_from_checkpoint_refuses_a_folder_without_a_delta(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "train", "student",
         "--config", str(TINY_STUDENT_CONFIG), "--from-checkpoint", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"--from-checkpoint: no adapter/adapter_model.safetensors in {tmp_path}" in done.stderr
