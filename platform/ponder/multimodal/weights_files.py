"""Trained weights on disk: floating tensors in float16 (the files stay small), and a
version derived from their content, so the same weights always carry the same name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn


def save_half(module: nn.Module, path: Path, prefix: str) -> str:
    """Write `module`'s state to `path` (floating tensors as float16, others as they are)
    and return `prefix-<first 8 hex digits of the state's sha256>`."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().to(torch.float16).contiguous() if v.is_floating_point() else v
        for k, v in module.state_dict().items()
    }
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].numpy().tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return f"{prefix}-{digest.hexdigest()[:8]}"
