"""Does reading a chart under several photometric views, and pooling what the heads say,
read the style-shifted charts better? (A change tried on the chart reader of issue 28;
not adopted: see BENCHMARKS.md, "Reading charts".)

The chart reader was trained on photometrically augmented charts (`chart_reader.augment`:
inverted half the time, colour channels permuted half the time). A chart in a style it
never saw (a dark background, an unseen palette) can be read well in one of those views
and badly in another; reading it once, as drawn, bets everything on one view. Here the
chart is read in every view of that augmentation's two exact choices — each of the six
orders of its colour channels, as drawn and inverted (12 views) — and each head's
probabilities are averaged over the views. The number of categories is agreed first
(the mean of the count head), so that every view reads its labels in the same slots.

The views are the training augmentation's own choices, fixed before any held-out
chart was read with them; none is a choice of any style family.

Run:  .venv/bin/python bench/chart_views.py   (about 10 minutes: it renders the reader
      job's 12 000 training charts again, for the same held-out sets and majority class)
Both ways read the packaged reader's dev and style-shifted sets (`make_splits` as
`ponder train chart-reader` draws them) and the ten shifted charts of the Analyze test,
alternating which goes first; the reading time of each is measured in the same run.
Written to bench/results/chart_views.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ponder.multimodal.chart_reader import (  # noqa: E402
    _MEAN,
    _STD,
    MIN_CATEGORIES,
    VALUE_CLASSES,
    ChartReader,
)
from ponder.multimodal.chart_tasks import MAX_CATEGORIES  # noqa: E402

# (inverted, channel order) for every view read.
VIEWS: tuple[tuple[bool, tuple[int, ...]], ...] = tuple(
    (inverted, order) for inverted in (False, True) for order in itertools.permutations(range(3))
)


def _view(unit: torch.Tensor, inverted: bool, order: tuple[int, ...]) -> torch.Tensor:
    """One view of charts in [0, 1], normalised as the reader expects."""
    x = 1.0 - unit if inverted else unit
    return (x[:, list(order)] - _MEAN) / _STD


def read_pooled(
    reader: ChartReader,
    pixels: torch.Tensor,
    views: tuple[tuple[bool, tuple[int, ...]], ...] = VIEWS,
) -> dict[str, torch.Tensor]:
    """The reader's outputs for normalised `pixels` [B, 3, H, W], each head's probabilities
    averaged over `views` and returned as log-probabilities (so `decode_readings`, which
    takes a softmax, reads the pooled probabilities). Call under `torch.inference_mode`."""
    unit = (pixels * _STD + _MEAN).clamp(0.0, 1.0)
    per_view = []
    for inverted, order in views:
        out = reader.trunk(pixel_values=_view(unit, inverted, order), output_hidden_states=True)
        stages = out.hidden_states
        h = reader.hidden(torch.relu(reader.reduce(out.last_hidden_state)))
        per_view.append((h, stages[-3], stages[-2]))
    batch = pixels.shape[0]
    count = torch.stack([reader.count(h).softmax(-1) for h, _, _ in per_view]).mean(0)
    categories = count.argmax(-1) + MIN_CATEGORIES
    sums: dict[str, torch.Tensor] = {}
    for h, fine, coarse in per_view:
        slots = reader.labels.slot_features(fine, coarse, categories)
        logits = {
            "kind": reader.kind(h),
            "labels": reader.labels.mlp[-1](slots),
            "values": reader.values(h).view(batch, MAX_CATEGORIES, VALUE_CLASSES),
            "axis_top": reader.axis_top(h),
        }
        for name, value in logits.items():
            probabilities = value.softmax(-1)
            sums[name] = sums[name] + probabilities if name in sums else probabilities
    pooled = {name: (total / len(per_view)).clamp_min(1e-12).log() for name, total in sums.items()}
    pooled["count"] = count.clamp_min(1e-12).log()
    return pooled


def _answers(metrics: dict[str, Any], kind: str) -> dict[str, int]:
    rows = [row for name, row in metrics["answers"].items() if name.startswith(kind + "/")]
    return {key: sum(row[key] for row in rows) for key in ("n", "read", "answered", "majority")}


def _ten_charts(reader: ChartReader, reading_pass: Any) -> dict[str, int]:
    from ponder.multimodal.chart_questions import answer_question
    from ponder.multimodal.chart_reader import read_charts_alone_and_asked
    from ponder.multimodal.chart_tasks import answer_is_right, make_tasks

    tasks = make_tasks(10, "test", seed=2026, balanced=True, kinds=("bar", "line"))
    _, asked = read_charts_alone_and_asked(reader, tasks, reading_pass=reading_pass)
    right = sure_right = 0
    for task, reading in zip(tasks, asked, strict=True):
        answer = answer_question(task.question, reading)
        ok = answer is not None and answer_is_right(task, answer.answer)
        right += ok
        sure_right += ok and answer is not None and answer.confidence >= 0.5
    return {"n": len(tasks), "right": right, "right_and_sure": sure_right}


def main() -> int:
    from ponder.multimodal.chart_evaluation import evaluate_reader, majority_answers
    from ponder.multimodal.chart_reader import load_reader, read_once
    from ponder.multimodal.chart_tasks import make_splits

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=12_000)
    parser.add_argument("--held-out", type=int, default=600, dest="held_out")
    args = parser.parse_args()
    started = time.monotonic()
    train, dev, test = make_splits(args.train, args.held_out, args.held_out, 0, ("bar", "line"))
    print(f"[chart_views] rendered in {time.monotonic() - started:.0f} s", file=sys.stderr)
    reader, meta = load_reader()
    majority = majority_answers(train)
    ways = {"as drawn": read_once, f"pooled over {len(VIEWS)} views": read_pooled}
    result: dict[str, Any] = {"reader": meta["version"], "views": len(VIEWS), "splits": {}}
    for index, (split, tasks) in enumerate((("dev", dev), ("test_style_shifted", test))):
        order = list(ways.items()) if index % 2 == 0 else list(ways.items())[::-1]
        rows: dict[str, Any] = {}
        for name, reading_pass in order:
            began = time.monotonic()
            metrics = evaluate_reader(reader, tasks, majority, 0.5, reading_pass=reading_pass)
            rows[name] = {
                "seconds": round(time.monotonic() - began, 1),
                "reading": metrics["reading"],
                "bar": _answers(metrics, "bar"),
                "line": _answers(metrics, "line"),
            }
            print(f"[chart_views] {split}, {name}: {rows[name]}", file=sys.stderr, flush=True)
        result["splits"][split] = {name: rows[name] for name in ways}
    result["ten_shifted_charts"] = {name: _ten_charts(reader, way) for name, way in ways.items()}
    out = ROOT / "bench" / "results" / "chart_views.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ten_shifted_charts"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
