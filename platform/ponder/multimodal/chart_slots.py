"""Reading each category's label where it is written (issue 28).

A chart's category labels sit in a strip under or over the plot, one centred on each
category's slot, and the slots divide the plot's width evenly. So the label of slot *i*
of *c* is read from the trunk's feature maps pooled over that slot's columns (every row
kept, so the head can find the strip above or below), by one head shared by every slot:
each label seen anywhere teaches the same reader, instead of one classifier per slot
reading the whole chart.

The decoding then uses what labels are: month labels run on from one month
(Jan, Feb, Mar …), item labels never repeat. The reading is the most likely labelling of
either kind; given a question about the chart, the most likely one that shows the labels
the question names (a reader looking for the "Jul" bar reads the axis knowing it is
there).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ponder.multimodal.chart_tasks import ITEMS, MAX_CATEGORIES, MONTHS, SIZE

# The plot's horizontal extent in the rendered charts (`chart_tasks.plot_area`): its left
# edge moves with the font size (26-38 px), its right edge is fixed; the nominal left edge
# is the middle of that range and the Gaussian pooling below is wide enough for the rest.
PLOT_LEFT = 32.0
PLOT_RIGHT = float(SIZE - 8)


def slot_weights(categories: int, columns: int, slots: int = MAX_CATEGORIES) -> torch.Tensor:
    """[slots, columns]: how much each feature column counts towards each slot of a chart
    with `categories` categories (a Gaussian around the slot's centre, half a slot wide,
    normalised; rows past `categories` are zero)."""
    width = (PLOT_RIGHT - PLOT_LEFT) / categories
    stride = SIZE / columns
    centres = (torch.arange(columns, dtype=torch.float32) + 0.5) * stride
    out = torch.zeros(slots, columns)
    for slot in range(categories):
        middle = PLOT_LEFT + (slot + 0.5) * width
        weights = torch.exp(-0.5 * ((centres - middle) / (width / 2)) ** 2)
        out[slot] = weights / weights.sum()
    return out


class SlotLabelHead(nn.Module):
    """Per-slot label logits from two feature maps of the trunk (finer, coarser), pooled
    over each slot's columns; one MLP shared by all slots."""

    def __init__(
        self,
        fine: tuple[int, int],
        coarse: tuple[int, int],
        labels: int,
        min_categories: int,
        hidden: int = 256,
    ) -> None:
        """fine, coarse: (channels, side) of the two maps; labels: label classes."""
        super().__init__()
        self.min_categories = min_categories
        counts = range(min_categories, MAX_CATEGORIES + 1)
        for name, (_, side) in (("fine", fine), ("coarse", coarse)):
            masks = torch.stack([slot_weights(c, side) for c in counts])
            self.register_buffer(f"{name}_masks", masks, persistent=False)
        self.refine = nn.Sequential(nn.Conv2d(fine[0], fine[0], 3, padding=1), nn.ReLU())
        features = fine[0] * fine[1] + coarse[0] * coarse[1]
        self.mlp = nn.Sequential(
            nn.LayerNorm(features),
            nn.Linear(features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, labels),
        )

    def forward(
        self, fine: torch.Tensor, coarse: torch.Tensor, categories: torch.Tensor
    ) -> torch.Tensor:
        """fine [B, C1, S1, S1], coarse [B, C2, S2, S2], categories [B] (each chart's
        number of categories) -> [B, MAX_CATEGORIES, labels]."""
        return self.mlp[-1](self.slot_features(fine, coarse, categories))

    def slot_features(
        self, fine: torch.Tensor, coarse: torch.Tensor, categories: torch.Tensor
    ) -> torch.Tensor:
        """What the head knows of each slot's strip of the chart: [B, MAX_CATEGORIES,
        hidden], the shared MLP's hidden layer (its labels are a linear read-out of it)."""
        index = (categories - self.min_categories).clamp(0, MAX_CATEGORIES - self.min_categories)
        fine_masks: torch.Tensor = self.fine_masks[index]  # type: ignore[index]
        coarse_masks: torch.Tensor = self.coarse_masks[index]  # type: ignore[index]
        pooled_fine = torch.einsum("bchw,bsw->bsch", self.refine(fine), fine_masks)
        pooled_coarse = torch.einsum("bchw,bsw->bsch", coarse, coarse_masks)
        slots = torch.cat([pooled_fine.flatten(2), pooled_coarse.flatten(2)], dim=-1)
        hidden: torch.Tensor = self.mlp[:-1](slots)
        return hidden


