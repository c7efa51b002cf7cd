"""Reinforcement learning with verifiable rewards (the seed's R1 step) for the student.

One round: the serving engine samples a group of programs per training problem (the
planner's own `pot` prompt and constraint, `verifier.sample_paths`); each program is
executed and rewarded 1 when its value is the gold answer, else 0; within a group the
advantage of a program is its reward minus the group's mean (GRPO's group baseline,
without the standard-deviation scaling, as in Dr. GRPO); groups whose programs all score
the same teach nothing and are dropped. The policy is the student's own trainable delta,
updated by the policy gradient

    L = - sum_i A_i * sum_t log pi(y_i,t | x_i)  /  (sequences in the batch)

on the shared training loop (`loop.run_training`), clipped per token against the policy
that sampled the round (GRPO's surrogate, `clip`), so a round is one on-policy pass; the
next round samples again from the updated student. The problems come from the train
split and its perturbed variants only (never the dev split or the robustness dev set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.reasoning.arithmetic import UnsafeExpression, evaluate
from ponder.reasoning.formats import expression_instruction, problem_messages
from ponder.reasoning.plan import extract_conditions
from ponder.reasoning.problems import is_correct
from ponder.reasoning.verifier import SampledProblem
from ponder.training.loop import IGNORE, Report, TokenisedExample, WorkerPlace, run_training
from ponder.training.settings import RLTrainingConfig


@dataclass(frozen=True)
class Rollout:
    """One sampled program of one problem with its group-relative advantage."""

    question: str
    program: str
    reward: float
    advantage: float


def program_reward(program: str, answer: float) -> float:
    """The verifiable reward: 1 when the program executes to the gold answer, else 0
    (a program the safe evaluator refuses earns nothing)."""
    try:
        value = evaluate(program.strip())
    except UnsafeExpression:
        return 0.0
    return 1.0 if is_correct(value, answer) else 0.0


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """Reward minus the group mean (GRPO's baseline, Dr. GRPO's unscaled form)."""
    if not rewards:
        return []
    mean = sum(rewards) / len(rewards)
    return [r - mean for r in rewards]


def rollouts_from_samples(records: Sequence[SampledProblem]) -> list[Rollout]:
    """Every sampled program of every group that has both a right and a wrong program,
    rewarded by executing it (not by the sampler's label, so the reward is checked here)."""
    out: list[Rollout] = []
    for record in records:
        programs = [p.program for p in record.paths if p.program.strip()]
        rewards = [program_reward(p, record.answer) for p in programs]
        if len(set(rewards)) < 2:
            continue
        for program, reward, advantage in zip(
            programs, rewards, group_advantages(rewards), strict=True
        ):
            out.append(Rollout(record.question, program, reward, advantage))
    return out


def tokenise_rollouts(
    rollouts: Sequence[Rollout], tokenizer: Any, max_tokens: int
) -> list[TokenisedExample]:
    """The planner's exact pot prompt (chat template) and the program as the reply; the
    loss covers the reply and its end token, weighted by the advantage."""
    examples = []
    for rollout in rollouts:
        quantities = extract_conditions(rollout.question).quantities
        messages = [
            {"role": m.role.value, "content": m.content}
            for m in problem_messages(rollout.question, expression_instruction(quantities))
        ]
        prompt = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        prompt_ids = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
        reply = tokenizer(rollout.program, add_special_tokens=False)["input_ids"]
        reply_ids = [*reply, tokenizer.eos_token_id]
        ids = prompt_ids + reply_ids
        if len(ids) > max_tokens:
            continue
        labels = [IGNORE] * len(prompt_ids) + reply_ids
        examples.append(TokenisedExample(ids, labels, rollout.advantage))
    return examples


def clipped_surrogate(logprobs: Any, old: Any, advantage: Any, clip: float) -> Any:
    """GRPO/PPO's per-token objective min(r A, clip(r, 1 - e, 1 + e) A), r = exp(lp - old)."""
    import torch

    ratio = torch.exp(logprobs - old)
    return torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip, 1 + clip) * advantage)


def policy_gradient_loss_module(policy: Any, reference: Any = None, clip: float = 0.2) -> Any:
    """forward(input_ids, labels, attention_mask, advantages) -> the batch's loss.

    With a `reference` (a frozen copy of the policy that sampled the rollouts) the loss is
    GRPO's clipped surrogate per reply token, -min(r A, clip(r, 1 - e, 1 + e) A) with
    r = pi / pi_ref: a program already made `clip` more (or less) likely stops pulling, so
    the many steps of one round cannot run away from the samples they learn from. Without
    one, the plain policy gradient -A log pi."""
    import torch
    import torch.nn.functional as F

    def token_logprobs(model: Any, input_ids: Any, attention_mask: Any, labels: Any) -> Any:
        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = causal.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
        shifted = labels[:, 1:]
        keep = shifted != IGNORE
        logits = causal.lm_head(hidden[:, :-1][keep])  # the reply positions only
        return -F.cross_entropy(logits.float(), shifted[keep], reduction="none")

    class PolicyGradientLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy
            self.reference = [reference]  # a list: not a submodule, never trained or wrapped

        def forward(
            self, input_ids: Any, labels: Any, attention_mask: Any, advantages: Any = None
        ) -> Any:
            logprobs = token_logprobs(self.policy, input_ids, attention_mask, labels)
            keep = labels[:, 1:] != IGNORE
            rows = torch.arange(len(labels), device=labels.device)
            owner = rows.unsqueeze(1).expand_as(keep)[keep]
            weights = advantages if advantages is not None else torch.ones(len(labels))
            token_advantage = weights.to(logprobs.device)[owner]
            if self.reference[0] is None:
                surrogate = token_advantage * logprobs
            else:
                with torch.no_grad():
                    old = token_logprobs(self.reference[0], input_ids, attention_mask, labels)
                surrogate = clipped_surrogate(logprobs, old, token_advantage, clip)
            loss: torch.Tensor = -surrogate.sum() / len(labels)
            return loss

    return PolicyGradientLoss()


def trainable_student(
    model_dir: Path, teacher_adapter_dir: Path | None, layers: Sequence[int], delta_dir: Path
) -> Any:
    """The served student rebuilt from its parts with its delta trainable (peft)."""
    from peft import PeftModel

    from ponder.training.distill import merged_teacher, student_from_teacher

    teacher = merged_teacher(model_dir, teacher_adapter_dir)
    student = student_from_teacher(teacher, layers)
    del teacher
    return PeftModel.from_pretrained(student, str(delta_dir), is_trainable=True)


def train_rl(
    settings: RLTrainingConfig,
    examples: Sequence[TokenisedExample],
    policy: Any,
    work_dir: Path,
    report: Report,
    place: WorkerPlace = WorkerPlace(),  # noqa: B008 (frozen, never mutated)
) -> list[dict[str, float]]:
    """One on-policy round of the policy gradient over the rollouts' examples."""
    import copy

    import torch

    torch.manual_seed(settings.seed)
    policy = policy.to(place.device)
    reference = copy.deepcopy(policy).eval()  # the policy that sampled this round
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    loss = policy_gradient_loss_module(policy, reference, settings.clip)
    return run_training(policy, loss, settings, examples, work_dir, report, place)
