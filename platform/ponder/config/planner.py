"""The reasoning planner: strategies, budgets, waves, pruning, selection, score cache."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ponder.config.base import DeploymentConfig, StrictModel
from ponder.config.learning import LearningConfig


class ScoreCacheConfig(StrictModel):
    """Redis cache of path scores."""

    enabled: bool = Field(True, description="Cache path scores in Redis (when one is set).")
    ttl_s: int = Field(3600, ge=1, description="Lifetime of a cached score, in seconds.")


class StepTokensConfig(StrictModel):
    """Most tokens of each kind of decoder call a branch makes."""

    direct: int = Field(12, ge=1, description="Direct answer node (a number).")
    cot: int = Field(160, ge=1, description="Chain-of-thought compute node (worked text).")
    expression: int = Field(40, ge=1, description="Program-of-thought expression node.")
    steps: int = Field(72, ge=1, description="Decompose node (up to three `a op b = c` lines).")
    verify: int = Field(1, ge=1, description="Verify node (yes or no).")


class PlannerConfig(StrictModel):
    """The reasoning planner: the deployment and every setting of the planner core (the
    core takes this model as it is, so there is one source of truth)."""

    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.2, max_ongoing_requests=64),
        description="Scheduling and scaling of planner replicas.",
    )
    max_problem_chars: int = Field(4000, ge=1, description="Longest problem accepted.")
    default_branches: int = Field(4, ge=1, le=16, description="Branches when unset.")
    max_branches: int = Field(16, ge=1, le=16, description="Most branches a caller may ask.")
    default_max_tokens: int = Field(
        1024, ge=16, description="Decoder token budget of a request when unset."
    )
    default_strategies: tuple[Literal["direct", "cot", "pot", "decompose"], ...] = Field(
        (),
        description="Strategies a request that names none may use; empty = all of them.",
    )
    max_tokens_limit: int = Field(8192, ge=16, description="Largest token budget accepted.")
    prune_below: float = Field(
        0.002, ge=0, le=1, description="Running branches scoring below this are pruned."
    )
    prune_below_best_fraction: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Running branches scoring below this fraction of the best completed "
        "path's score are pruned (a relative threshold, for scorers with a low base rate).",
    )
    keep_top: int = Field(16, ge=1, description="Running branches outside the top k are pruned.")
    step_tokens: StepTokensConfig = Field(
        default_factory=StepTokensConfig, description="Token limits of each decoder call."
    )
    early_stop_score: float = Field(
        0.8, ge=0, le=1, description="Completed paths agreeing at this score stop the rest."
    )
    early_stop_agree: int = Field(
        2, ge=1, description="How many agreeing strong paths stop the request early."
    )
    selection: Literal["best", "vote", "ranker"] = Field(
        "best",
        description="Answer from the best path, a score-weighted vote over distinct "
        "answers, or the answer ranker (`ranker_path`), which weighs the sampled answers "
        "side by side (and, if it was fitted with program search, every short program over "
        "the problem's quantities); with 'ranker' the waves settle on its probability.",
    )
    sample_temperatures: tuple[float, ...] = Field(
        (0.7,),
        min_length=1,
        description="Temperatures of the sampled branches (those beyond one greedy branch "
        "per strategy), used in turn; each sampled branch also has its own seed.",
    )
    verify_step: Literal["decoder", "verifier"] = Field(
        "decoder",
        description="The verify node of program branches: 'decoder' asks the model yes/no "
        "(one call); 'verifier' makes no call, the learned path verifier scores the "
        "executed program.",
    )
    initial_branches: int = Field(
        0,
        ge=0,
        le=16,
        description="Branches started at once; 0 = all of the request's branches. The rest "
        "start in waves of `wave_branches` while the answer vote is not settled.",
    )
    wave_branches: int = Field(4, ge=1, le=16, description="Branches each later wave adds.")
    settle_share: float = Field(
        0.75,
        ge=0,
        le=1,
        description="The vote is settled when the leading answer holds this share of the "
        "completed paths' total score (selection 'ranker': the ranker's probability) ...",
    )
    settle_votes: int = Field(
        3, ge=1, description="... and at least this many completed paths give it."
    )
    doubt_holds_waves: bool = Field(
        False,
        description="With selection 'ranker': the waves do not settle on a first answer "
        "whose program the problem's words speak against (units that do not add up, a "
        "result that cannot count what is asked, a quantity moved the wrong way for the "
        "asked person); the next wave starts instead.",
    )
    doubt_yield: float = Field(
        0.0,
        ge=0,
        le=1,
        description="With selection 'ranker': a first answer whose program the problem's "
        "words speak against gives way to the likeliest answer they do not speak "
        "against, if its probability is at least this share of the first's (0 = off).",
    )
    scorer_path: str = Field(
        "", description="Path scorer weights file; empty means the packaged default."
    )
    ranker_path: str = Field(
        "",
        description="Answer ranker weights file (selection 'ranker'); empty means the "
        "packaged default.",
    )
    adapter: str = Field(
        "",
        description="LoRA adapter (a decoder.engine.lora_adapters name) the planner's "
        "branches use when a request names none; empty means the base model. A request's "
        "adapter 'base' asks for the base model explicitly.",
    )
    model: str = Field(
        "",
        description="Decoder replica set the planner's branches use when a request names "
        "none: empty = the main decoder (with `adapter`), or the served student's name.",
    )
    cache: ScoreCacheConfig = Field(
        default_factory=ScoreCacheConfig, description="Score cache in Redis."
    )
    learning: LearningConfig = Field(
        default_factory=LearningConfig, description="Online scorer learning."
    )

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> PlannerConfig:
        if self.default_branches > self.max_branches:
            raise ValueError(
                f"default_branches ({self.default_branches}) exceeds max_branches "
                f"({self.max_branches})"
            )
        for temperature in self.sample_temperatures:
            if not 0 < temperature <= 2:
                raise ValueError(f"sample_temperatures: {temperature} is not in (0, 2]")
        if self.default_max_tokens > self.max_tokens_limit:
            raise ValueError(
                f"default_max_tokens ({self.default_max_tokens}) exceeds max_tokens_limit "
                f"({self.max_tokens_limit})"
            )
        return self
