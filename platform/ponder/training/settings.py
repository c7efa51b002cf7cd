"""Settings of the training jobs (frozen, strict, loadable from YAML): the domain LoRA
adapter (`ponder train adapter`) and the distilled student (`ponder train student`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, model_validator

from ponder.config import StrictModel, load_yaml

LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingJobConfig(StrictModel):
    """What every training job shares: data, optimisation, checkpoints and scale-out."""

    examples: int = Field(5000, ge=1, description="Training examples drawn from the mix.")
    mix: dict[Literal["expression", "steps", "worked", "direct", "verify"], float] = Field(
        default_factory=dict,
        description="Share of the examples per target format (relative weights; a format "
        "with fewer rows than its share gives all it has). Empty: the default mix "
        "(ponder.training.domain_data.DEFAULT_MIX).",
    )
    seed: int = Field(0, description="Seed of the mix, the batch order and the init.")
    target_modules: tuple[str, ...] = Field(
        LORA_TARGET_MODULES, min_length=1, description="Linear layers that get a LoRA update."
    )
    learning_rate: float = Field(5e-4, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    batch_size: int = Field(16, ge=1, description="Examples per optimizer step (all workers).")
    epochs: float = Field(1.0, gt=0, description="Passes over the drawn examples.")
    max_steps: int = Field(0, ge=0, description="Stop after this many steps (0 = by epochs).")
    warmup_steps: int = Field(20, ge=0, description="Linear warm-up steps, then linear decay.")
    max_seq_tokens: int = Field(
        384, ge=32, description="Examples longer than this (prompt + target) are dropped."
    )
    checkpoint_every: int = Field(
        50, ge=1, description="Steps between resumable checkpoints (reported to Ray Train)."
    )
    log_every: int = Field(5, ge=1, description="Steps between progress lines.")
    num_workers: int = Field(1, ge=1, description="Ray Train workers (data-parallel).")
    use_gpu: bool = Field(False, description="One GPU per worker (a GPU worker group).")
    cpus_per_worker: float = Field(2.0, gt=0, description="CPUs reserved per worker.")
    torch_threads: int = Field(
        0, ge=0, description="Intra-op threads per CPU worker (0 = the worker's CPUs)."
    )
    dev_limit: int = Field(
        400, ge=0, description="Dev problems the job evaluates the result on (0 = none)."
    )

    @model_validator(mode="after")
    def _mix_weights(self) -> TrainingJobConfig:
        if any(share < 0 for share in self.mix.values()) or (
            self.mix and not sum(self.mix.values()) > 0
        ):
            raise ValueError(f"mix: shares must be >= 0 with a positive sum, got {self.mix}")
        return self

    @model_validator(mode="after")
    def _batch_splits(self) -> TrainingJobConfig:
        if self.batch_size % self.num_workers:
            raise ValueError(
                f"batch_size ({self.batch_size}) must split evenly over num_workers "
                f"({self.num_workers})"
            )
        return self


class AdapterTrainingConfig(TrainingJobConfig):
    """LoRA fine-tuning of the decoder on the domain (`ponder train adapter`)."""

    name_prefix: str = Field(
        "math", pattern=r"^[a-z][a-z0-9-]{0,30}$", description="Adapter name before the hash."
    )
    rank: int = Field(16, ge=1, le=64, description="LoRA rank r (vLLM's max_lora_rank >= r).")
    alpha: int = Field(32, ge=1, description="LoRA alpha (the update is scaled by alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    top_layers: int = Field(
        12,
        ge=0,
        description="LoRA on the top N decoder layers only (0 = all): backward stops at the "
        "lowest adapted layer, which on CPU roughly halves a step.",
    )


class RefreshTrainingConfig(AdapterTrainingConfig):
    """An outcome-driven refresh of the student (`ponder train refresh`): a LoRA trained on
    the verified paths of logged outcomes plus rehearsed train-split pot examples, gated on
    the scope's held-back problems before it is served."""

    name_prefix: str = Field(
        "refresh", pattern=r"^refresh$", description="Refresh versions are refresh-<hash>."
    )
    per_problem: int = Field(
        2, ge=1, le=8, description="Most verified programs kept per logged problem."
    )
    correction_repeats: int = Field(
        1,
        ge=1,
        le=8,
        description="Times each verified path of a problem whose greedy program was wrong "
        "is trained on (the corrections: where the model has most to learn).",
    )
    search_corrections: bool = Field(
        False,
        description="A logged problem none of whose sampled programs reached the reported "
        "answer is taught the one short program over its quantities that does (program "
        "search's), when exactly one does.",
    )
    rehearsal_per_verified: float = Field(
        1.0,
        ge=0,
        description="Train-split pot examples rehearsed per verified path (keeps what the "
        "model knew).",
    )
    min_verified: int = Field(
        40, ge=1, description="Verified paths needed before a refresh is trained."
    )
    gate_problems: int = Field(
        200, ge=1, description="Most held-back problems the gate runs both versions on."
    )
    gate_concurrency: int = Field(16, ge=1, description="Held-back problems reasoned at once.")
    gate_min_problems: int = Field(
        40, ge=1, description="Held-back problems needed before the gate decides."
    )
    gate_min_effect: float = Field(
        0.01,
        ge=0,
        le=1,
        description="(wins - losses) / problems the candidate needs (at least one net win).",
    )
    gate_max_p_value: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Most p-value of the one-sided sign test over the held-back problem "
        "groups the candidate won and lost (each group once, by its net wins; a problem "
        "without a group is its own).",
    )

    def adapter_settings(self) -> AdapterTrainingConfig:
        """The LoRA training part (what the training workers read)."""
        fields = set(AdapterTrainingConfig.model_fields)
        return AdapterTrainingConfig.model_validate(
            self.model_dump(include=fields) | {"name_prefix": "refresh"}
        )


