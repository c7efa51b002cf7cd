"""`ponder train rl`: reinforcement learning with verifiable rewards on the student.

Each round samples a group of programs per training problem on vLLM from the current
policy (the planner's own pot prompt and constraint), rewards them by execution, and
takes one policy-gradient pass over the student's delta on Ray Train (`--local`: in this
process, the one-process path for a lent GPU box). The result is packaged as a new
student (`ponder/students/<prefix>-<hash>/`: the delta and its manifest, the full model
derived at setup) and measured on the dev split like every student.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ponder import env
from ponder.cli.common import DEFAULT_SERVE_CONFIG, say
from ponder.reasoning.problems import Problem, load_problems
from ponder.training.settings import RLTrainingConfig, load_training_config

DEFAULT_RL_CONFIG = env.REPO_ROOT / "config" / "train-rl.yaml"


def draw_problems(settings: RLTrainingConfig, round_index: int) -> list[Problem]:
    """Train-split problems and perturbed variants of train-split problems, a new seeded
    draw each round."""
    from ponder.reasoning.robustness import perturb_problems, read_rows

    mawps = env.data_dir() / "mawps_asdiv_train.jsonl"
    rng = random.Random(f"{settings.seed}/{round_index}")
    train = load_problems(mawps, "train")
    rng.shuffle(train)
    variants = perturb_problems(read_rows(mawps), seed=settings.seed, split="train")
    perturbed = [Problem(v.question, v.answer, f"train-{v.kind}") for v in variants]
    rng.shuffle(perturbed)
    return train[: settings.problems] + perturbed[: settings.perturbed]


async def sample_round(
    settings: RLTrainingConfig, model_dir: Path, problems: list[Problem], serve_config: Path
) -> list[Any]:
    from deployments.serve_config import load_serve_config
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.reasoning.local_decoder import EngineDecoder
    from ponder.reasoning.plan import Strategy
    from ponder.reasoning.requests import ReasonBudget
    from ponder.reasoning.verifier import sample_paths

    app = load_serve_config(serve_config).apps["ponder"]
    engine_config = app.student.engine.model_copy(
        update={"model": str(model_dir), "enable_prompt_embeds": False}
    )
    planner = app.planner.model_copy(update={"sample_temperatures": (settings.sample_temperature,)})
    budget = ReasonBudget(
        max_branches=settings.group_size, max_tokens=4096, strategies=(Strategy.POT,)
    )
    engine = await VLLMEngine.start(engine_config)
    try:
        decoder = EngineDecoder(engine)
        return await sample_paths(decoder, problems, planner, budget, settings.concurrency, say)
    finally:
        engine.shutdown()


def run_round(config: dict[str, Any], say_progress: Any) -> None:
    """One round's update: rebuild the policy from the student's parts and train it on the
    round's rollouts; `say_progress(progress)` hears each progress report."""
    import torch

    from ponder.training.loop import Progress, TokenisedExample, WorkerPlace
    from ponder.training.rl import train_rl, trainable_student

    settings = RLTrainingConfig.model_validate(config["settings"])
    if not settings.use_gpu:
        torch.set_num_threads(settings.torch_threads or max(1, int(settings.cpus_per_worker)))
    teacher = config["teacher_adapter_dir"]
    policy = trainable_student(
        Path(config["model_dir"]),
        Path(teacher) if teacher else None,
        config["layers"],
        Path(config["delta_dir"]),
    )

    def report(progress: Progress, folder: Path | None) -> None:
        say_progress(progress)

    examples = [TokenisedExample(**e) for e in config["examples"]]
    place = WorkerPlace(device="cuda" if settings.use_gpu else "cpu")
    train_rl(settings, examples, policy, Path(config["work_dir"]), report, place)


