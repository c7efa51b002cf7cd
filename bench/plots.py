"""PNG plots of the benchmark results, beside their tables in BENCHMARKS.md and
RELIABILITY.md, drawn with matplotlib's Agg backend (no display).

Each plot reads one result file, extracts the series it draws (`data`), and draws them
(`draw`). `python -m bench` writes bench/plots/<name>.png and, beside it, <name>.json with
the series, so tests/unit/test_benchmarks_in_sync.py can check that a committed plot was
drawn from the committed results, as it does for the tables.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# -- accuracy against branches and tokens (issue 26) -----------------------------------------

_SELECTIONS = {"ranked": "answer ranker", "weighted": "weighted vote", "majority": "majority vote"}


def reasoning_curve_data(report: dict[str, Any]) -> Series:
    out: Series = {}
    for name in ("robust", "dev"):
        curve = report["curve"][name]["branches"]
        branches = sorted(curve, key=int)
        out[name] = {
            "problems": report["sets"][name]["problems"],
            "branches": [int(b) for b in branches],
            "greedy_pot": report["sets"][name]["greedy_pot"]["accuracy"],
            "reason_default": [
                report["sets"][name]["reason"]["tokens_per_problem"],
                report["sets"][name]["reason"]["accuracy"],
            ],
            **{
                selection: {
                    "accuracy": [curve[b][selection]["accuracy"] for b in branches],
                    "tokens": [curve[b][selection]["tokens_per_problem"] for b in branches],
                }
                for selection in _SELECTIONS
            },
        }
    return out


def draw_reasoning_curve(series: Series, figure: Any) -> None:
    axes = figure.subplots(1, 2)
    for ax, name in zip(axes, ("robust", "dev"), strict=True):
        sets = series[name]
        for selection, label in _SELECTIONS.items():
            line = sets[selection]
            ax.plot(line["tokens"], line["accuracy"], marker="o", label=label)
            for tokens, accuracy, branches in zip(
                line["tokens"], line["accuracy"], sets["branches"], strict=True
            ):
                if selection == "ranked":
                    ax.annotate(
                        f"{branches}",
                        (tokens, accuracy),
                        textcoords="offset points",
                        xytext=(4, 4),
                        fontsize=8,
                    )
        ax.axhline(sets["greedy_pot"], color="grey", linestyle="--", label="greedy pot (1 pass)")
        tokens, accuracy = sets["reason_default"]
        ax.plot(
            [tokens],
            [accuracy],
            marker="*",
            markersize=14,
            color="black",
            linestyle="none",
            label="default Reason (waves)",
        )
        ax.set_xscale("log")
        ax.set_xlabel("generated tokens per problem (log)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name} ({sets['problems']} problems); labels: branches")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")


# -- the learning curve (issue 4 / 27) -------------------------------------------------------


def learning_data(report: dict[str, Any]) -> Series:
    loop = report["loop"]["checkpoints"]
    rankers = report["rankers_on_fixed_rows"]["versions"]
    return {
        "held_out_problems": report["loop"]["held_out_problems"],
        "outcomes": [c["outcomes"] for c in loop],
        "right": [c["held_out_right"] for c in loop],
        "low": [c["ci95"][0] * c["held_out_problems"] for c in loop],
        "high": [c["ci95"][1] * c["held_out_problems"] for c in loop],
        "versions": [v["version"] for v in rankers],
        "status": [v["status"] for v in rankers],
        "fixed_right": [v["right"] for v in rankers],
        "train_examples": [v["train_examples"] for v in rankers],
    }


def draw_learning(series: Series, figure: Any) -> None:
    left, right = figure.subplots(1, 2)
    low = [r - lo for r, lo in zip(series["right"], series["low"], strict=True)]
    high = [hi - r for r, hi in zip(series["right"], series["high"], strict=True)]
    left.errorbar(series["outcomes"], series["right"], yerr=[low, high], marker="o", capsize=4)
    left.set_xlabel("outcomes of the unseen stream reported")
    left.set_ylabel(f"Reason right of {series['held_out_problems']} held-out problems")
    left.grid(alpha=0.3)
    colours = ["tab:green" if s in ("promoted", "seed") else "tab:red" for s in series["status"]]
    right.scatter(series["train_examples"], series["fixed_right"], c=colours)
    right.set_xlabel("outcome examples the ranker version was fitted on")
    right.set_ylabel("right on the first pass's held-out programs")
    right.set_title("green: seed or promoted, red: rejected", fontsize=9)
    right.grid(alpha=0.3)


# -- decoder throughput and first token against concurrency (issues 2, 14, 32) ---------------

_VARIANTS = {
    "raw": "raw engine",
    "proxy": "Serve proxy",
    "direct": "direct ingress",
    "throughput": "throughput-optimized",
}


def decoder_data(report: dict[str, Any]) -> Series:
    out: Series = {"concurrency": [1, 8, 32]}
    for variant in _VARIANTS:
        passes = report["runs"][variant]
        out[variant] = {
            "tok_per_s": [
                statistics.median(p[f"c{c}"]["tok_per_s"] for p in passes)
                for c in out["concurrency"]
            ],
            "ttft_p50_s": [
                statistics.median(p[f"c{c}"]["ttft_p50_s"] for p in passes)
                for c in out["concurrency"]
            ],
        }
    return out


def draw_decoder(series: Series, figure: Any) -> None:
    left, right = figure.subplots(1, 2)
    for variant, label in _VARIANTS.items():
        left.plot(series["concurrency"], series[variant]["tok_per_s"], marker="o", label=label)
        right.plot(series["concurrency"], series[variant]["ttft_p50_s"], marker="o", label=label)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(series["concurrency"], [str(c) for c in series["concurrency"]])
        ax.set_xlabel("concurrent streams")
        ax.grid(alpha=0.3)
    left.set_ylabel("generated tokens / s")
    right.set_ylabel("time to first token, p50 (s)")
    left.legend(fontsize=8)


# -- overload and fair scheduling (RELIABILITY.md) ------------------------------------------


def overload_data(report: dict[str, Any]) -> Series:
    overload = report["summary"]["overload"]
    return {
        "offered": overload["offered"],
        "accepted": overload["accepted"],
        "refused": overload["codes"].get("RESOURCE_EXHAUSTED", 0),
        "rejection_ms": [overload["rejection_p50_ms"], overload["rejection_p99_ms"]],
        "accepted_s": [overload["accepted_p50_s"], overload["accepted_p99_s"]],
        "short_with_long_over_idle": {
            key: report["summary"][key]["busy_over_idle"] for key in ("before", "after")
        },
    }


def draw_overload(series: Series, figure: Any) -> None:
    counts, latency, fairness = figure.subplots(1, 3)
    counts.bar(
        ["accepted", "refused"],
        [series["accepted"], series["refused"]],
        color=["tab:green", "tab:orange"],
    )
    counts.set_title(f"{series['offered']} calls offered at 4x capacity")
    latency.bar(
        ["refused\np50", "refused\np99"],
        [v / 1000 for v in series["rejection_ms"]],
        color="tab:orange",
    )
    latency.bar(["accepted\np50", "accepted\np99"], series["accepted_s"], color="tab:green")
    latency.set_yscale("log")
    latency.set_ylabel("seconds (log)")
    latency.set_title("how long callers waited")
    ratio = series["short_with_long_over_idle"]
    fairness.bar(["before", "after"], [ratio["before"], ratio["after"]], color="tab:blue")
    fairness.set_title("short request beside a long prompt\n(latency / idle latency)")
    for ax in (counts, latency, fairness):
        ax.grid(alpha=0.3, axis="y")


# -- the student against the teacher (issue 11) ----------------------------------------------


def student_data(report: dict[str, Any]) -> Series:
    out: Series = {"concurrency": [1, 32]}
    for target in ("teacher", "base", "student"):
        out[target] = {
            "tok_per_s": [
                statistics.median(
                    r["targets"][target][f"c{c}"]["tok_per_s"] for r in report["rounds"]
                )
                for c in out["concurrency"]
            ]
        }
    out["student_over_teacher_c32"] = report["student_over_teacher"]["c32.tok_per_s"]["median"]
    return out


def draw_student(series: Series, figure: Any) -> None:
    ax = figure.subplots(1, 1)
    width = 0.25
    for offset, target in enumerate(("teacher", "base", "student")):
        xs = [i + (offset - 1) * width for i in range(len(series["concurrency"]))]
        ax.bar(xs, series[target]["tok_per_s"], width, label=target)
    ax.set_xticks(
        range(len(series["concurrency"])),
        [f"{c} stream{'s' if c > 1 else ''}" for c in series["concurrency"]],
    )
    ax.set_ylabel("generated tokens / s")
    ax.set_title(f"student {series['student_over_teacher_c32']:.2f}x the teacher at 32 streams")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")


# -- methods on the dev split, student and teacher (issue 11) --------------------------------


def methods_data(report: dict[str, Any]) -> Series:
    out: Series = {}
    for target in ("student", "teacher"):
        reports = report[target]["reports"]
        out[target] = {
            "methods": [r["method"] for r in reports],
            "accuracy": [r["accuracy"] for r in reports],
            "ci95": [r["ci95"] for r in reports],
            "tokens": [r["tokens_per_problem"] for r in reports],
            "problems": reports[0]["problems"],
        }
    return out


def draw_methods(series: Series, figure: Any) -> None:
    ax = figure.subplots(1, 1)
    width = 0.38
    methods = series["student"]["methods"]
    for offset, target in enumerate(("student", "teacher")):
        values = series[target]
        xs = [i + (offset - 0.5) * width for i in range(len(methods))]
        errors = [
            [a - low for a, (low, _) in zip(values["accuracy"], values["ci95"], strict=True)],
            [high - a for a, (_, high) in zip(values["accuracy"], values["ci95"], strict=True)],
        ]
        ax.bar(xs, values["accuracy"], width, yerr=errors, capsize=3, label=target)
        for x, accuracy, tokens in zip(xs, values["accuracy"], values["tokens"], strict=True):
            ax.annotate(
                f"{tokens:.0f} tok",
                (x, accuracy),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel(f"accuracy, dev split ({series['student']['problems']} problems, 95% CI)")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")


# -- chart and table reading against its baselines (issue 5 / 28) ---------------------------

_FUSION_METHODS = ("fused", "text-only", "table-text", "majority")


def fusion_data(report: dict[str, Any]) -> Series:
    kinds = list(report["held_out"])
    return {
        "weights": report["weights"],
        "kinds": kinds,
        **{
            method: [
                report["held_out"][kind][method]["accuracy"]
                if method in report["held_out"][kind]
                else None
                for kind in kinds
            ]
            for method in _FUSION_METHODS
        },
    }


def draw_fusion(series: Series, figure: Any) -> None:
    ax = figure.subplots(1, 1)
    width = 0.2
    for offset, method in enumerate(_FUSION_METHODS):
        xs = [i + (offset - 1.5) * width for i in range(len(series["kinds"]))]
        values = [v if v is not None else 0.0 for v in series[method]]
        ax.bar(xs, values, width, label=method)
    ax.set_xticks(range(len(series["kinds"])), series["kinds"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out accuracy (balanced classes)")
    ax.set_title(f"fusion weights {series['weights']}: fused against its baselines")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")


# -- HTTP/JSON against gRPC (issue 16) --------------------------------------------------------


def http_vs_grpc_data(report: dict[str, Any]) -> Series:
    out: Series = {}
    for door in ("grpc", "http"):
        runs = report["results"][door]
        out[door] = {
            "tok_per_s_c32": [r["tok_per_s"] for r in runs["c32"]],
            "ttft_p50_s_c8": [r["ttft_p50_s"] for r in runs["c8"]],
        }
    out["ratios"] = report["ratios"]
    return out


def draw_http_vs_grpc(series: Series, figure: Any) -> None:
    left, right = figure.subplots(1, 2)
    for ax, key, label in (
        (left, "tok_per_s_c32", "generated tokens / s, 32 streams"),
        (right, "ttft_p50_s_c8", "time to first token p50 (s), 8 streams"),
    ):
        for index, door in enumerate(("grpc", "http")):
            values = series[door][key]
            ax.bar(index, statistics.median(values), 0.6, label=door, alpha=0.8)
            ax.scatter([index] * len(values), values, color="black", zorder=3, s=12)
        ax.set_xticks([0, 1], ["gRPC", "HTTP/JSON"])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    ratios = series["ratios"]
    left.set_title(
        f"HTTP / gRPC = {ratios['tok_per_s_c32_http_over_grpc']:.2f} (bars: median, dots: passes)"
    )
    right.set_title(f"HTTP / gRPC = {ratios['ttft_p50_c8_http_over_grpc']:.2f}")


# -- the planner: latency against one pass, score-cache hits (issue 3) ------------------------


def planner_data(report: dict[str, Any]) -> Series:
    return {
        "p3_ratios": [row["ratio"] for row in report["p3_rows"]],
        "p3_median": report["P3_reason_over_longest_single"],
        "p4_rounds": list(report["P4_hit_rate"]),
        "p4_hit_rate": list(report["P4_hit_rate"].values()),
    }


def draw_planner(series: Series, figure: Any) -> None:
    left, right = figure.subplots(1, 2)
    ratios = series["p3_ratios"]
    left.bar(range(1, len(ratios) + 1), ratios, color="tab:blue")
    left.axhline(series["p3_median"], color="black", linestyle="--", label="median")
    left.set_xlabel("problem")
    left.set_ylabel("Reason time / longest single strategy")
    left.set_title("P3: four branches at once against the slowest one alone")
    left.legend()
    right.bar(series["p4_rounds"], series["p4_hit_rate"], color="tab:green")
    right.set_ylim(0, 1)
    right.set_ylabel("score-cache hit rate")
    right.set_title("P4: cache hits by round")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="y")


# -- the pruning rule, chosen on the train split (issue 15) ----------------------------------


def pruning_data(report: dict[str, Any]) -> Series:
    rows = report["rows"]
    return {
        "rules": [row["rule"] for row in rows],
        "correct": [row["correct"] for row in rows],
        "problems": report["problems"],
        "tokens": [row["tokens_per_problem"] for row in rows],
        "chosen": report["chosen"],
    }


def draw_pruning(series: Series, figure: Any) -> None:
    left, right = figure.subplots(1, 2)
    colours = ["tab:orange" if r == series["chosen"] else "tab:blue" for r in series["rules"]]
    left.bar(series["rules"], series["correct"], color=colours)
    left.set_ylabel(f"right answers of {series['problems']} train problems")
    right.bar(series["rules"], series["tokens"], color=colours)
    right.set_ylabel("generated tokens / problem")
    for ax in (left, right):
        ax.set_xlabel("prune below this fraction of the best path's score (orange: chosen)")
        ax.grid(alpha=0.3, axis="y")


# -- the encoder pool: batching and 8-bit (issue 6) ------------------------------------------

_ENCODER_MODES = {
    "unbatched": "one at a time",
    "batched": "batched",
    "batched_quantised": "batched, 8-bit",
}


def encoder_data(report: dict[str, Any]) -> Series:
    return {
        mode: [p["images_per_s"] for p in report[mode]["passes"]] for mode in _ENCODER_MODES
    } | {"latency": report["latency"]}


def draw_encoder(series: Series, figure: Any) -> None:
    left, right = figure.subplots(1, 2)
    for index, mode in enumerate(_ENCODER_MODES):
        values = series[mode]
        left.bar(index, statistics.median(values), 0.6, alpha=0.8)
        left.scatter([index] * len(values), values, color="black", s=12, zorder=3)
    left.set_xticks(range(len(_ENCODER_MODES)), list(_ENCODER_MODES.values()))
    left.set_ylabel("images encoded / s (16 callers)")
    latency = series["latency"]
    kinds = ["generate_p50_s", "analyze_text_p50_s", "analyze_image_p50_s"]
    right.bar(["Generate", "Analyze text", "Analyze image"], [latency[k] for k in kinds])
    right.set_ylabel("p50 latency (s)")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="y")


# -- Serve autoscaling of the decoder (issue 6) ----------------------------------------------


def autoscaling_data(report: dict[str, Any]) -> Series:
    return {
        "t_s": [point[0] for point in report["timeline"]],
        "replicas": [point[1] for point in report["timeline"]],
        "up_after_s": report["second_replica_running_after_load_began_s"],
        "down_after_s": report["back_to_one_replica_after_load_stopped_s"],
    }


def draw_autoscaling(series: Series, figure: Any) -> None:
    ax = figure.subplots(1, 1)
    ax.step(series["t_s"], series["replicas"], where="post")
    ax.set_xlabel("seconds since the load began")
    ax.set_ylabel("running decoder replicas")
    ax.set_yticks([0, 1, 2])
    ax.set_title(
        f"second replica running after {series['up_after_s']:.0f} s of load; back to one "
        f"{series['down_after_s']:.0f} s after it stopped"
    )
    ax.grid(alpha=0.3)


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
