"""Knowledge distillation of the domain teacher into a smaller student.

Teacher: the base model with the domain LoRA adapter merged in. Student: the teacher's
embeddings, final norm and a spaced subset of its decoder layers (first and last kept),
plus a low-rank update on every linear layer that distillation trains with

    L = alpha * CE(student, y) + (1 - alpha) * T^2 * KL(teacher_T || student_T)

over the full vocabulary, at the reply positions only (the prompt is not a target).
Plain PyTorch + transformers + peft; the Ray Train job (deployments/training_jobs.py)
runs `train_student` in each worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.training.loop import IGNORE, Report, TokenisedExample, WorkerPlace, run_training
from ponder.training.settings import StudentTrainingConfig


def distillation_loss(
    student_logits: Any, teacher_logits: Any, labels: Any, alpha: float, temperature: float
) -> Any:
    """alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T)).

    Logits are [tokens, vocab] at the target positions; labels are [tokens]. The T^2
    factor keeps the KL term's gradient on the CE term's scale as T changes."""
    import torch
    import torch.nn.functional as F

    student_logits = student_logits.float()
    zero = student_logits.new_zeros(())
    ce = F.cross_entropy(student_logits, labels) if alpha > 0 else zero
    kl = zero
    if alpha < 1:
        teacher = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
        student = F.log_softmax(student_logits / temperature, dim=-1)
        kl = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
        kl = kl * temperature**2
    total: torch.Tensor = alpha * ce + (1 - alpha) * kl
    return total


def spaced_layers(total: int, keep: int) -> tuple[int, ...]:
    """`keep` of `total` layer indices, evenly spaced, the first and the last included
    (30 -> 10: 0, 3, 6, 10, 13, 16, 19, 23, 26, 29)."""
    if not 1 <= keep <= total:
        raise ValueError(f"keep {keep} layers of {total}?")
    if keep == 1:
        return (total - 1,)
    return tuple(round(i * (total - 1) / (keep - 1)) for i in range(keep))


def merged_teacher(model_dir: Path, adapter_dir: Path | None) -> Any:
    """The base model in fp32 with the domain adapter merged into its weights."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model.eval()
    return model


def student_from_teacher(teacher: Any, layers: Sequence[int]) -> Any:
    """A new model of the teacher's class with only `layers`, their weights copied (a
    deep copy: training the student never touches the teacher)."""
    import copy

    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in layers]
    student = type(teacher)(config)
    state = teacher.state_dict()
    own = {}
    for key, value in state.items():
        if key.startswith("model.layers."):
            index, rest = key[len("model.layers.") :].split(".", 1)
            if int(index) not in layers:
                continue
            key = f"model.layers.{list(layers).index(int(index))}.{rest}"
        own[key] = value.detach().clone()
    missing, unexpected = student.load_state_dict(own, strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"student weights do not match: {missing} {unexpected}")
    if config.tie_word_embeddings:
        student.tie_weights()
    student.eval()
    return student


def student_with_delta(student: Any, settings: StudentTrainingConfig) -> Any:
    """LoRA on every linear layer of every student layer: the trainable, committable
    delta. Embeddings and norms stay the teacher's."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(student, config)


def distill_loss_module(student: Any, teacher: Any, alpha: float, temperature: float) -> Any:
    """forward(input_ids, labels, attention_mask) -> the distillation loss; the LM heads
    run at the reply positions only (where the loss is)."""
    import torch

    class DistillLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.teacher = [teacher]  # a list: not a submodule, so DDP never wraps it

        def forward(self, input_ids: Any, labels: Any, attention_mask: Any) -> Any:
            shifted = labels[:, 1:]
            keep = shifted != IGNORE
            teacher_logits = None
            if alpha < 1:
                with torch.no_grad():
                    hidden = (
                        self.teacher[0]
                        .model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
                        .last_hidden_state
                    )
                    teacher_logits = self.teacher[0].lm_head(hidden[:, :-1][keep])
            causal = self.student.get_base_model()
            hidden = causal.model(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state
            logits = causal.lm_head(hidden[:, :-1][keep])
            return distillation_loss(
                logits,
                teacher_logits if teacher_logits is not None else logits.detach(),
                shifted[keep],
                alpha,
                temperature,
            )

    return DistillLoss()


def train_student(
    settings: StudentTrainingConfig,
    examples: Sequence[TokenisedExample],
    model_dir: Path,
    teacher_adapter_dir: Path | None,
    work_dir: Path,
    report: Report,
    place: WorkerPlace = WorkerPlace(),  # noqa: B008 (frozen, never mutated)
) -> tuple[Any, list[dict[str, float]]]:
    """Distil (see `run_training` for checkpoints and resuming). Returns the
    peft-wrapped student and the loss curve."""
    import torch

    torch.manual_seed(settings.seed)
    teacher = merged_teacher(model_dir, teacher_adapter_dir).to(place.device)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    layers = spaced_layers(teacher.config.num_hidden_layers, settings.student_layers)
    model = student_with_delta(student_from_teacher(teacher, layers), settings).to(place.device)
    loss = distill_loss_module(
        model, teacher if settings.alpha < 1 else None, settings.alpha, settings.temperature
    )
    del teacher  # alpha = 1 (plain fine-tuning) frees it here; otherwise the loss holds it
    curve = run_training(
        model,
        loss,
        settings,
        examples,
        work_dir,
        report,
        place,
    )
    return model, curve
