"""The image encoder (ResNet-101 trunk, 7x7 = 49 region vectors of width 2048) and the table
encoder (bidirectional LSTM over the cells, row-major, each cell read with its column
header), plus the learned projections to the decoder's hidden width.

Plain torch (transformers' pure-PyTorch ResNet: torchvision cannot load beside this
torch build). Weights load from files; without them the modules initialise from a fixed
seed, deterministically, and `random_init` says so.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

IMAGE_FEATURE_WIDTH = 2048
IMAGE_REGIONS = 49


def resnet101_config() -> object:
    from transformers import ResNetConfig

    return ResNetConfig(
        depths=[3, 4, 23, 3],
        layer_type="bottleneck",
        hidden_sizes=[256, 512, 1024, 2048],
        embedding_size=64,
    )


class ImageEncoder(nn.Module):
    """[B, 3, 224, 224] normalised pixels -> [B, 49, 2048] region features."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        from transformers import ResNetModel

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.trunk = ResNetModel(resnet101_config())
        self.trunk.eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.trunk(pixel_values=pixels).last_hidden_state  # [B, 2048, 7, 7]
        return features.flatten(2).transpose(1, 2).contiguous()


class TableEncoder(nn.Module):
    """Cells -> per-cell vectors and a table summary.

    Each cell arrives as the mean of the decoder's (frozen) token embeddings of its text
    ("header: value"), so numbers and words keep the decoder's meaning; a learned linear
    map feeds a bidirectional LSTM that reads the cells row-major."""

    def __init__(self, token_width: int, embed_dim: int = 128, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Linear(token_width, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.width = 2 * hidden

    def forward(self, tables: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """tables[b] = [cells_b, token_width]; returns ([cells_b, width] each, [B, width])."""
        sequences = [self.embed(cells) for cells in tables]
        lengths = torch.tensor([len(s) for s in sequences])
        padded = pad_sequence(sequences, batch_first=True)
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        unpacked, _ = pad_packed_sequence(output, batch_first=True)
        per_table = [unpacked[i, : int(n)] for i, n in enumerate(lengths)]
        summary = torch.stack([c.mean(dim=0) for c in per_table])
        return per_table, summary


class Projection(nn.Module):
    """Encoder width -> the decoder's hidden width."""

    def __init__(self, in_width: int, out_width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_width, out_width)
        self.norm = nn.LayerNorm(out_width)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(vectors))
