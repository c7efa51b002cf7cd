"""Train the domain adapter or the distilled student in this process, without Ray.

For one machine where Ray is not installed (a bare GPU box): the same examples, the same
loop (`ponder.training.loop`), the same checkpoints and the same result layout as the Ray
Train job in `deployments/training_jobs.py`, which calls `draw_examples` and
`training_facts` from here too. The final checkpoint folder holds the trained delta in
`adapter/` and the run's facts in `facts.json`; `ponder train student --from-checkpoint
DIR` (or `ponder train adapter --from-checkpoint DIR`) packages and measures it.

    python -m ponder.training.local_run student --config config/train-student-gpu.yaml \\
        --out /tmp/student-run            # a rerun with the same --out resumes
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ponder import env
from ponder.training.domain_data import (
    Example,
    TargetFormat,
    pool_summary,
    training_mix,
    training_pool,
)
from ponder.training.loop import Progress, WorkerPlace
from ponder.training.settings import (
    AdapterTrainingConfig,
    StudentTrainingConfig,
    TrainingJobConfig,
    load_training_config,
)

Say = Callable[[str], None]
FACTS_FILE = "facts.json"
ADAPTERS_DIR = env.PACKAGE_DIR / "adapters"


def draw_examples(
    settings: TrainingJobConfig, data_dir: Path
) -> tuple[list[Example], dict[str, int], dict[str, dict[str, int]]]:
    """The job's training examples (from the train split only), their count per target
    format, and a summary of the pool they were drawn from."""
    pool = training_pool(data_dir, settings.seed)
    mix = {TargetFormat(name): share for name, share in settings.mix.items()} or None
    examples = training_mix(pool, settings.examples, settings.seed, mix)
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.format.value] = counts.get(example.format.value, 0) + 1
    return examples, counts, pool_summary(pool)


def training_facts(
    run_name: str,
    examples: Sequence[Example],
    counts: dict[str, int],
    pool: dict[str, dict[str, int]],
    final_state: dict[str, Any],
    seconds: float,
    last: dict[str, Any] | None,
) -> dict[str, Any]:
    """What metrics.json records about a finished run (either runner); `last` is the last
    progress report as a dict."""
    curve = final_state["curve"]
    steps = int(final_state["step"])
    progress = last or {}
    return {
        "run_name": run_name,
        "examples_drawn": len(examples),
        "examples_by_format": counts,
        "pool": pool,
        "steps": steps,
        "wall_seconds_this_invocation": round(seconds, 1),
        "examples_per_second": progress.get("examples_per_s"),
        "final_loss_smoothed": progress.get("loss"),
        "loss_curve": [c for c in curve if c["step"] % 10 == 0 or c["step"] == steps],
    }


def progress_line(progress: Progress) -> str:
    return (
        f"[train] step {progress.step}/{progress.total_steps}  loss {progress.loss:.4f}  "
        f"{progress.examples_per_s:.2f} examples/s  lr {progress.learning_rate:.2e}  "
        f"ETA {progress.eta_s / 60:.1f} min"
    )


def teacher_adapter_dir(settings: TrainingJobConfig) -> Path | None:
    """The committed adapter merged into the student's teacher (None: the base model)."""
    if isinstance(settings, StudentTrainingConfig) and settings.teacher_adapter:
        folder = ADAPTERS_DIR / settings.teacher_adapter
        if not (folder / "adapter_config.json").is_file():
            raise FileNotFoundError(f"teacher_adapter: no adapter at {folder}")
        return folder
    return None


def latest_checkpoint(work_dir: Path) -> Path | None:
    found = sorted(work_dir.glob("checkpoint-*/trainer_state.pt"))
    return found[-1].parent if found else None


def train_here(
    settings: TrainingJobConfig,
    run_name: str,
    work_dir: Path,
    say: Say,
    model_dir: Path | None = None,
    data_dir: Path | None = None,
    command: str = "",
    given: list[Example] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train in this process (the GPU when `use_gpu`, else the CPU threads); checkpoints
    under work_dir, resuming from the latest there. Returns the final checkpoint folder
    (delta in `adapter/`, facts in `facts.json`) and the facts."""
    import torch
    from transformers import AutoTokenizer

    from ponder.training.distill import train_student
    from ponder.training.lora import tokenise, train_adapter

    if settings.num_workers != 1:
        raise ValueError("a run without Ray has one worker (num_workers: 1)")
    if settings.use_gpu and not torch.cuda.is_available():
        raise RuntimeError("use_gpu is set but torch sees no GPU")
    device = "cuda" if settings.use_gpu else "cpu"
    if settings.use_gpu:
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matrix products on the GPU
    elif settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    model_dir = model_dir or env.default_model_dir()
    if given is None:
        examples, counts, pool = draw_examples(settings, data_dir or env.data_dir())
        say(f"{len(examples)} training examples drawn ({json.dumps(counts)}) from the train split")
    else:  # a model refresh brings its own (verified paths of logged outcomes)
        examples, pool, counts = given, {}, {}
        for example in given:
            counts[example.source] = counts.get(example.source, 0) + 1
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenised = tokenise(examples, tokenizer, settings.max_seq_tokens)
    work_dir.mkdir(parents=True, exist_ok=True)
    resume_from = latest_checkpoint(work_dir)
    if resume_from is not None:
        say(f"resuming from {resume_from}")
    place = WorkerPlace(
        resume_from=resume_from,
        device=device,
        pad_id=int(tokenizer.pad_token_id or tokenizer.eos_token_id),
    )
    reports: list[Progress] = []

    def report(progress: Progress, folder: Path | None) -> None:
        reports.append(progress)
        say(progress_line(progress))

    say(f"training on {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'})")
    started = time.monotonic()
    if isinstance(settings, StudentTrainingConfig):
        train_student(
            settings, tokenised, model_dir, teacher_adapter_dir(settings), work_dir, report, place
        )
    else:
        assert isinstance(settings, AdapterTrainingConfig)
        train_adapter(settings, tokenised, model_dir, work_dir, report, place)
    seconds = time.monotonic() - started
    final = latest_checkpoint(work_dir)
    if final is None or not (final / "adapter").is_dir():
        raise RuntimeError(f"training ended without a final checkpoint under {work_dir}")
    state = torch.load(final / "trainer_state.pt", weights_only=True)
    facts = training_facts(
        run_name, examples, counts, pool, state, seconds, asdict(reports[-1]) if reports else None
    )
    facts["runner"] = f"in-process, {device}" + (
        f" ({torch.cuda.get_device_name()}, TF32 matrix products)" if device == "cuda" else ""
    )
    facts["torch"] = torch.__version__
    if command:
        facts["command"] = command
    (final / FACTS_FILE).write_text(json.dumps(facts, indent=2) + "\n")
    return final, facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ponder.training.local_run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("job", choices=("student", "adapter"))
    parser.add_argument("--config", type=Path, help="the job's YAML settings")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder (resumes)")
    parser.add_argument("--run-name", help="recorded in the facts (default: the out folder)")
    args = parser.parse_args(argv)
    kind: type[TrainingJobConfig] = (
        StudentTrainingConfig if args.job == "student" else AdapterTrainingConfig
    )
    settings = load_training_config(kind, args.config)

    def say(message: str) -> None:
        print(message, flush=True)

    command = "python -m ponder.training.local_run " + shlex.join(
        list(argv if argv is not None else sys.argv[1:])
    )
    final, facts = train_here(
        settings, args.run_name or args.out.name, args.out, say, command=command
    )
    seconds = facts["wall_seconds_this_invocation"]
    say(f"final checkpoint {final}: {facts['steps']} steps in {seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
