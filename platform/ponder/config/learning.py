"""Online learning from reported outcomes: the learner, its gate and its scopes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ponder.config.base import DeploymentConfig, StrictModel


class LearningConfig(StrictModel):
    """Online path-scorer learning from reported outcomes."""

    enabled: bool = Field(
        True, description="Log reasonings, accept ReportOutcome and run the learner."
    )
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.1, max_ongoing_requests=16),
        description="The learner deployment; keep one replica (it owns the consumer group).",
    )
    retention_s: int = Field(
        2 * 24 * 3600,
        ge=60,
        description="How long a reasoning stays reportable (and its log entry kept), seconds.",
    )
    tenant_record_quota_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description=(
            "Most bytes of reasoning records one tenant may keep stored over retention_s; a "
            "reasoning past it is answered but not reportable (0: no quota). Keep tenants × "
            "this well under Redis' maxmemory, so one tenant cannot fill Redis."
        ),
    )
    per_tenant: bool = Field(
        True,
        description="Each tenant reads and trains its own scorer and answer ranker (the "
        "tenant of the caller's token, so only tenants the token file declares), started "
        "from the shared versions; a tenant's reports then never change another tenant's "
        "answers. Off: every tenant reads the shared versions, and only the tenants in "
        "shared_trainers train them.",
    )
    shared_trainers: tuple[str, ...] = Field(
        (),
        description="The tenants whose reported outcomes train the shared versions, which "
        "every tenant without a scope of its own reads ('*': all tenants; callers without "
        "a tenant always may). Other tenants' outcomes in the shared scope are logged and "
        "acknowledged but never learned from. With per_tenant on, tenants answer in their "
        "own scopes, so this only matters for reasonings answered before it was on.",
    )
    ranker_learning: bool = Field(
        True,
        description="Refit the answer ranker (what picks Reason's answers) from reported "
        "outcomes, per scope, and promote a refit only through the paired gate.",
    )
    ranker_propose_every: int = Field(
        200,
        ge=1,
        description="New training examples of a scope between two ranker refits.",
    )
    ranker_holdout_percent: int = Field(
        40,
        ge=1,
        le=90,
        description="Share of problem groups held back from ranker and model-refresh "
        "training and used only by their gates (by a hash of the group the caller reported "
        "with the outcome, else of the problem's text).",
    )
    ranker_examples_kept: int = Field(
        20_000,
        ge=100,
        description="Most recent training (and held-back) examples kept per scope.",
    )
    ranker_gate_min_problems: int = Field(
        40, ge=1, description="Held-back problems needed before the ranker gate decides."
    )
    ranker_gate_min_effect: float = Field(
        0.01,
        ge=0,
        le=1,
        description="A ranker refit is promoted only when it is right on more held-back "
        "problems than the active version by at least this share of them (and one more).",
    )
    ranker_gate_max_p: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Most one-sided sign-test p-value of the refit's wins over its losses "
        "on the held-back problems for a promotion; the test counts problem groups, each "
        "group once by its net wins (a problem without a group is its own).",
    )
    ranker_rehearsal_path: str = Field(
        "",
        description="The rehearsal set every ranker refit also trains on (the rows of the "
        "offline problems the packaged ranker was fitted on, `ponder train verifier`); "
        "empty: the packaged one.",
    )
    ranker_fit_threads: int = Field(
        2, ge=1, description="Torch threads a ranker refit uses in the learner."
    )
    batch_size: int = Field(
        64, ge=1, description="Most outcomes the learner applies in one step (one checkpoint)."
    )
    learning_rate: float = Field(0.05, gt=0, description="SGD step size of online updates.")
    max_entry_failures: int = Field(
        5,
        ge=1,
        description="An outcome the learner failed to apply this many times (a malformed "
        "entry) moves to the dead-letter stream instead of blocking the log forever.",
    )
    stall_timeout_s: float = Field(
        300.0,
        gt=0,
        description="The learner's health check fails when outcomes wait and none was "
        "applied for this long (Serve then restarts it and reports it unhealthy).",
    )
    l2: float = Field(1e-3, ge=0, description="L2 penalty of online updates.")
    max_step: float = Field(
        0.5, gt=0, description="Cap on the L2 norm of one update of the weights (guard rail)."
    )
    propose_every: int = Field(50, ge=1, description="Outcomes applied between candidate versions.")
    min_outcomes: int = Field(
        100, ge=1, description="Outcomes applied before the first candidate is proposed."
    )
    holdout_every: int = Field(
        5,
        ge=2,
        description="The path scorer holds back every k-th outcome (in log order) from "
        "training, or for outcomes naming a problem group, one group in k (all of its "
        "outcomes), and compares candidate and active versions on them.",
    )
    holdout_window: int = Field(
        500, ge=1, description="Most recent held-back outcomes the gate evaluates on."
    )
    min_holdout_examples: int = Field(
        20,
        ge=1,
        description="Held-back labelled path rows (one per step of a labelled path) needed "
        "before the gate decides; fewer defers the decision.",
    )
    gate_metric: Literal["log_loss", "accuracy"] = Field(
        "log_loss", description="Metric the promotion gate compares on held-back outcomes."
    )
    gate_margin: float = Field(
        0.0,
        ge=0,
        description="A candidate is promoted when its metric is no worse than the active "
        "version's by more than this margin.",
    )
    reload_interval_s: float = Field(
        1.0, gt=0, description="How often planners check for a newly promoted version."
    )
    poll_block_ms: int = Field(
        1000, ge=1, description="How long the learner blocks waiting for new outcomes."
    )
