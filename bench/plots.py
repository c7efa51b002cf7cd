"""PNG plots of the benchmark results, beside their tables in BENCHMARKS.md and
RELIABILITY.md, drawn with matplotlib's Agg backend (no display).

Each plot reads one result file, extracts the series it draws (`data`), and draws them
(`draw`); those functions live in bench/plot_quality.py (answer quality) and
bench/plot_serving.py (serving). `python -m bench` writes bench/plots/<name>.png and,
beside it, <name>.json with the series, so tests/unit/test_benchmarks_in_sync.py can check
that a committed plot was drawn from the committed results, as it does for the tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plot_quality import (
    draw_fusion,
    draw_learning,
    draw_methods,
    draw_reasoning_curve,
    fusion_data,
    learning_data,
    methods_data,
    reasoning_curve_data,
)
from bench.plot_serving import (
    autoscaling_data,
    decoder_data,
    draw_autoscaling,
    draw_decoder,
    draw_encoder,
    draw_http_vs_grpc,
    draw_overload,
    draw_planner,
    draw_pruning,
    draw_student,
    encoder_data,
    http_vs_grpc_data,
    overload_data,
    planner_data,
    pruning_data,
    student_data,
)

ROOT = Path(__file__).resolve().parents[1]
PLOTS_DIR = ROOT / "bench" / "plots"
Series = dict[str, Any]


@dataclass(frozen=True)
class Plot:
    """One figure: its source (from the repository's root), the series it draws, how."""

    source: str
    title: str
    data: Callable[[dict[str, Any]], Series]
    draw: Callable[[Series, Any], None]  # (series, matplotlib Figure)


PLOTS: dict[str, Plot] = {
    "reasoning-accuracy-vs-compute": Plot(
        "bench/results/robustness.json",
        "Reason: accuracy against branches and tokens",
        reasoning_curve_data,
        draw_reasoning_curve,
    ),
    "learning-curve": Plot(
        "bench/results/learning.json",
        "Outcome learning: held-out Reason accuracy and every answer-ranker version",
        learning_data,
        draw_learning,
    ),
    "decoder-concurrency": Plot(
        "bench/results/decoder.json",
        "Decoder: platform against the raw engine",
        decoder_data,
        draw_decoder,
    ),
    "overload": Plot(
        "bench/results/load.json", "Overload and fair scheduling", overload_data, draw_overload
    ),
    "student-vs-teacher": Plot(
        "bench/results/student.json", "Student against teacher", student_data, draw_student
    ),
    "methods-student-teacher": Plot(
        "bench/results/student_accuracy.json",
        "Dev-split accuracy by method, student and teacher",
        methods_data,
        draw_methods,
    ),
    "fusion": Plot(
        "bench/results/fusion.json", "Chart and table reading", fusion_data, draw_fusion
    ),
    "planner-latency-and-cache": Plot(
        "bench/results/reason.json", "Reasoning planner", planner_data, draw_planner
    ),
    "pruning-rule": Plot("bench/results/pruning.json", "Pruning rule", pruning_data, draw_pruning),
    "encoder-pool": Plot("bench/results/encoder.json", "Encoder pool", encoder_data, draw_encoder),
    "decoder-autoscaling": Plot(
        "bench/results/autoscaling.json",
        "Serve autoscaling of the decoder",
        autoscaling_data,
        draw_autoscaling,
    ),
    "http-vs-grpc": Plot(
        "bench/results/http_vs_grpc.json",
        "HTTP/JSON against gRPC, same core",
        http_vs_grpc_data,
        draw_http_vs_grpc,
    ),
}


def plot_series(name: str, root: Path = ROOT) -> Series:
    """The series a plot draws, from its source under `root` now (rounded as committed)."""
    plot = PLOTS[name]
    report = json.loads((root / plot.source).read_text())
    rounded: Series = json.loads(
        json.dumps(plot.data(report)), parse_float=lambda s: round(float(s), 4)
    )
    return rounded


def render_plots(root: Path = ROOT, out: Path = PLOTS_DIR) -> list[Path]:
    """Draw every plot to out/<name>.png with its series in out/<name>.json."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in PLOTS.items():
        series = plot_series(name, root)
        figure = Figure(figsize=(11, 4.2), layout="constrained")
        plot.draw(series, figure)
        figure.suptitle(f"{plot.title}  ({plot.source})", fontsize=10)
        png = out / f"{name}.png"
        figure.savefig(png, dpi=90, metadata={"Software": None})
        (out / f"{name}.json").write_text(json.dumps(series, indent=1) + "\n")
        written.append(png)
    return written
