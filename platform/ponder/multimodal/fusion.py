"""Cross-modal attention: text token embeddings (queries) attend over image/table vectors
(keys, values), softmax(Q Kᵀ / √d_k) · V per head, and the result is added back to the
text through a learned gate, tanh(gate) ⊙ attention, with the gate starting at 0, so the
fused prompt equals the plain text prompt until the fusion is trained.

The sequence given to the decoder is [modality vectors ; fused text embeddings].
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CrossModalAttention(nn.Module):
    def __init__(self, width: int, heads: int = 8) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.head_width = width // heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.gate = nn.Parameter(torch.zeros(width))

    def attention(
        self,
        text: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        queries: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """text [B, T, W], memory [B, M, W], memory_mask [B, M] (True = real) -> [B, T, W];
        queries [B, T, W]: what each position asks with (default: its own embedding)."""
        batch, length, width = text.shape

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, self.heads, self.head_width).transpose(1, 2)

        asking = text if queries is None else queries
        q, k, v = split(self.query(asking)), split(self.key(memory)), split(self.value(memory))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_width)  # [B, H, T, M]
        if memory_mask is not None:
            scores = scores.masked_fill(~memory_mask[:, None, None, :], float("-inf"))
        mixed = torch.softmax(scores, dim=-1) @ v  # [B, H, T, d_k]
        return self.out(mixed.transpose(1, 2).reshape(batch, length, width))

    def forward(
        self,
        text: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        queries: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mixed = self.attention(text, memory, memory_mask, queries)
        return text + torch.tanh(self.gate) * mixed


def fused_prompt(
    fusion: CrossModalAttention, text: torch.Tensor, memory: torch.Tensor
) -> torch.Tensor:
    """One prompt: text [T, W], memory [M, W] -> [M + T, W] for the decoder."""
    fused = fusion(text[None], memory[None])[0]
    return torch.cat([memory, fused], dim=0)
