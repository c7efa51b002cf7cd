"""LoRA fine-tuning of the decoder: tokenisation with loss on the reply only, on the
resumable training loop of `loop.py` (which also writes the peft-layout adapter vLLM
loads, `save_adapter`).

Plain PyTorch + transformers + peft: the Ray Train job (deployments/training_jobs.py)
runs `train_adapter` in each worker and passes in how to report and how to wrap the
model for data parallelism; tests and a laptop can call it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.training.domain_data import Example
from ponder.training.loop import IGNORE, Report, TokenisedExample, WorkerPlace, run_training
from ponder.training.settings import AdapterTrainingConfig

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


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


def train_adapter(
    settings: AdapterTrainingConfig,
    examples: Sequence[TokenisedExample],
    model_dir: Path,
    work_dir: Path,
    report: Report,
    place: WorkerPlace = WorkerPlace(),  # noqa: B008 (frozen, never mutated)
) -> tuple[Any, list[dict[str, float]]]:
    """Train the LoRA adapter; checkpoints under work_dir (see `run_training`). Returns
    the (unwrapped) peft model and the loss curve."""
    model = lora_model(model_dir, settings).to(place.device)
    curve = run_training(
        model,
        reply_loss_module(model),
        settings,
        examples,
        work_dir,
        report,
        place,
    )
    return model, curve
