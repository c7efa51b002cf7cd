"""Training jobs on Ray Train: the domain LoRA adapter (`ponder train adapter`) and the
distilled student (`ponder train student`).

Thin glue over `ponder.training`: the driver draws the examples, a TorchTrainer runs
`ponder.training.lora.train_adapter` or `ponder.training.distill.train_student` in each
worker (CPU workers here; `use_gpu` and the worker count from the config on a GPU worker
group), checkpoints go to Ray Train's storage so a rerun with the same run name resumes,
and the driver packages the result (versioned `<prefix>-<hash>`) with its metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deployments.ray_options import use_ray_environment
from ponder import env
from ponder.generation import ChatMessage, Role
from ponder.security.local_credentials import private_run_dir
from ponder.training.domain_data import Example, TargetFormat
from ponder.training.local_run import (
    draw_examples,
    progress_line,
    teacher_adapter_dir,
    training_facts,
)
from ponder.training.settings import (
    AdapterTrainingConfig,
    StudentTrainingConfig,
    TrainingJobConfig,
)

Say = Callable[[str], None]


def _example_to_dict(example: Example) -> dict[str, Any]:
    return {
        "question": example.question,
        "format": example.format.value,
        "messages": [[m.role.value, m.content] for m in example.messages],
        "target": example.target,
        "source": example.source,
    }


def _example_from_dict(row: dict[str, Any]) -> Example:
    return Example(
        question=row["question"],
        format=TargetFormat(row["format"]),
        messages=tuple(ChatMessage(Role(r), c) for r, c in row["messages"]),
        target=row["target"],
        source=row["source"],
    )


def _worker_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: tokenise, resume if a checkpoint exists, train, report."""
    import ray.train
    import ray.train.torch
    import torch
    from transformers import AutoTokenizer

    from ponder.training.distill import train_student
    from ponder.training.loop import Progress, WorkerPlace
    from ponder.training.lora import tokenise, train_adapter

    settings: TrainingJobConfig
    if config["job"] == "student":
        settings = StudentTrainingConfig.model_validate(config["settings"])
    else:
        settings = AdapterTrainingConfig.model_validate(config["settings"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    if not settings.use_gpu:
        torch.set_num_threads(settings.torch_threads or max(1, int(settings.cpus_per_worker)))
    model_dir = Path(config["model_dir"])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    examples = tokenise(
        [_example_from_dict(r) for r in config["examples"]], tokenizer, settings.max_seq_tokens
    )
    work_dir = Path(tempfile.mkdtemp(prefix="ponder-adapter-"))
    resume_from = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        resume_from = Path(checkpoint.to_directory(str(work_dir / "resume")))
        if rank == 0:
            print(f"[train] resuming from {checkpoint.path}", flush=True)

    def report(progress: Progress, folder: Path | None) -> None:
        if rank == 0:
            print(progress_line(progress), flush=True)
        ray.train.report(
            asdict(progress),
            checkpoint=ray.train.Checkpoint.from_directory(str(folder)) if folder else None,
        )

    def wrap(module: Any) -> Any:
        return ray.train.torch.prepare_model(module) if world > 1 else module

    place = WorkerPlace(
        resume_from=resume_from,
        rank=rank,
        world_size=world,
        wrap_model=wrap,
        device=str(ray.train.torch.get_device()),
        pad_id=int(tokenizer.pad_token_id or tokenizer.eos_token_id),
    )
    try:
        if isinstance(settings, StudentTrainingConfig):
            teacher = config["teacher_adapter_dir"]
            train_student(
                settings,
                examples,
                model_dir,
                Path(teacher) if teacher else None,
                work_dir,
                report,
                place,
            )
        else:
            assert isinstance(settings, AdapterTrainingConfig)
            train_adapter(settings, examples, model_dir, work_dir, report, place)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def start_training_ray(cpus: float) -> Any:
    """A local Ray cluster for a Ray Train job (Train v2, the project's Ray environment, its
    temp dir, at least `cpus` CPUs); returns the `ray` module, to shut down when done."""
    os.environ["RAY_TRAIN_V2_ENABLED"] = "1"
    use_ray_environment()
    import ray

    temp_dir = private_run_dir(env.ray_temp_dir())
    ray.init(
        address="local",
        include_dashboard=False,
        namespace="ponder-train",
        _temp_dir=str(temp_dir),
        num_cpus=max(os.cpu_count() or 1, int(cpus)),
    )
    return ray


def run_training_job(
    settings: TrainingJobConfig,
    run_name: str,
    say: Say,
    storage_dir: Path | None = None,
    given: list[Example] | None = None,
    model_dir: Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train on Ray Train (the adapter or, for StudentTrainingConfig, the student);
    returns the final checkpoint folder (with the trained delta in `adapter/`) and the
    facts of the run (data counts, time, examples/s, loss curve). `given` examples replace
    the draw from the train split (a model refresh brings its own); `model_dir` replaces
    the base model (a refresh adapts the student)."""
    if given is None:
        examples, counts, pool = draw_examples(settings, env.data_dir())
        say(f"{len(examples)} training examples drawn ({json.dumps(counts)}) from the train split")
    else:
        examples, pool = given, {}
        counts = {}
        for example in given:
            counts[example.source] = counts.get(example.source, 0) + 1
        say(f"{len(examples)} training examples given ({json.dumps(counts)})")
    storage = storage_dir or env.state_dir() / "train"
    storage.mkdir(parents=True, exist_ok=True)
    ray = start_training_ray(settings.cpus_per_worker * settings.num_workers)
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    started = time.monotonic()
    try:
        trainer = TorchTrainer(
            train_loop_per_worker=_worker_loop,
            train_loop_config={
                "job": "student" if isinstance(settings, StudentTrainingConfig) else "adapter",
                "settings": settings.model_dump(mode="json"),
                "examples": [_example_to_dict(e) for e in examples],
                "model_dir": str(model_dir or env.default_model_dir()),
                "teacher_adapter_dir": str(teacher_adapter_dir(settings) or ""),
            },
            scaling_config=ScalingConfig(
                num_workers=settings.num_workers,
                use_gpu=settings.use_gpu,
                resources_per_worker={"CPU": settings.cpus_per_worker},
            ),
            run_config=RunConfig(
                name=run_name,
                storage_path=str(storage),
                checkpoint_config=CheckpointConfig(num_to_keep=2),
            ),
        )
        say(
            f"Ray Train: {settings.num_workers} worker(s), "
            f"{'GPU' if settings.use_gpu else f'{settings.cpus_per_worker:g} CPUs'} each; "
            f"run {run_name!r} under {storage} (rerun the same command to resume)"
        )
        result = trainer.fit()
    finally:
        ray.shutdown()
    seconds = time.monotonic() - started
    if result.checkpoint is None:
        raise RuntimeError("training ended without a checkpoint")
    final = Path(result.checkpoint.path)
    import torch

    state = torch.load(final / "trainer_state.pt", weights_only=True)
    facts = training_facts(run_name, examples, counts, pool, state, seconds, result.metrics)
    return final, facts


def adapter_version(folder: Path, prefix: str) -> str:
    """`<prefix>-<first 8 hex of the weights' sha256>`: a name that changes with the weights."""
    digest = hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()
    return f"{prefix}-{digest[:8]}"


def package_adapter(checkpoint: Path, prefix: str, out_root: Path) -> tuple[str, Path]:
    """Copy the checkpoint's adapter into out_root/<version>/."""
    source = checkpoint / "adapter"
    version = adapter_version(source, prefix)
    target = out_root / version
    target.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(source / name, target / name)
    return version, target
