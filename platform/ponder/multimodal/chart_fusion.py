"""Decoder-side fusion over the trained chart reader (issue 28).

The image memory the decoder attends over comes from the chart reader's trained trunk
(`chart_reader.py`), not from an untrained ResNet:

- one vector per category slot: what the reader's label head knows of that slot's strip
  of the chart (its hidden layer, 256 wide), with the reader's label and value
  distributions for the slot beside it;
- one vector for the whole chart: the trunk's pooled 7x7 regions (512 wide, what the
  kind, count, value and axis heads read), with the kind, count and axis distributions.

Each is projected to the decoder's width, and the question's token embeddings attend
over them (`fusion.CrossModalAttention`, gate starting at 0). The decoder gets
[chart ; slots ; fused text], as vLLM's `prompt_embeds`. The reader stays frozen. Trained
in two stages (`ponder train chart-fusion`) on rendered charts' questions and answers:
  1. alignment: the projections and the attention, the decoder frozen (`stage1/`);
  2. instruction tuning: from stage 1, the fusion and a LoRA on the decoder together.
     The LoRA ships beside the fusion (`adapter/`) and the decoder serves it under the
     fusion's version, which Analyze's fused chart requests name.
The fusion reads with the reader it was trained over: the packaged reader, or, once the
reader has been retrained for reading, the copy of its old one kept in `reader/` beside
the fusion (`reader_for_fusion`; the app refuses to start with neither).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ponder.multimodal.chart_reader import (
    AXIS_TOPS,
    KINDS,
    LABELS,
    MIN_CATEGORIES,
    READER_META,
    VALUE_CLASSES,
    ChartReader,
)
from ponder.multimodal.chart_tasks import MAX_CATEGORIES
from ponder.multimodal.encoders import Projection
from ponder.multimodal.fusion import CrossModalAttention, fused_prompt
from ponder.multimodal.weights_files import save_half

SLOT_FEATURES = 256  # chart_slots.SlotLabelHead's hidden width
CHART_FEATURES = 512  # ChartReader.hidden's width
COUNTS = MAX_CATEGORIES - MIN_CATEGORIES + 1
SLOT_INPUT = SLOT_FEATURES + len(LABELS) + VALUE_CLASSES
CHART_INPUT = CHART_FEATURES + len(KINDS) + COUNTS + len(AXIS_TOPS)

WEIGHTS_FILE = "chart_fusion.safetensors"
META_FILE = "chart_fusion.json"
ADAPTER_DIR = "adapter"  # stage 2's LoRA on the decoder, peft layout (vLLM loads it)
OWN_READER_DIR = "reader"  # the reader a fusion was trained over, when not the packaged one
DEFAULT_DIR = Path(__file__).with_name("chart_fusion_weights")  # what Analyze serves
STAGE1_DIR = DEFAULT_DIR / "stage1"  # alignment (decoder frozen): where stage 2 starts


@dataclass(frozen=True)
class ChartMemoryInputs:
    """One chart as the reader saw it: [CHART_INPUT] and [categories, SLOT_INPUT]."""

    chart: torch.Tensor
    slots: torch.Tensor


@torch.no_grad()
def memory_inputs(reader: ChartReader, pixels: torch.Tensor) -> list[ChartMemoryInputs]:
    """Normalised pixels [B, 3, 224, 224] -> each chart's memory inputs (one reader pass;
    as many slots as the reader counts categories)."""
    reader.eval()
    return memory_inputs_of(reader.read_with_features(pixels))


def memory_inputs_of(out: dict[str, torch.Tensor]) -> list[ChartMemoryInputs]:
    """The memory inputs in a `ChartReader.read_with_features` pass."""
    counts = out["count"].argmax(-1) + MIN_CATEGORIES
    chart = torch.cat(
        [
            out["chart_features"],
            out["kind"].softmax(-1),
            out["count"].softmax(-1),
            out["axis_top"].softmax(-1),
        ],
        dim=-1,
    )
    slots = torch.cat(
        [out["slot_features"], out["labels"].softmax(-1), out["values"].softmax(-1)], dim=-1
    )
    return [ChartMemoryInputs(chart[b], slots[b, : int(counts[b])]) for b in range(chart.shape[0])]


class ChartFusion(nn.Module):
    """Projections of the reader's chart and slot vectors into the decoder's width, and
    the cross-modal attention of the question over them."""

    def __init__(
        self, width: int, heads: int = 8, seed: int = 0, question_queries: bool = False
    ) -> None:
        """question_queries: every position asks with its own embedding plus the mean of
        the prompt's (so the positions the answer is written after, the same tokens in
        every prompt, ask about this question); else with its own embedding alone (the
        packaged design: the variant measured no better, BENCHMARKS.md)."""
        super().__init__()
        self.question_queries = question_queries
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.chart_projection = Projection(CHART_INPUT, width)
            self.slot_projection = Projection(SLOT_INPUT, width)
            self.fusion = CrossModalAttention(width, heads)

    def memory(self, inputs: ChartMemoryInputs) -> torch.Tensor:
        """[1 + categories, width]: the chart vector, then one per slot, left to right."""
        chart = self.chart_projection(inputs.chart[None])
        return torch.cat([chart, self.slot_projection(inputs.slots)])

    def prompt(self, text: torch.Tensor, inputs: ChartMemoryInputs) -> torch.Tensor:
        """Text embeddings [T, width] -> the decoder's prompt [1 + categories + T, width]."""
        memory = self.memory(inputs)
        if not self.question_queries:
            return fused_prompt(self.fusion, text, memory)
        queries = text + text.mean(dim=0, keepdim=True)
        fused = self.fusion(text[None], memory[None], queries=queries[None])[0]
        return torch.cat([memory, fused])


