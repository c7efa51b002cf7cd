"""RL with verifiable rewards: the reward comes from executing the program, advantages
are group-relative, groups without signal are dropped, and one policy-gradient step
makes a rewarded program more likely and an unrewarded one less likely."""

from __future__ import annotations

import pytest

from ponder.reasoning.verifier import SampledPath, SampledProblem
from ponder.training.loop import IGNORE, TokenisedExample, collate
from ponder.training.rl import (
    group_advantages,
    policy_gradient_loss_module,
    program_reward,
    rollouts_from_samples,
)

QUESTION = "A box holds 12 pens. How many pens are in 4 boxes?"


def group(programs: list[str], answer: float = 48.0, labels: bool = False) -> SampledProblem:
    paths = [
        SampledPath(f"b{i}", "pot", 1.0, None, labels, 5, [], program)
        for i, program in enumerate(programs)
    ]
    return SampledProblem(QUESTION, answer, "t", paths)


def test_the_reward_is_the_executed_program_against_the_gold_answer() -> None:
    assert program_reward("12 * 4", 48.0) == 1.0
    assert program_reward("12 - 4", 48.0) == 0.0
    assert program_reward("12 / 0", 48.0) == 0.0  # refused by the evaluator: no reward
    assert program_reward("__import__('os')", 48.0) == 0.0


def test_advantages_are_relative_to_the_group_mean() -> None:
    assert group_advantages([1.0, 0.0, 0.0, 1.0]) == [0.5, -0.5, -0.5, 0.5]
    assert group_advantages([1.0, 0.0, 0.0, 0.0]) == [0.75, -0.25, -0.25, -0.25]
    assert group_advantages([]) == []


def test_rollouts_keep_groups_with_signal_and_check_rewards_by_execution() -> None:
    # The sampler's labels say every path is right; execution says otherwise.
    mixed = group(["12 * 4", "12 - 4", "12 + 4", "4 * 12"], labels=True)
    all_right = group(["12 * 4", "4 * 12"])
    all_wrong = group(["12 - 4", "12 + 4"])
    rollouts = rollouts_from_samples([mixed, all_right, all_wrong])
    assert [(r.program, r.reward, r.advantage) for r in rollouts] == [
        ("12 * 4", 1.0, 0.5),
        ("12 - 4", 0.0, -0.5),
        ("12 + 4", 0.0, -0.5),
        ("4 * 12", 1.0, 0.5),
    ]


def test_collate_carries_advantages_only_for_rl_examples() -> None:
    plain = collate([TokenisedExample([1, 2, 3], [IGNORE, 2, 3])], pad_id=0)
    assert "advantages" not in plain  # the SFT and distillation losses take no weights
    rl = collate(
        [
            TokenisedExample([1, 2, 3], [IGNORE, 2, 3], 0.5),
            TokenisedExample([1, 2], [IGNORE, 2], -0.5),
        ],
        pad_id=0,
    )
    assert rl["advantages"].tolist() == [0.5, -0.5]


def test_a_policy_gradient_step_moves_probability_toward_the_rewarded_program() -> None:
    torch = pytest.importorskip("torch")
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    policy = get_peft_model(
        LlamaForCausalLM(config),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"]),
    )
    prompt = [1, 5, 6]
    good, bad = [7, 8, 2], [9, 10, 2]
    batch = collate(
        [
            TokenisedExample(prompt + good, [IGNORE] * 3 + good, 0.5),
            TokenisedExample(prompt + bad, [IGNORE] * 3 + bad, -0.5),
        ],
        pad_id=0,
    )
    loss_module = policy_gradient_loss_module(policy)

    def logprob(reply: list[int]) -> float:
        with torch.no_grad():
            ids = torch.tensor([prompt + reply])
            logits = policy(input_ids=ids).logits[0, len(prompt) - 1 : -1]
            return float(logits.log_softmax(-1).gather(1, torch.tensor([reply]).T).sum())

    before = logprob(good), logprob(bad)
    optimizer = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.5)
    for _ in range(5):
        loss_module(**batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    after = logprob(good), logprob(bad)
    assert after[0] > before[0] + 0.01
    assert after[1] < before[1] - 0.01


def test_the_clipped_surrogate_stops_pulling_once_a_ratio_leaves_the_range() -> None:
    torch = pytest.importorskip("torch")
    from ponder.training.rl import clipped_surrogate

    old = torch.log(torch.tensor([0.5, 0.5, 0.5, 0.5]))
    # ratios 1.0 and 1.5 for a rewarded token; 1.0 and 0.5 for a penalised one
    new = torch.log(torch.tensor([0.5, 0.75, 0.5, 0.25])).requires_grad_()
    advantage = torch.tensor([1.0, 1.0, -1.0, -1.0])
    clipped_surrogate(new, old, advantage, 0.2).sum().backward()
    assert new.grad is not None
    pulls = new.grad.tolist()
    assert pulls[0] == pytest.approx(1.0)  # in range: the plain gradient (ratio 1, A = 1)
    assert pulls[1] == 0.0  # already 1.5x as likely: no more pull up
    assert pulls[2] == pytest.approx(-1.0)
    assert pulls[3] == 0.0  # already half as likely: no more push down
