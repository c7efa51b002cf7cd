"""Everything between raw image/table input and the decoder's prompt embeddings.

- text token embeddings come from the decoder's own embedding table (read from the
  model's safetensors), so a prompt of plain text embeddings reproduces the token prompt;
- image: ResNet-101 regions -> projection; table: BiLSTM cells -> projection;
- fusion: cross-modal attention of the text over those vectors (gate 0 = plain text).

Trainable weights (projections, table encoder, fusion) are versioned files in one folder:
`multimodal.safetensors` + `multimodal.json` (version, what it was trained on, metrics).
The image trunk's weights are a separate file (large, usually pretrained).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ponder.multimodal.encoders import (
    IMAGE_FEATURE_WIDTH,
    ImageEncoder,
    Projection,
    TableEncoder,
)
from ponder.multimodal.fusion import CrossModalAttention, fused_prompt
from ponder.multimodal.inputs import Table

log = logging.getLogger(__name__)

WEIGHTS_FILE = "multimodal.safetensors"
META_FILE = "multimodal.json"
INIT_SEED = 1234


def load_embedding_table(model_dir: Path) -> torch.Tensor:
    """The decoder's input embedding matrix [vocab, hidden] (read-only copy)."""
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                if key.endswith("embed_tokens.weight"):
                    return handle.get_tensor(key).float()
    raise FileNotFoundError(f"no embed_tokens.weight in {model_dir}")


class TrainableParts(nn.Module):
    """The weights `ponder train fusion` fits (the decoder stays frozen)."""

    def __init__(self, width: int, heads: int = 8) -> None:
        super().__init__()
        self.table_encoder = TableEncoder(width)
        self.image_projection = Projection(IMAGE_FEATURE_WIDTH, width)
        self.table_projection = Projection(self.table_encoder.width, width)
        self.fusion = CrossModalAttention(width, heads)


@dataclass
class WeightsInfo:
    version: str
    random_init: bool
    image_trunk_random_init: bool
    meta: dict[str, Any] = field(default_factory=dict)


class MultimodalModel:
    """Encoders + fusion for one decoder model; CPU, inference mode unless training."""

    def __init__(
        self,
        model_dir: Path,
        weights_dir: Path | None = None,
        image_trunk_path: Path | None = None,
        quantize: bool = False,
    ) -> None:
        from tokenizers import Tokenizer
        from transformers import AutoTokenizer

        self.embeddings = load_embedding_table(model_dir)
        self.width = int(self.embeddings.shape[1])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.chat = AutoTokenizer.from_pretrained(str(model_dir))
        with torch.random.fork_rng():
            torch.manual_seed(INIT_SEED)
            self.parts = TrainableParts(self.width)
        self.image_encoder = ImageEncoder(seed=INIT_SEED)
        trunk_random = True
        if image_trunk_path is not None:
            self.image_encoder.trunk.load_state_dict(load_file(str(image_trunk_path)))
            trunk_random = False
        meta: dict[str, Any] = {}
        random_init = True
        if weights_dir is not None and (weights_dir / WEIGHTS_FILE).is_file():
            stored = load_file(str(weights_dir / WEIGHTS_FILE))
            self.parts.load_state_dict({k: v.float() for k, v in stored.items()})
            meta = json.loads((weights_dir / META_FILE).read_text())
            random_init = False
        version = meta.get("version") or f"init-{INIT_SEED}"
        self.info = WeightsInfo(version, random_init, trunk_random, meta)
        if random_init or trunk_random:
            log.warning(
                "MULTIMODAL WEIGHTS NOT TRAINED: %s%s initialised from seed %d; image/table "
                "answers will not be meaningful until `ponder train fusion` weights (and a "
                "pretrained image trunk) are configured",
                "fusion/projections" if random_init else "",
                (" and image trunk" if random_init else "image trunk") if trunk_random else "",
                INIT_SEED,
            )
        self.parts.eval()
        if quantize:
            # Dynamic int8 covers Linear and LSTM layers: projections, table encoder,
            # fusion. The ResNet trunk is convolutions, which dynamic quantisation does
            # not touch.
            self.parts = torch.ao.quantization.quantize_dynamic(
                self.parts, {nn.Linear, nn.LSTM}, dtype=torch.qint8
            )

    # -- encoders --------------------------------------------------------------------------

    @torch.no_grad()
    def image_regions(self, pixels: list[np.ndarray]) -> torch.Tensor:
        """Preprocessed images -> raw region features [B, 49, 2048] (one trunk pass)."""
        return self.image_encoder(torch.from_numpy(np.stack(pixels)))

    def project_image(self, regions: torch.Tensor) -> torch.Tensor:
        return self.parts.image_projection(regions)

    def table_tokens(self, table: Table) -> list[list[int]]:
        """Token ids per cell, row-major; header cells first, each body cell read as
        "header: value" so its column travels with it."""
        texts = [f"{c}:" for c in table.columns]
        texts += [
            f"{c}: {v}" for row in table.rows for c, v in zip(table.columns, row, strict=True)
        ]
        return [self.tokenizer.encode(t, add_special_tokens=False).ids or [0] for t in texts]

    def cell_embeddings(self, table: Table) -> torch.Tensor:
        """[cells, W]: each cell's mean decoder token embedding."""
        return torch.stack([self.embeddings[ids].mean(dim=0) for ids in self.table_tokens(table)])

    def encode_tables(self, tables: list[Table]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """-> projected cell vectors per table [cells, W] and summaries [B, W]."""
        cells, summary = self.parts.table_encoder([self.cell_embeddings(t) for t in tables])
        projection = self.parts.table_projection
        return [projection(c) for c in cells], projection(summary)

    # -- prompts -----------------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat-templated prompt, as the decoder would tokenise it."""
        ids: Any = self.chat.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=True
        )
        if not isinstance(ids, list):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def text_embeddings(self, ids: list[int]) -> torch.Tensor:
        return self.embeddings[torch.tensor(ids, dtype=torch.long)]

    def prompt_embeddings(self, ids: list[int], memory: torch.Tensor | None) -> torch.Tensor:
        """[M + T, W] for vLLM's prompt_embeds; plain text embeddings when no memory."""
        text = self.text_embeddings(ids)
        if memory is None or memory.shape[0] == 0:
            return text
        return fused_prompt(self.parts.fusion, text, memory)


def save_weights(parts: TrainableParts, folder: Path, meta: dict[str, Any]) -> str:
    """Write the trainable weights with a content-derived version; returns the version."""
    folder.mkdir(parents=True, exist_ok=True)
    # float16 on disk (half the size); loaded back as float32.
    state = {k: v.detach().half().contiguous() for k, v in parts.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    digest = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()[:8]
    version = f"fusion-{digest}"
    (folder / META_FILE).write_text(json.dumps(meta | {"version": version}, indent=2) + "\n")
    return version
