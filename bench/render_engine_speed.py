"""Tables of issue 32's benchmarks: bursts against the queue-wait admission, prefix-aware
routing of Reason's branches, and the 8-bit decoder."""

from __future__ import annotations

import math
from typing import Any

from bench.tables import cpu_note, header, k_of_n, stamp


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def render_burst(report: dict[str, Any]) -> str:
    """bench/burst.py (RELIABILITY.md): bursts of Generate calls at once."""
    lines = [
        f"Starts in the order {', '.join(report['order'])}, each its own platform (eager "
        f"engines; student and encoder pool off); every call a unary Generate of at most "
        f"{report['max_tokens']} tokens with no deadline of its own." + stamp(report),
        "",
        *header(
            "variant",
            "burst",
            "server",
            "completed / refused",
            "refusal p50 / p99 (ms)",
            "accepted p50 / p99 / max (s)",
            "same burst of ListModels, idle: p50 / p99 (ms)",
        ),
    ]
    for run in report["runs"]:
        floors = {f["size"]: f for f in run.get("list_models_floor", [])}
        bound = run["bound_s"]
        name = (
            "before (Serve's queues only)"
            if run["variant"] == "before"
            else (f"after (queue wait ≤ {bound:g} s)" if bound else "after")
        )
        for burst in run["bursts"]:
            floor = floors.get(burst["size"])
            floor_text = "-"
            if floor:
                dropped = floor.get("codes", {}).get("RESOURCE_EXHAUSTED", 0)
                floor_text = f"{_ms(floor['p50_ms'])} / {_ms(floor['p99_ms'])}" + (
                    f" ({dropped} refused by Serve's queue)" if dropped else ""
                )
            lines.append(
                f"| {name} | {burst['size']} | {burst['server']} "
                f"| {burst['accepted_ok']} / {burst['refused']} "
                f"| {_ms(burst['refusal_p50_ms'])} / **{_ms(burst['refusal_p99_ms'])}** "
                f"| {_s(burst['accepted_p50_s'])} / {_s(burst['accepted_p99_s'])} / "
                f"**{_s(burst['accepted_max_s'])}** | {floor_text} |"
            )
    return "\n".join(lines) + "\n"


def render_prefix_routing(report: dict[str, Any]) -> str:
    """bench/prefix_routing.py (BENCHMARKS.md): 2 decoder replicas, two routers."""
    lines = [
        f"Starts in the order {', '.join(report['order'])}; each answers the same dev-split "
        f"problems with Reason's defaults, {report['concurrency']} at a time, its branches on "
        f"2 student replicas (eager engines, KV blocks of {report.get('block_size', 128)} "
        "tokens)." + stamp(report),
        "",
        *header(
            "router",
            "prefix-cache hit rate (prompt tokens)",
            "Reason decoder tok/s",
            "Reason p50 (s)",
        ),
    ]
    for run in report["runs"]:
        lines.append(
            f"| {run['variant']} | {run['prefix_hit_rate']:.2f} ({run['prefix_hits']:.0f} of "
            f"{run['prefix_queries']:.0f}) | {run['tok_per_s']:.1f} "
            f"| {run['reason_p50_s']:.1f} |"
        )
    ratio = report["summary"]["tok_per_s_ratio"]
    lines += [
        "",
        f"Reason tok/s, prefix_affinity / power_of_two (means of the starts): **{ratio:.2f}**.",
    ]
    return "\n".join(lines) + "\n"


def render_int8(report: dict[str, Any]) -> str:
    """bench/int8.py (BENCHMARKS.md): the int8 decoder against fp32 (and bf16 alone)."""
    speed = report["speed_over_fp32"]
    rounds = report["speed_rounds"]
    memory = report["weight_bytes"]
    share = report["weight_bytes_over_fp32"]
    lines = [
        f"Model {report['model']}, compiled, three engines in one process: fp32 (as "
        "stored), bf16, and the int8 copy (W8A8, bf16 activations); "
        f"{len(rounds)} speed rounds in mirrored order, {report['tokens_per_answer']} tokens "
        "per answer." + cpu_note(report) + stamp(report),
        "",
        *header("figure", "fp32", "bf16", "int8 (W8A8)", "bf16 / fp32", "int8 / fp32"),
        f"| weights held (MiB) | {memory['fp32'] / 2**20:.0f} | {memory['bf16'] / 2**20:.0f} "
        f"| {memory['int8'] / 2**20:.0f} | {share['bf16']:.2f} | **{share['int8']:.2f}** |",
    ]
    for key, label in (("c32_tok_per_s", "32 streams"), ("c1_tok_per_s", "one at a time")):
        cells = [", ".join(f"{r[v][key]:.0f}" for r in rounds) for v in ("fp32", "bf16", "int8")]
        lines.append(
            f"| decode tok/s, {label} (per round) | {' | '.join(cells)} "
            f"| {speed['bf16_' + key]:.2f} | **{speed['int8_' + key]:.2f}** |"
        )
    for name, row in report["accuracy"].items():
        lines.append(
            f"| {name} split: one greedy pot branch | {k_of_n(row['fp32'])} "
            f"| {k_of_n(row['bf16'])} | {k_of_n(row['int8'])} | {row['bf16_over_fp32']:.3f} "
            f"| **{row['int8_over_fp32']:.3f}** ({row['int8_answers_differ_from_fp32']} "
            "answers differ) |"
        )
        if "majority_answer_baseline" in row:
            lines.append(
                f"| {name} split: the train split's most common answer | "
                f"{k_of_n(row['majority_answer_baseline'])} | | | | |"
            )
    return "\n".join(lines) + "\n"


def render_engine_metrics(report: dict[str, Any]) -> str:
    """bench/engine_metrics.py (BENCHMARKS.md): the cost of vLLM's statistics."""
    rounds = report["rounds"]
    lines = [
        f"Raw engine ({report['model']}, compiled), statistics on and off, {len(rounds)} "
        "rounds in mirrored order." + stamp(report),
        "",
        *header("decode tok/s", "on (per round)", "off (per round)", "on / off (median)"),
    ]
    for key, label in (("c32_tok_per_s", "32 streams"), ("c1_tok_per_s", "one at a time")):
        on = ", ".join(f"{r['on'][key]:.0f}" for r in rounds)
        off = ", ".join(f"{r['off'][key]:.0f}" for r in rounds)
        lines.append(f"| {label} | {on} | {off} | **{report['on_over_off'][key]:.3f}** |")
    return "\n".join(lines) + "\n"
