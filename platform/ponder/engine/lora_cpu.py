"""Faster LoRA on vLLM's CPU backend (a vLLM general plugin, loaded in every vLLM process).

vLLM 0.32's CPU LoRA ops (`vllm/lora/ops/torch_ops`) gather a copy of the adapter matrix
for every token (`weights[indices]`, then a batched einsum). A 150-token prefill of
gate_proj's B matrix alone copies 150 x 1536 x 16 floats, for every adapted module of
every layer, which made LoRA requests here several times slower than base-model ones
(measured: 76 s vs 25 s per 10 dev problems through the planner).

This plugin computes the same products grouped by adapter: one matmul per distinct
adapter index in the batch (usually one), no per-token copies. Results equal the
original's up to float rounding (tests/unit/test_lora_cpu.py compares them). Registered
as the `vllm.general_plugins` entry point `ponder-cpu-lora` in pyproject.toml; it only
acts on the CPU backend.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_PATCHED = False


def grouped_lora_products(inputs: Any, weights: Any, indices: Any, dtype: Any) -> Any:
    """outputs[t] = weights[indices[t]] @ inputs[t], one matmul per distinct index."""
    import torch

    stacked = weights.squeeze(1) if weights.dim() == 4 else weights  # (loras, out, in)
    inputs = inputs.to(dtype=dtype)
    unique = torch.unique(indices)
    if unique.numel() == 1:
        return inputs @ stacked[int(unique[0])].to(dtype=dtype).transpose(0, 1)
    outputs = inputs.new_empty((inputs.shape[0], stacked.shape[1]))
    for index in unique.tolist():
        rows = indices == index
        outputs[rows] = inputs[rows] @ stacked[index].to(dtype=dtype).transpose(0, 1)
    return outputs


def bgmv_shrink(
    inputs: Any,
    lora_b_weights: Any,
    output_tensor: Any,
    lora_indices_tensor: Any,
    scaling: float = 1.0,
) -> None:
    outputs = grouped_lora_products(
        inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype
    )
    output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]


def bgmv_expand(
    inputs: Any,
    lora_b_weights: Any,
    output_tensor: Any,
    lora_indices_tensor: Any,
    add_inputs: bool = True,
) -> None:
    outputs = grouped_lora_products(
        inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype
    )
    limit = output_tensor.shape[0]
    if outputs.shape[0] == 1 and output_tensor.shape[0] != 1:
        limit = 1
    common_len = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common_len] += outputs[:limit, :common_len]
    else:
        output_tensor[:, :common_len] = outputs[:limit, :common_len]


def bgmv_expand_slice(
    inputs: Any,
    lora_b_weights: Any,
    output_tensor: Any,
    lora_indices_tensor: Any,
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = True,
) -> None:
    outputs = grouped_lora_products(
        inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype
    )
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs[:]
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs[:]


def _exploded(lora_indices_tensor: Any, seq_len_tensor: Any) -> Any:
    import torch

    return torch.repeat_interleave(lora_indices_tensor, seq_len_tensor)


def sgmv_shrink(
    inputs: Any,
    lora_a_weights: Any,
    output_tensor: Any,
    b_seq_start_loc: Any,
    seq_len_tensor: Any,
    lora_indices_tensor: Any,
    batches: int,
    max_seq_length: int,
    token_nums: int,
    scaling: float,
) -> None:
    indices = _exploded(lora_indices_tensor, seq_len_tensor)
    bgmv_shrink(inputs, lora_a_weights, output_tensor, indices, scaling)


def sgmv_expand(
    inputs: Any,
    lora_b_weights: Any,
    output_tensor: Any,
    b_seq_start_loc: Any,
    seq_len_tensor: Any,
    lora_indices_tensor: Any,
    batches: int,
    max_seq_length: int,
    token_nums: int,
    add_inputs: bool = False,
) -> None:
    indices = _exploded(lora_indices_tensor, seq_len_tensor)
    bgmv_expand(inputs, lora_b_weights, output_tensor, indices, add_inputs)


def sgmv_expand_slice(
    inputs: Any,
    lora_b_weights: Any,
    output_tensor: Any,
    b_seq_start_loc: Any,
    seq_len_tensor: Any,
    lora_indices_tensor: Any,
    batches: int,
    max_seq_length: int,
    token_nums: int,
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = False,
) -> None:
    indices = _exploded(lora_indices_tensor, seq_len_tensor)
    bgmv_expand_slice(
        inputs, lora_b_weights, output_tensor, indices, slice_offset, slice_size, add_inputs
    )


REPLACEMENTS = {
    "bgmv_shrink": bgmv_shrink,
    "bgmv_expand": bgmv_expand,
    "bgmv_expand_slice": bgmv_expand_slice,
    "sgmv_shrink": sgmv_shrink,
    "sgmv_expand": sgmv_expand,
    "sgmv_expand_slice": sgmv_expand_slice,
}


def register() -> None:
    """vLLM general-plugin hook: swap the CPU LoRA ops (idempotent; CPU backend only)."""
    global _PATCHED
    if _PATCHED:
        return
    try:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return
        from vllm.lora.ops import torch_ops
        from vllm.lora.punica_wrapper import punica_cpu
    except Exception as error:  # another vLLM build: leave it alone, say so
        log.warning("ponder CPU LoRA ops not installed: %s", error)
        return
    for name, function in REPLACEMENTS.items():
        for module in (torch_ops, punica_cpu):
            if hasattr(module, name):
                setattr(module, name, function)
    _PATCHED = True
