"""The training loop the adapter and student jobs share: deterministic length-bucketed
batches, warm-up + linear decay, data parallelism over Ray Train workers (the caller
wraps the loss module), progress reports and resumable checkpoints."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

IGNORE = -100


@dataclass(frozen=True)
class TokenisedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt: the loss covers the reply and its end token
    advantage: float | None = None  # RL: the reply's weight in the policy gradient


def batch_order(
    examples: Sequence[TokenisedExample], batch_size: int, epochs: float, seed: int
) -> list[list[int]]:
    """Deterministic batches of similar length (little padding), in shuffled order.

    Resuming replays the same order and skips the batches already taken.
    """
    rng = random.Random(seed)
    batches: list[list[int]] = []
    full_epochs = math.ceil(epochs)
    for _ in range(full_epochs):
        indices = list(range(len(examples)))
        rng.shuffle(indices)
        window = batch_size * 32
        epoch: list[list[int]] = []
        for start in range(0, len(indices), window):
            chunk = sorted(
                indices[start : start + window], key=lambda i: len(examples[i].input_ids)
            )
            epoch.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
        rng.shuffle(epoch)
        batches.extend(epoch)
    wanted = math.ceil(len(examples) * epochs / batch_size)
    return batches[:wanted]


def collate(items: Sequence[TokenisedExample], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(item.input_ids) for item in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        mask[row, :n] = 1
    batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    if any(item.advantage is not None for item in items):
        batch["advantages"] = torch.tensor(
            [item.advantage or 0.0 for item in items], dtype=torch.float32
        )
    return batch


class LoopSettings(Protocol):
    """The settings `run_training` reads (both training configs have them)."""

    @property
    def seed(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def epochs(self) -> float: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def learning_rate(self) -> float: ...
    @property
    def warmup_steps(self) -> int: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def log_every(self) -> int: ...
    @property
    def checkpoint_every(self) -> int: ...


@dataclass
class Progress:
    """What one progress report carries."""

    step: int
    total_steps: int
    loss: float
    examples_per_s: float
    eta_s: float
    learning_rate: float


Report = Callable[[Progress, Path | None], None]


def _unwrapped(module: Any) -> Any:
    return module


@dataclass(frozen=True)
class WorkerPlace:
    """Where one copy of the loop runs: its rank among the data-parallel workers, its
    device, how to wrap the loss module (DDP under Ray Train), the pad token, and the
    checkpoint to resume from."""

    resume_from: Path | None = None
    rank: int = 0
    world_size: int = 1
    wrap_model: Callable[[Any], Any] = _unwrapped
    device: str = "cpu"
    pad_id: int = 2


def learning_rate(step: int, total: int, settings: LoopSettings) -> float:
    """Linear warm-up to the peak, then linear decay to zero at the last step."""
    if settings.warmup_steps and step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    span = max(1, total - settings.warmup_steps)
    return settings.learning_rate * max(0.0, 1 - (step - settings.warmup_steps) / span)


def run_training(
    model: Any,
    loss_module: Any,
    settings: LoopSettings,
    examples: Sequence[TokenisedExample],
    work_dir: Path,
    report: Report,
    place: WorkerPlace = WorkerPlace(),
) -> list[dict[str, float]]:
    """Optimise the trainable (peft) parameters of `model` on loss_module(**batch); every
    `checkpoint_every` steps rank 0 writes a checkpoint under work_dir and reports it, the
    last one with the peft-layout delta in `adapter/`. Returns the loss curve."""
    import torch
    from peft import set_peft_model_state_dict

    batches = batch_order(examples, settings.batch_size, settings.epochs, settings.seed)
    total = min(len(batches), settings.max_steps) if settings.max_steps else len(batches)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    curve: list[dict[str, float]] = []
    start = 0
    rank, world_size, device = place.rank, place.world_size, place.device
    if place.resume_from is not None:
        state = torch.load(place.resume_from / "trainer_state.pt", weights_only=True)
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        start, curve = int(state["step"]), list(state["curve"])
    wrapped = place.wrap_model(loss_module)
    wrapped.train()
    per_worker = settings.batch_size // world_size
    started, seen = time.monotonic(), 0
    smoothed = curve[-1]["loss"] if curve else None
    for step in range(start, total):
        indices = batches[step][rank * per_worker : (rank + 1) * per_worker] or batches[step][:1]
        batch = {
            k: v.to(device)
            for k, v in collate([examples[i] for i in indices], place.pad_id).items()
        }
        lr = learning_rate(step, total, settings)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = wrapped(**batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        smoothed = value if smoothed is None else 0.9 * smoothed + 0.1 * value
        seen += len(indices) * world_size
        curve.append({"step": step + 1, "loss": value})
        done = step + 1
        if done % settings.log_every == 0 or done == total or done % settings.checkpoint_every == 0:
            elapsed = time.monotonic() - started
            rate = seen / elapsed if elapsed > 0 else 0.0
            eta = (total - done) * settings.batch_size / rate if rate > 0 else 0.0
            checkpoint = None
            if rank == 0 and (done % settings.checkpoint_every == 0 or done == total):
                checkpoint = save_checkpoint(model, optimizer, done, curve, work_dir)
                if done == total:
                    save_adapter(model, checkpoint / "adapter")
            report(Progress(done, total, smoothed, rate, eta, lr), checkpoint)
    return curve


def save_checkpoint(
    model: Any, optimizer: Any, step: int, curve: list[dict[str, float]], work_dir: Path
) -> Path:
    import torch
    from peft import get_peft_model_state_dict

    folder = work_dir / f"checkpoint-{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "adapter": get_peft_model_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "curve": curve,
        },
        folder / "trainer_state.pt",
    )
    return folder


def save_adapter(model: Any, folder: Path, dtype: str = "float16") -> None:
    """peft layout (adapter_config.json + adapter_model.safetensors), weights in `dtype`
    (half the bytes of fp32; vLLM casts to the model's dtype when it loads them)."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    model.peft_config["default"].save_pretrained(str(folder))
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "SmolLM2-135M-Instruct"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = get_peft_model_state_dict(model)
    target = getattr(torch, dtype)
    save_file(
        {k: v.detach().to(target).contiguous() for k, v in state.items()},
        str(folder / "adapter_model.safetensors"),
        metadata={"format": "pt"},
    )