def save_fusion(
    fusion: ChartFusion,
    folder: Path,
    meta: dict[str, Any],
    adapter: Callable[[Path], None] | None = None,
) -> str:
    """Write the weights (float16) and `meta` with a version from the weights' digest.
    `adapter` writes stage 2's decoder LoRA into `folder/adapter`; the version then
    covers its weights too, and names the adapter the decoder serves it under."""
    version = save_half(fusion, folder / WEIGHTS_FILE, "chart-fusion")
    adapter_folder = folder / ADAPTER_DIR
    if adapter_folder.exists():
        shutil.rmtree(adapter_folder)
    if adapter is not None:
        adapter(adapter_folder)
        digest = hashlib.sha256(version.encode())
        digest.update((adapter_folder / "adapter_model.safetensors").read_bytes())
        version = f"chart-fusion-{digest.hexdigest()[:8]}"
    meta = {
        "version": version,
        "question_queries": fusion.question_queries,
        "adapter": version if adapter is not None else None,
    } | meta
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return version


def load_fusion(width: int, folder: Path = DEFAULT_DIR) -> tuple[ChartFusion, dict[str, Any]]:
    """The fusion saved in `folder` and its meta: version, the reader it reads, metrics,
    and `adapter`, the name of its decoder LoRA (in `folder/adapter`), or None when the
    fusion was trained against the plain decoder (stage 1)."""
    from safetensors.torch import load_file

    meta = json.loads((folder / META_FILE).read_text())
    meta.setdefault("adapter", None)
    fusion = ChartFusion(width, question_queries=bool(meta.get("question_queries", False)))
    state = load_file(str(folder / WEIGHTS_FILE))
    fusion.load_state_dict({k: v.float() for k, v in state.items()})
    fusion.eval()
    return fusion, meta


def reader_for_fusion(folder: Path, meta: dict[str, Any], reader_version: str) -> Path | None:
    """Where the chart reader a fusion reads with is: None when the fusion was trained over
    `reader_version` (the reader the pool reads charts with), else the copy of its own
    reader kept in the fusion's folder (`reader/`), so that a reader retrained for reading
    never feeds a fusion features it was not trained on. Raises ValueError when neither is
    the fusion's reader."""
    wanted = meta.get("reader")
    if wanted == reader_version:
        return None
    own = folder / OWN_READER_DIR
    if _version_in(own / READER_META) == wanted:
        return own
    raise ValueError(
        f"chart fusion {meta.get('version')} was trained over chart reader {wanted}, but "
        f"the pool reads with {reader_version} and {own} does not hold {wanted}"
    )


def keep_own_reader(folder: Path, reader_dir: Path, packaged_reader_dir: Path) -> bool:
    """Copy the reader a fusion in `folder` was trained over (`reader_dir`) into the
    fusion's `reader/`, unless it is the packaged reader (the pool reads with that one):
    the copy is what `reader_for_fusion` finds when the two differ. Any older copy goes.
    True when a copy was kept (or the fusion was trained over that very copy)."""
    own = folder / OWN_READER_DIR
    if own.exists() and own.resolve() == reader_dir.resolve():
        return True
    if _version_in(packaged_reader_dir / READER_META) == _version_in(reader_dir / READER_META):
        if own.exists():
            shutil.rmtree(own)
        return False
    _replace_copy(reader_dir, own)
    return True


def keep_replaced_reader(folder: Path, reader_dir: Path) -> bool:
    """Before the reader in `reader_dir` is overwritten by a retrained one: if the fusion in
    `folder` was trained over it and holds no copy of it yet, copy it into the fusion's
    `reader/`, so that the fusion goes on reading with it. True when a copy was made."""
    version = _version_in(reader_dir / READER_META)
    fusion_meta = folder / META_FILE
    if version is None or not fusion_meta.exists():
        return False
    if json.loads(fusion_meta.read_text()).get("reader") != version:
        return False
    own = folder / OWN_READER_DIR
    if _version_in(own / READER_META) == version:
        return False
    _replace_copy(reader_dir, own)
    return True


def _replace_copy(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def _version_in(meta: Path) -> str | None:
    return json.loads(meta.read_text()).get("version") if meta.exists() else None
