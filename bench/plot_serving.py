"""The plots of serving (bench/plots.py draws them): decoder throughput, overload and fair
scheduling, student against teacher, HTTP against gRPC, the planner's latency and
cache, the pruning rule, the encoder pool and autoscaling. Each `*_data` extracts a
plot's series from its result file, `draw_*` draws it."""

from __future__ import annotations

import statistics
from typing import Any

Series = dict[str, Any]


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