class StudentTrainingConfig(TrainingJobConfig):
    """Distillation of the domain teacher into a smaller student (`ponder train student`)."""

    name_prefix: str = Field(
        "student",
        pattern=r"^[a-z][a-z0-9-]{0,30}$",
        description="Student name before the hash of its committed parts.",
    )
    teacher_adapter: str = Field(
        "math-50464f8b",
        description="The domain adapter (a folder under ponder/adapters) merged into the base "
        "model to make the teacher; empty = the base model is the teacher.",
    )
    student_layers: int = Field(
        10,
        ge=1,
        description="Decoder layers the student keeps, evenly spaced over the teacher's "
        "(first and last included), initialised from the teacher's weights.",
    )
    alpha: float = Field(
        0.5, ge=0, le=1, description="Weight of CE on the targets; 1 - alpha weighs the KL term."
    )
    temperature: float = Field(
        2.0, gt=0, description="Softening temperature T of both distributions in the KL term."
    )
    rank: int = Field(
        64, ge=1, le=256, description="Rank of the trained low-rank delta on every linear layer."
    )
    lora_alpha: int = Field(
        128, ge=1, description="Scale of the delta (alpha / rank), merged into the weights."
    )


class RLTrainingConfig(TrainingJobConfig):
    """Reinforcement learning with verifiable rewards on the student (`ponder train rl`):
    group sampling on vLLM, rewards by executing the programs, the policy gradient with a
    group baseline on the student's delta (ponder.training.rl)."""

    name_prefix: str = Field(
        "student",
        pattern=r"^[a-z][a-z0-9-]{0,30}$",
        description="Name of the resulting student before the hash of its committed parts.",
    )
    student: str = Field(
        "student-65ef1f38",
        description="The committed student (a folder under ponder/students) the policy "
        "starts from; its teacher and layers carry over.",
    )
    rounds: int = Field(1, ge=1, description="Sample-then-update rounds (each on-policy).")
    group_size: int = Field(8, ge=2, le=16, description="Programs sampled per problem.")
    sample_temperature: float = Field(
        1.0, gt=0, le=2, description="Temperature of the sampled programs."
    )
    problems: int = Field(
        600, ge=1, description="Train-split problems sampled per round (seeded draw)."
    )
    perturbed: int = Field(
        600,
        ge=0,
        description="Perturbed variants of train-split problems sampled per round "
        "(ponder.reasoning.robustness; their parents are train-split problems).",
    )
    concurrency: int = Field(16, ge=1, description="Problems sampled at once.")
    clip: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="GRPO's clip range: a reply token's probability ratio to the sampling "
        "policy stops pulling beyond 1 +/- clip.",
    )


Settings = TypeVar("Settings", bound=TrainingJobConfig)


def load_training_config(kind: type[Settings], path: Path | None) -> Settings:
    """Settings of one job from YAML (defaults when no path)."""
    if path is None:
        return kind()
    return kind.model_validate(load_yaml(path))


def load_adapter_training_config(path: Path | None) -> AdapterTrainingConfig:
    return load_training_config(AdapterTrainingConfig, path)
