"""The grouped CPU LoRA ops give what vLLM's per-token ops give, for one adapter and for
mixed batches, and the plugin is registered where vLLM looks for it."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import torch
from vllm.lora.ops import torch_ops as original

from ponder.engine import lora_cpu


def _case(tokens: int, mixed: bool, four_d: bool) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(tokens + mixed * 7 + four_d * 3)
    loras, out_dim, in_dim = 3, 24, 16
    weights = torch.randn(loras, out_dim, in_dim, generator=generator)
    if four_d:
        weights = weights.unsqueeze(1)
    inputs = torch.randn(tokens, in_dim, generator=generator)
    if mixed:
        indices = torch.randint(0, loras, (tokens,), generator=generator)
    else:
        indices = torch.full((tokens,), 1)
    return inputs, weights, indices


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("four_d", [False, True])
@pytest.mark.parametrize("tokens", [1, 37])
def test_grouped_ops_equal_vllms(tokens: int, mixed: bool, four_d: bool) -> None:
    inputs, weights, indices = _case(tokens, mixed, four_d)
    for name in ("bgmv_shrink", "bgmv_expand"):
        expected = torch.randn(tokens, 24)
        got = expected.clone()
        extra = (0.5,) if name == "bgmv_shrink" else (True,)
        getattr(original, name)(inputs, weights, expected, indices, *extra)
        getattr(lora_cpu, name)(inputs, weights, got, indices, *extra)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    expected = torch.zeros(tokens, 60)
    got = expected.clone()
    original.bgmv_expand_slice(inputs, weights, expected, indices, 10, 24, True)
    lora_cpu.bgmv_expand_slice(inputs, weights, got, indices, 10, 24, True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_sequence_ops_explode_indices_per_sequence() -> None:
    inputs, weights, _ = _case(9, False, True)
    lengths, per_sequence = torch.tensor([4, 5]), torch.tensor([0, 2])
    expected, got = torch.zeros(9, 24), torch.zeros(9, 24)
    args = (torch.tensor([0, 4]), lengths, per_sequence, 2, 5, 9)
    original.sgmv_expand(inputs, weights, expected, *args, add_inputs=False)
    lora_cpu.sgmv_expand(inputs, weights, got, *args, add_inputs=False)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_the_plugin_is_registered_for_vllm() -> None:
    plugins = {e.name: e.value for e in entry_points(group="vllm.general_plugins")}
    assert plugins.get("ponder-cpu-lora") == "ponder.engine.lora_cpu:register"