def _worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: the round, its progress reported to Ray Train."""
    import ray.train

    def report(progress: Any) -> None:
        line = f"[rl] step {progress.step}/{progress.total_steps} loss {progress.loss:.4f}"
        print(line, flush=True)
        ray.train.report(asdict(progress))

    run_round(config, report)


def train_round(config: dict[str, Any], settings: RLTrainingConfig, local: bool) -> None:
    """The update of one round, on Ray Train or (local) in this process."""
    if local:
        run_round(config, lambda p: say(f"step {p.step}/{p.total_steps} loss {p.loss:.4f}"))
        return
    from deployments.training_jobs import start_training_ray

    ray = start_training_ray(settings.cpus_per_worker)
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    try:
        TorchTrainer(
            train_loop_per_worker=_worker,
            train_loop_config=config,
            scaling_config=ScalingConfig(
                num_workers=1,
                use_gpu=settings.use_gpu,
                resources_per_worker={"CPU": settings.cpus_per_worker},
            ),
            run_config=RunConfig(
                name=Path(config["work_dir"]).name,
                storage_path=str(Path(config["work_dir"]).parent / "ray"),
            ),
        ).fit()
    finally:
        ray.shutdown()


def _final_delta(work_dir: Path) -> Path:
    checkpoints = sorted(work_dir.glob("checkpoint-*/adapter"))
    if not checkpoints:
        raise RuntimeError(f"the round left no trained delta under {work_dir}")
    return checkpoints[-1]


def cmd_train_rl(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from ponder.reasoning.verifier import load_samples, save_samples
    from ponder.student_build import StudentManifest, build_student, package_student
    from ponder.training.rl import rollouts_from_samples, tokenise_rollouts

    settings = load_training_config(RLTrainingConfig, Path(args.config))
    if args.max_steps is not None:
        settings = settings.model_copy(update={"max_steps": args.max_steps})
    start = env.PACKAGE_DIR / "students" / settings.student
    manifest = StudentManifest.read(start)
    teacher_dir = (
        env.PACKAGE_DIR / "adapters" / manifest.teacher_adapter
        if manifest.teacher_adapter
        else None
    )
    run_dir = Path(args.work or tempfile.mkdtemp(prefix="ponder-rl-")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    folder, delta = start, start / "delta"
    rounds: list[dict[str, Any]] = []
    started = time.monotonic()
    for index in range(settings.rounds):
        model_dir = build_student(folder)
        round_dir = run_dir / f"round-{index + 1}"
        if index == 0 and args.from_samples:
            records = load_samples(Path(args.from_samples))
            say(f"round 1: {len(records)} problems' groups from {args.from_samples}")
        else:
            problems = draw_problems(settings, index)
            say(f"round {index + 1}: {settings.group_size} programs for each of {len(problems)}")
            records = asyncio.run(
                sample_round(settings, model_dir, problems, Path(args.serve_config))
            )
        save_samples(records, round_dir / "samples.jsonl")
        rollouts = rollouts_from_samples(records)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        examples = tokenise_rollouts(rollouts, tokenizer, settings.max_seq_tokens)
        rounds.append(_round_facts(records, rollouts, len(examples), settings))
        say(f"round {index + 1}: {json.dumps(rounds[-1])}")
        config = {
            "settings": settings.model_dump(mode="json"),
            "examples": [asdict(e) for e in examples],
            "model_dir": str(env.default_model_dir()),
            "teacher_adapter_dir": str(teacher_dir or ""),
            "layers": list(manifest.layers),
            "delta_dir": str(delta),
            "work_dir": str(round_dir / "train"),
        }
        train_round(config, settings, args.local)
        delta = _final_delta(round_dir / "train")
        _, folder = package_student(
            delta, settings.name_prefix, manifest.teacher_adapter, manifest.layers, round_dir
        )
    name, out = package_student(
        delta, settings.name_prefix, manifest.teacher_adapter, manifest.layers, Path(args.out)
    )
    model_dir = build_student(out)
    metrics = {
        "name": name,
        "command": _command(args),
        "started_from": settings.student,
        "teacher": f"SmolLM2-135M-Instruct + {manifest.teacher_adapter or 'no adapter'}",
        "layers_kept": list(manifest.layers),
        "settings": settings.model_dump(mode="json"),
        "rl_rounds": rounds,
        "seconds": round(time.monotonic() - started, 1),
    }
    metrics |= _dev_metrics(model_dir, name, settings, Path(args.serve_config))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    say(f"student {name} in {out}; metrics in {out / 'metrics.json'}")
    if not args.work:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def _round_facts(
    records: list[Any], rollouts: list[Any], examples: int, settings: RLTrainingConfig
) -> dict[str, Any]:
    """What one round sampled and trained on (metrics.json's `rl_rounds`)."""
    rewards = [p.correct for r in records for p in r.paths]
    return {
        "problems": len(records),
        "programs": len(rewards),
        "reward_mean": sum(rewards) / max(1, len(rewards)),
        "groups_with_signal": len({r.question for r in rollouts}),
        "rollouts": examples,
        "rollouts_trained": min(examples, (settings.max_steps or 10**9) * settings.batch_size),
    }


def _command(args: argparse.Namespace) -> str:
    """The command line that made the result, with paths relative to the repository."""

    def short(path: str) -> str:
        resolved = Path(path).resolve()
        root = env.REPO_ROOT.resolve()
        return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else path

    words = ["ponder train rl", "--config", short(args.config)]
    if args.from_samples:
        words += ["--from-samples", short(args.from_samples)]
    if args.max_steps is not None:
        words += ["--max-steps", str(args.max_steps)]
    return " ".join(words + (["--local"] if args.local else []))


def _dev_metrics(
    model_dir: Path, name: str, settings: RLTrainingConfig, serve_config: Path
) -> dict[str, Any]:
    from deployments.serve_config import load_serve_config
    from ponder.evaluation.strategy_accuracy import evaluate_model

    if not settings.dev_limit:
        return {}
    engine = load_serve_config(serve_config).apps["ponder"].decoder.engine
    engine = engine.model_copy(
        update={"model": str(model_dir), "lora_adapters": {}, "enable_prompt_embeds": False}
    )
    dev = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", settings.dev_limit)
    per_strategy = {"student": asyncio.run(evaluate_model(engine, dev, 16, say, name))}
    return {
        "dev_split": {
            "data": f"mawps_asdiv_train.jsonl dev split ({len(dev)} problems; never trained on)",
            "greedy_single_branch_per_strategy": per_strategy,
        }
    }


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "rl", help="RL with verifiable rewards on the student (group sampling, Ray Train)"
    )
    parser.add_argument("--config", default=str(DEFAULT_RL_CONFIG), help="RLTrainingConfig YAML")
    parser.add_argument("--serve-config", default=str(DEFAULT_SERVE_CONFIG), dest="serve_config")
    parser.add_argument("--max-steps", type=int, default=None, dest="max_steps")
    parser.add_argument("--local", action="store_true", help="train in this process (no Ray)")
    parser.add_argument(
        "--from-samples",
        default="",
        dest="from_samples",
        help="round 1 trains on these groups (sampled from the starting student by `ponder "
        "train verifier`, train split and its variants only) instead of sampling again",
    )
    parser.add_argument(
        "--work", default="", help="keep the run's samples and checkpoints here (else a temp dir)"
    )
    parser.add_argument("--out", default=str(env.PACKAGE_DIR / "students"))
    parser.set_defaults(func=cmd_train_rl)