Labelling = tuple[float, list[int]]  # (log-probability, label index per slot)


def _month_runs(log_probs: torch.Tensor, months: list[int], required: set[int]) -> list[Labelling]:
    """Every run of consecutive months holding each `required` label, with its score."""
    count = log_probs.shape[0]
    runs = [months[start : start + count] for start in range(len(months) - count + 1)]
    return [
        (float(log_probs[torch.arange(count), torch.tensor(run)].sum()), run)
        for run in runs
        if required <= set(run)
    ]


def _distinct_items(
    log_probs: torch.Tensor, items: list[int], required: set[int]
) -> Labelling | None:
    """Distinct items, greedily: each `required` label first (surest first) to its likeliest
    free slot, then every other slot, surest first, to its likeliest unused item."""
    count = log_probs.shape[0]
    if not required <= set(items) or len(required) > count:
        return None
    chosen: dict[int, int] = {}
    for label in sorted(required, key=lambda j: -float(log_probs[:, j].max())):
        free = [s for s in range(count) if s not in chosen]
        chosen[max(free, key=lambda s: float(log_probs[s, label]))] = label
    scores = log_probs[:, items]
    for slot in scores.max(-1).values.argsort(descending=True).tolist():
        if slot in chosen:
            continue
        used = set(chosen.values())
        chosen[slot] = next(
            items[j] for j in scores[slot].argsort(descending=True).tolist() if items[j] not in used
        )
    labels = [chosen[s] for s in range(count)]
    return float(log_probs[torch.arange(count), torch.tensor(labels)].sum()), labels


def decode_labels(
    log_probs: torch.Tensor, labels: tuple[str, ...], named: tuple[str, ...] = ()
) -> tuple[list[int], list[float]]:
    """The most likely labelling of a chart's shown slots (`log_probs` [c, len(labels)]):
    consecutive months from some month, or distinct items, whichever scores higher. With
    `named` (the labels a question about the chart names), only labellings that show all
    of them are considered, when there is one.

    Returns label indices and, per slot, how sure the labelling is of it: the probability
    of its label among the labellings considered (each slot's label probabilities taken as
    independent; item labellings counted with repeats, so an item reading's sureness is
    a lower bound). A run of months is as sure as the run, however unsure its slots are
    one by one; an item the question names is as sure as its slot is the likeliest of
    the slots to show it."""
    months = [labels.index(m) for m in MONTHS]
    items = [labels.index(i) for i in ITEMS]
    count = log_probs.shape[0]
    for required in ({labels.index(n) for n in named if n in labels}, set()):
        runs = _month_runs(log_probs, months, required)
        item_reading = _distinct_items(log_probs, items, required)
        if not runs and item_reading is None:
            continue
        item_mass = torch.logsumexp(log_probs[:, items], dim=-1)  # [c]
        scores = [score for score, _ in runs]
        scores += [float(item_mass.sum())] if item_reading is not None else []
        total = float(torch.logsumexp(torch.tensor(scores), dim=0))
        best = max([*runs, *([item_reading] if item_reading else [])], key=lambda h: h[0])
        if item_reading is not None and best is item_reading:
            share = float(item_mass.sum()) - total
            relative = log_probs[:, best[1]] - item_mass[:, None]  # [slot, chosen label]
            sure = [math.exp(share + float(relative[s, s])) for s in range(count)]
            for slot, label in enumerate(best[1]):
                if label in required:  # shown somewhere: which slot is the question
                    sure[slot] = math.exp(share + float(relative[:, slot].softmax(0)[slot].log()))
            return best[1], sure
        return best[1], [math.exp(best[0] - total)] * count
    top = log_probs.max(-1)
    return [int(i) for i in top.indices], [math.exp(float(v)) for v in top.values]
