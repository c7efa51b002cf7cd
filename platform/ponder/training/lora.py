"""LoRA fine-tuning of the decoder: tokenisation with loss on the reply only, a resumable
training loop, and the peft-layout adapter vLLM loads.

Plain PyTorch + transformers + peft: the Ray Train job (deployments/training_jobs.py)
runs `train_adapter` in each worker and passes in how to report and how to wrap the
model for data parallelism; tests and a laptop can call it directly.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.training.domain_data import Example
from ponder.training.settings import AdapterTrainingConfig

IGNORE = -100
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass(frozen=True)
class TokenisedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt: the loss covers the reply and its end token


def tokenise(
    examples: Sequence[Example], tokenizer: Any, max_tokens: int
) -> list[TokenisedExample]:
    """The chat template exactly as the engine applies it, then the reply and <|im_end|>."""
    out = []
    for example in examples:
        conversation = [{"role": m.role.value, "content": m.content} for m in example.messages]
        encoded = tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True
        )
        prompt = list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)
        reply = list(tokenizer.encode(example.target, add_special_tokens=False))
        reply.append(int(tokenizer.eos_token_id))
        ids = prompt + reply
        if len(ids) > max_tokens:
            continue
        out.append(TokenisedExample(ids, [IGNORE] * len(prompt) + reply))
    return out


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
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def lora_model(model_dir: Path, settings: AdapterTrainingConfig) -> Any:
    """The base model in fp32 with LoRA on the configured layers; the base is frozen."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(settings.seed)
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    layers = base.config.num_hidden_layers
    top = settings.top_layers or layers
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        layers_to_transform=list(range(layers - top, layers)),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config)


def reply_loss_module(peft_model: Any) -> Any:
    """A module whose forward is the mean cross-entropy over reply tokens only.

    The LM head (576 x 49152) is applied only where a label exists (the reply is ~15% of
    the tokens), which saves most of its forward and backward cost; the value equals the
    usual causal-LM loss with IGNORE labels."""
    import torch

    class ReplyLoss(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, labels: Any, attention_mask: Any) -> Any:
            causal = self.model.get_base_model()
            hidden = causal.model(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state
            shifted = labels[:, 1:]
            keep = shifted != IGNORE
            logits = causal.lm_head(hidden[:, :-1][keep])
            return torch.nn.functional.cross_entropy(logits.float(), shifted[keep])

    return ReplyLoss(peft_model)


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


def _learning_rate(step: int, total: int, settings: AdapterTrainingConfig) -> float:
    if settings.warmup_steps and step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    span = max(1, total - settings.warmup_steps)
    return settings.learning_rate * max(0.0, 1 - (step - settings.warmup_steps) / span)


def train_adapter(
    settings: AdapterTrainingConfig,
    examples: Sequence[TokenisedExample],
    model_dir: Path,
    work_dir: Path,
    report: Report,
    resume_from: Path | None = None,
    rank: int = 0,
    world_size: int = 1,
    wrap_model: Callable[[Any], Any] = lambda m: m,
    device: str = "cpu",
    pad_id: int = 2,
) -> tuple[Any, list[dict[str, float]]]:
    """Train; every `checkpoint_every` steps write a checkpoint under work_dir and report
    it. Returns the (unwrapped) peft model and the loss curve."""
    import torch
    from peft import set_peft_model_state_dict

    model = lora_model(model_dir, settings).to(device)
    batches = batch_order(examples, settings.batch_size, settings.epochs, settings.seed)
    total = min(len(batches), settings.max_steps) if settings.max_steps else len(batches)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    curve: list[dict[str, float]] = []
    start = 0
    if resume_from is not None:
        state = torch.load(resume_from / "trainer_state.pt", weights_only=False)
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        start, curve = int(state["step"]), list(state["curve"])
    wrapped = wrap_model(reply_loss_module(model))
    wrapped.train()
    per_worker = settings.batch_size // world_size
    started, seen, smoothed = time.monotonic(), 0, curve[-1]["loss"] if curve else None
    for step in range(start, total):
        indices = batches[step][rank * per_worker : (rank + 1) * per_worker]
        if not indices:
            indices = batches[step][:1]
        batch = {
            k: v.to(device) for k, v in collate([examples[i] for i in indices], pad_id).items()
        }
        lr = _learning_rate(step, total, settings)
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
    return model, curve


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
