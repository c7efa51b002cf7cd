"""The pooled reading of `bench/chart_views.py` (a change tried on the chart reader,
issue 28): one view as drawn is the reader's own reading, and the views it pools are
the training augmentation's two exact choices."""

from __future__ import annotations

import torch

from bench.chart_views import VIEWS, read_pooled
from ponder.multimodal.chart_reader import (
    ChartReader,
    decode_readings,
    normalise,
    raw_pixels,
    read_charts_alone_and_asked,
)
from ponder.multimodal.chart_tasks import make_tasks


def test_one_view_as_drawn_is_the_readers_own_reading() -> None:
    torch.manual_seed(0)
    reader = ChartReader("resnet-light", seed=0).eval()
    tasks = make_tasks(4, "dev", kinds=("bar", "line"))
    pixels = normalise(raw_pixels(tasks))
    with torch.inference_mode():
        own = reader(pixels)
        pooled = read_pooled(reader, pixels, views=((False, (0, 1, 2)),))
        every_view = read_pooled(reader, pixels)
    for head, logits in own.items():
        assert torch.allclose(pooled[head].exp(), logits.softmax(-1), atol=1e-5), head
    # pooled probabilities are probabilities, and decode as a reading
    for head, log_p in every_view.items():
        assert torch.allclose(log_p.exp().sum(-1), torch.ones(()), atol=1e-4), head
    assert len(decode_readings(every_view)) == len(tasks)
    # the hook the bench reads through: the same readings as reading once
    once, _ = read_charts_alone_and_asked(reader, tasks)
    hooked, _ = read_charts_alone_and_asked(
        reader, tasks, reading_pass=lambda r, p: read_pooled(r, p, views=((False, (0, 1, 2)),))
    )
    assert [(r.labels, r.values) for r in hooked] == [(r.labels, r.values) for r in once]


def test_the_views_are_every_channel_order_as_drawn_and_inverted() -> None:
    assert len(VIEWS) == 12 and len(set(VIEWS)) == 12
    assert {inverted for inverted, _ in VIEWS} == {False, True}
    assert all(sorted(order) == [0, 1, 2] for _, order in VIEWS)
