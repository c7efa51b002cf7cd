"""An image trunk trained from scratch to read charts (issue 28, "encoders that learn").

No pretrained weights can be fetched here, so the trunk learns from rendered charts
(`chart_tasks.py`) with supervised targets for what a chart shows: its kind, how many
categories, each category's label and each one's value (to the chart's step of 5), and
the axis' top. Those targets are the chart's data, so a trunk that gets them right has
read the chart. Analyze answers chart questions from these readings
(`deployments/analyze_path.py`); feeding the trained trunk's regions to the decoder-side
fusion is not done yet.

The trunk is transformers' ResNet in two sizes through the same code: `resnet101` (the
seed's production trunk, 2048 channels) and `resnet-light` (basic blocks, 256 channels,
for CPU development).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ponder.multimodal.chart_questions import ChartReading, named_labels
from ponder.multimodal.chart_slots import SlotLabelHead, decode_labels
from ponder.multimodal.chart_tasks import ITEMS, MAX_CATEGORIES, MONTHS, ChartTask
from ponder.multimodal.inputs import IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD
from ponder.multimodal.weights_files import save_half

LABELS: tuple[str, ...] = (*MONTHS, *ITEMS)
VALUE_STEP = 5
VALUE_CLASSES = 100 // VALUE_STEP + 1  # 0, 5, ..., 100
KINDS = ("bar", "line")
MIN_CATEGORIES = 4
AXIS_TOPS = (50, 100)

TRUNKS: dict[str, dict[str, Any]] = {
    "resnet101": {
        "layer_type": "bottleneck",
        "depths": [3, 4, 23, 3],
        "hidden_sizes": [256, 512, 1024, 2048],
        "embedding_size": 64,
    },
    "resnet-light": {
        "layer_type": "basic",
        "depths": [1, 1, 2, 1],
        "hidden_sizes": [32, 64, 128, 256],
        "embedding_size": 32,
    },
}


def trunk_width(name: str) -> int:
    return int(TRUNKS[name]["hidden_sizes"][-1])


def build_trunk(name: str, seed: int = 0) -> nn.Module:
    """A ResNet trunk by name, initialised from `seed` (deterministic)."""
    from transformers import ResNetConfig, ResNetModel

    if name not in TRUNKS:
        raise ValueError(f"unknown image trunk {name!r}; known: {', '.join(TRUNKS)}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ResNetModel(ResNetConfig(**TRUNKS[name]))


@dataclass(frozen=True)
class ReadingTargets:
    """One batch's targets; slots past a chart's count are -100 (ignored)."""

    kind: torch.Tensor  # [B]
    count: torch.Tensor  # [B], categories - MIN_CATEGORIES
    labels: torch.Tensor  # [B, MAX_CATEGORIES]
    values: torch.Tensor  # [B, MAX_CATEGORIES], value // VALUE_STEP
    axis_top: torch.Tensor  # [B]

    @classmethod
    def of(cls, tasks: Sequence[ChartTask]) -> ReadingTargets:
        labels = torch.full((len(tasks), MAX_CATEGORIES), -100, dtype=torch.long)
        values = torch.full((len(tasks), MAX_CATEGORIES), -100, dtype=torch.long)
        for row, task in enumerate(tasks):
            for slot, (label, value) in enumerate(zip(task.labels, task.values, strict=True)):
                labels[row, slot] = LABELS.index(label)
                values[row, slot] = value // VALUE_STEP
        return cls(
            kind=torch.tensor([KINDS.index(t.kind) for t in tasks]),
            count=torch.tensor([len(t.values) - MIN_CATEGORIES for t in tasks]),
            labels=labels,
            values=values,
            axis_top=torch.tensor([0 if max(t.values) <= 50 else 1 for t in tasks]),
        )


class ChartReader(nn.Module):
    """Trunk -> 7x7 regions -> heads for kind, count, per-slot value and axis top; each
    slot's label is read where it is written (`chart_slots.SlotLabelHead`, from the
    trunk's 28x28 and 14x14 maps pooled over the slot's columns).

    The global heads read the flattened region map through a small bottleneck, so each
    slot's value head knows where on the chart a region is."""

    def __init__(self, trunk: str = "resnet-light", seed: int = 0) -> None:
        super().__init__()
        self.trunk_name = trunk
        self.trunk = build_trunk(trunk, seed)
        sizes = TRUNKS[trunk]["hidden_sizes"]
        with torch.random.fork_rng():
            torch.manual_seed(seed + 1)
            self.reduce = nn.Conv2d(trunk_width(trunk), 32, kernel_size=1)
            self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(32 * 49, 512), nn.ReLU())
            slots = MAX_CATEGORIES
            self.kind = nn.Linear(512, len(KINDS))
            self.count = nn.Linear(512, MAX_CATEGORIES - MIN_CATEGORIES + 1)
            self.labels = SlotLabelHead(
                (sizes[1], IMAGE_SIZE // 8), (sizes[2], IMAGE_SIZE // 16), len(LABELS),
                MIN_CATEGORIES,
            )  # fmt: skip
            self.values = nn.Linear(512, slots * VALUE_CLASSES)
            self.axis_top = nn.Linear(512, len(AXIS_TOPS))

    def forward(
        self, pixels: torch.Tensor, categories: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """categories: each chart's number of categories, where known (training); else the
        count head's reading places the label slots."""
        outputs = self.read_with_features(pixels, categories)
        del outputs["chart_features"], outputs["slot_features"]
        return outputs

    def read_with_features(
        self, pixels: torch.Tensor, categories: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The heads' logits (as `forward`) and what they are read from:
        `chart_features` [B, 512] (the whole chart) and `slot_features`
        [B, MAX_CATEGORIES, 256] (each category's strip), for the decoder-side fusion."""
        out = self.trunk(pixel_values=pixels, output_hidden_states=True)
        stages = out.hidden_states  # embeddings, then each stage: 56, 56, 28, 14, 7
        h = self.hidden(torch.relu(self.reduce(out.last_hidden_state)))
        batch = pixels.shape[0]
        count = self.count(h)
        if categories is None:
            categories = count.argmax(-1) + MIN_CATEGORIES
        slots = self.labels.slot_features(stages[-3], stages[-2], categories)
        return {
            "kind": self.kind(h),
            "count": count,
            "labels": self.labels.mlp[-1](slots),
            "values": self.values(h).view(batch, MAX_CATEGORIES, VALUE_CLASSES),
            "axis_top": self.axis_top(h),
            "chart_features": h,
            "slot_features": slots,
        }


def reading_loss(outputs: dict[str, torch.Tensor], targets: ReadingTargets) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    return (
        ce(outputs["kind"], targets.kind)
        + ce(outputs["count"], targets.count)
        + ce(outputs["labels"].flatten(0, 1), targets.labels.flatten(), ignore_index=-100)
        + ce(outputs["values"].flatten(0, 1), targets.values.flatten(), ignore_index=-100)
        + ce(outputs["axis_top"], targets.axis_top)
    )


def decode_readings(
    outputs: dict[str, torch.Tensor], named: Sequence[tuple[str, ...]] | None = None
) -> list[ChartReading]:
    """The most likely reading of each chart, with its confidence: the least probability
    among the choices it is made of (kind, count, and each shown category's label and
    value; a label's probability is that of the labelling it belongs to). Labels are
    decoded together (`chart_slots.decode_labels`: a run of months or distinct items),
    showing the labels `named[b]` (what a question about chart b names) where the chart
    can."""
    probabilities = {name: logits.softmax(-1) for name, logits in outputs.items()}
    best = {name: p.max(-1) for name, p in probabilities.items()}
    kinds, counts = best["kind"].indices.tolist(), best["count"].indices.tolist()
    values = best["values"].indices.tolist()
    tops = best["axis_top"].indices.tolist()
    out = []
    for b, kind in enumerate(kinds):
        shown = counts[b] + MIN_CATEGORIES
        log_probs = probabilities["labels"][b, :shown].clamp_min(1e-12).log()
        labels, label_sure = decode_labels(log_probs, LABELS, named[b] if named else ())
        frame = min(float(best["kind"].values[b]), float(best["count"].values[b]))
        value_sure = best["values"].values[b, :shown]
        out.append(
            ChartReading(
                kind=KINDS[kind],
                labels=tuple(LABELS[i] for i in labels),
                values=tuple(int(v) * VALUE_STEP for v in values[b][:shown]),
                axis_top=AXIS_TOPS[tops[b]],
                confidence=min(frame, *label_sure, float(value_sure.min())),
                frame_sure=frame,
                label_sure=tuple(label_sure),
                value_sure=tuple(value_sure.tolist()),
            )
        )
    return out


def raw_pixels(tasks: Sequence[ChartTask]) -> torch.Tensor:
    """The tasks' images as one uint8 batch [B, 3, 224, 224] (a quarter of float32's
    memory: a training set is kept this way and normalised batch by batch)."""
    arrays = []
    for task in tasks:
        image = Image.open(io.BytesIO(task.image or b"")).convert("RGB")
        if image.size != (IMAGE_SIZE, IMAGE_SIZE):
            image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays))


_MEAN = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)


def normalise(raw: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> the normalised float input `preprocess_image` makes."""
    return (raw.float() / 255.0 - _MEAN) / _STD


def augment(raw: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Generic photometric changes for training, none of them a choice of any style
    family: each chart independently inverted (half of them: light on dark), its colour
    channels permuted (half), contrast and brightness jittered, Gaussian noise of up to
    10 levels added. Returns the normalised batch."""
    x = raw.float() / 255.0
    batch = x.shape[0]

    def coin(p: float) -> torch.Tensor:
        return (torch.rand(batch, generator=generator) < p).view(batch, 1, 1, 1)

    x = torch.where(coin(0.5), 1.0 - x, x)
    orders = torch.stack([torch.randperm(3, generator=generator) for _ in range(batch)])
    permuted = torch.stack([x[i, orders[i]] for i in range(batch)])
    x = torch.where(coin(0.5), permuted, x)
    contrast = 0.7 + 0.6 * torch.rand(batch, 1, 1, 1, generator=generator)
    brightness = 0.3 * torch.rand(batch, 1, 1, 1, generator=generator) - 0.15
    x = (x - 0.5) * contrast + 0.5 + brightness
    sigma = 10.0 / 255.0 * torch.rand(batch, 1, 1, 1, generator=generator)
    x = x + sigma * torch.randn(x.shape, generator=generator)
    return (x.clamp(0.0, 1.0) - _MEAN) / _STD


@dataclass(frozen=True)
class ReadingScore:
    """How much of the held-out charts a reader got right."""

    charts: int
    kind: int  # charts whose kind was right
    count: int  # charts whose number of categories was right
    labels: int  # slots whose label was right (of `slots`)
    values: int  # slots whose value was right, to the step (of `slots`)
    slots: int
    whole: int  # charts read entirely right: kind, every label, every value

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def score_readings(tasks: Sequence[ChartTask], readings: Sequence[ChartReading]) -> ReadingScore:
    kind = count = labels = values = slots = whole = 0
    for task, reading in zip(tasks, readings, strict=True):
        kind += reading.kind == task.kind
        count += len(reading.values) == len(task.values)
        slots += len(task.values)
        label_hits = sum(a == b for a, b in zip(reading.labels, task.labels, strict=False))
        value_hits = sum(a == b for a, b in zip(reading.values, task.values, strict=False))
        labels += label_hits
        values += value_hits
        whole += (
            reading.kind == task.kind
            and reading.labels == task.labels
            and reading.values == task.values
        )
    return ReadingScore(len(tasks), kind, count, labels, values, slots, whole)


def read_charts(
    reader: ChartReader, tasks: Sequence[ChartTask], batch_size: int = 64
) -> list[ChartReading]:
    """Each task's chart read on its own."""
    return read_charts_alone_and_asked(reader, tasks, batch_size)[0]


ReadOutputs = Callable[["ChartReader", torch.Tensor], dict[str, torch.Tensor]]


def read_once(reader: ChartReader, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The heads' logits for the charts as drawn (one view)."""
    outputs: dict[str, torch.Tensor] = reader(pixels)
    return outputs


def read_charts_alone_and_asked(
    reader: ChartReader,
    tasks: Sequence[ChartTask],
    batch_size: int = 64,
    reading_pass: ReadOutputs = read_once,
) -> tuple[list[ChartReading], list[ChartReading]]:
    """Each task's chart read on its own, and read knowing the labels its question names
    (as Analyze reads a chart it was asked about): one pass of the reader (`reading_pass`: as
    drawn, or `read_pooled` of bench/chart_views.py over several views), decoded twice."""
    reader.eval()
    alone: list[ChartReading] = []
    asked: list[ChartReading] = []
    with torch.inference_mode():
        for start in range(0, len(tasks), batch_size):
            chunk = tasks[start : start + batch_size]
            outputs = reading_pass(reader, normalise(raw_pixels(chunk)))
            alone += decode_readings(outputs)
            asked += decode_readings(outputs, [named_labels(t.question, LABELS) for t in chunk])
    return alone, asked


def warmup_cosine(optimiser: torch.optim.Optimizer, steps: int) -> Any:
    """The readers' schedule: a linear warm-up over the first tenth of `steps`, then a
    cosine decay to zero."""
    warmup = max(1, steps // 10)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, rate)


def train_reader(
    reader: ChartReader,
    raw: torch.Tensor,
    targets: ReadingTargets,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    say: Callable[[str], None],
    augmented: bool = True,
) -> list[float]:
    """AdamW, warmed up over the first tenth of the steps and then cosine-decayed, on
    `augment`ed batches (unless `augmented` is false); returns each epoch's mean loss."""
    generator = torch.Generator().manual_seed(seed)
    steps = epochs * ((len(raw) + batch_size - 1) // batch_size)
    optimiser = torch.optim.AdamW(reader.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = warmup_cosine(optimiser, steps)
    losses = []
    for epoch in range(epochs):
        reader.train()
        order = torch.randperm(len(raw), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = ReadingTargets(
                *(getattr(targets, f)[index] for f in ReadingTargets.__dataclass_fields__)
            )
            pixels = augment(raw[index], generator) if augmented else normalise(raw[index])
            loss = reading_loss(reader(pixels, batch.count + MIN_CATEGORIES), batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total, batches = total + loss.item(), batches + 1
        losses.append(total / batches)
        say(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.3f}")
    return losses


# -- the trained reader, versioned beside its metrics ---------------------------------------

READER_WEIGHTS = "reader.safetensors"
READER_META = "reader.json"
DEFAULT_READER_DIR = Path(__file__).with_name("chart_reader_weights")


def save_reader(reader: ChartReader, folder: Path, meta: dict[str, Any]) -> str:
    """Write the weights (float16: the file stays small; reading is unchanged at this
    precision, see the metrics) and `meta` with a version from the weights' digest."""
    version = save_half(reader, folder / READER_WEIGHTS, f"reader-{reader.trunk_name}")
    (folder / READER_META).write_text(
        json.dumps({"version": version, "trunk": reader.trunk_name} | meta, indent=2) + "\n"
    )
    return version


def load_reader(folder: Path = DEFAULT_READER_DIR) -> tuple[ChartReader, dict[str, Any]]:
    """The reader saved in `folder` and its meta (version, trunk, metrics)."""
    from safetensors.torch import load_file

    meta = json.loads((folder / READER_META).read_text())
    reader = ChartReader(meta["trunk"])
    state = load_file(str(folder / READER_WEIGHTS))
    reader.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    reader.eval()
    return reader, meta
