"""Markdown tables of BENCHMARKS.md and RELIABILITY.md, rendered from JSON files: the
benchmark results under bench/results/ and the metrics trained artifacts carry.

Each generated block in those documents sits between two markers naming its source, a
path from the repository's root:

    <!-- generated from bench/results/decoder.json -->
    ...
    <!-- end of generated block -->

`regenerate` replaces every block with what the renderer of that path (RENDERERS, by
pattern) makes of the file now, so a table cannot drift from its figures;
tests/unit/test_benchmarks_in_sync.py checks that the committed documents match.
"""

from __future__ import annotations

import fnmatch
import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.render_reasoning import (
    render_ranker,
    render_rl_student,
    render_robustness,
    render_verifier,
)
from bench.tables import header as _header
from bench.tables import k_of_n as _k_of_n
from bench.tables import stamp as _stamp
from ponder.stats import format_proportion

DOCUMENTS = ("BENCHMARKS.md", "RELIABILITY.md")  # at the repository's root

ROOT = Path(__file__).resolve().parents[1]

BLOCK = re.compile(
    r"(<!-- generated from (?P<path>[\w./-]+\.json) -->\n)"
    r"(?P<body>.*?)"
    r"(<!-- end of generated block -->)",
    re.DOTALL,
)


def _per_pass(values: list[float], digits: int = 2) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values)


def render_decoder(report: dict[str, Any]) -> str:
    """bench/decoder.py: every start's figures, then the ratios (mean of the two passes,
    each pass's ratio in brackets)."""
    runs, ratios = report["runs"], report["ratios"]
    names = list(runs)
    lines = [
        f"Machine: {report['cores']} cores; {report['max_tokens']} new tokens per request, "
        f"greedy. Order of starts: {', '.join(report['order'])}." + _stamp(report),
        "",
        *_header("measure (pass 1 / pass 2)", *names),
    ]
    for key, label in (("c32", "32 concurrent"), ("c8", "8 concurrent"), ("c1", "one at a time")):
        cells = [" / ".join(f"{r[key]['tok_per_s']:.1f}" for r in runs[n]) for n in names]
        lines.append(f"| tok/s, {label} | " + " | ".join(cells) + " |")
    for key, label in (("c1", "one at a time"), ("c8", "8 concurrent"), ("c32", "32 concurrent")):
        cells = [" / ".join(f"{r[key]['ttft_p50_s'] * 1000:.0f}" for r in runs[n]) for n in names]
        lines.append(f"| TTFT p50 ms, {label} | " + " | ".join(cells) + " |")
    lines += ["", *_header("ratio (passes)", "target", *ratios)]
    rows = (
        ("P1 tok/s @32, platform ÷ raw", "≥ 0.90", "P1_platform_over_raw_c32", "P1_per_pass"),
        ("P2 tok/s @32 ÷ one at a time", "≥ 6", "P2_platform_c32_over_c1", None),
        (
            "T1 TTFT p50 @8, platform ÷ raw",
            "≤ 1.2",
            "T1_ttft_p50_c8_platform_over_raw",
            "T1_per_pass",
        ),
    )
    for label, target, key, per_pass in rows:
        cells = []
        for ratio in ratios.values():
            cell = f"{ratio[key]:.2f}"
            if per_pass:
                cell += f" ({_per_pass(ratio[per_pass])})"
            cells.append(cell)
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")
    versus = {v: r["versus_proxy"] for v, r in ratios.items() if "versus_proxy" in r}
    if versus:
        lines += ["", *_header("one change against proxy (passes)", "tok/s @32", "TTFT p50 @8")]
        for variant, vs in versus.items():
            tok = f"{vs['tok_s_c32']:.2f} ({_per_pass(vs['tok_s_c32_per_pass'])})"
            ttft = f"{vs['ttft_p50_c8']:.2f} ({_per_pass(vs['ttft_p50_c8_per_pass'])})"
            lines.append(f"| {variant} ÷ proxy | {tok} | {ttft} |")
    return "\n".join(lines) + "\n"


def render_fusion(report: dict[str, Any]) -> str:
    """`ponder train fusion --evaluate-only --report bench/results/fusion.json`: held-out
    choice accuracy per kind beside the majority-class baseline, then what each prompt
    condition predicted."""
    held_out = report["held_out"]
    conditions = ("text-only", "table-text", "fused")
    examples = sum(row["examples"] for row in held_out.values())
    seed = f"seed {report['held_out_seed']}, " if "held_out_seed" in report else ""
    lines = [
        f"Weights `{report['weights']}`; {examples} held-out examples ({seed}balanced)."
        + _stamp(report),
        "",
        *_header("kind", "majority class (from training)", *conditions),
    ]
    for kind, row in held_out.items():
        majority = row["majority"]
        cells = [_k_of_n(row[c]) if c in row else "n/a" for c in conditions]
        lines.append(
            f"| {kind} | {majority['class']}: {_k_of_n(majority)} | " + " | ".join(cells) + " |"
        )
    lines += ["", *_header("kind", "condition", "correct per true class", "predicted classes")]
    for kind, row in held_out.items():
        for condition in conditions:
            if condition in row:
                per_class = ", ".join(f"{c} {v}" for c, v in row[condition]["per_class"].items())
                predicted = ", ".join(f"{c} ×{n}" for c, n in row[condition]["predicted"].items())
                lines.append(f"| {kind} | {condition} | {per_class} | {predicted} |")
    return "\n".join(lines) + "\n"


P4_ROUNDS = {
    "first_sight": "first sight (8 branches; hits are repeats inside a request)",
    "sampled": "again, 8 branches (the 4 sampled ones reuse their per-branch seeds)",
    "greedy_repeat": "again, 4 greedy branches (hits by construction)",
    "paraphrased": "reworded problems, 8 branches (keys carry the problem's hash)",
}


def render_reason(report: dict[str, Any]) -> str:
    """bench/reason.py: P3 per problem and summed, P4 per round."""
    rows = report["p3_rows"]
    columns = ("problem", "order", "4-branch Reason s", "longest single s", "ratio")
    lines = [
        f"{report['problems']} dev problems (MAWPS/ASDiv)." + _stamp(report),
        "",
        *_header(*columns, "completed paths", "tokens"),
    ]
    for i, row in enumerate(rows):
        order = "4-branch first" if row["four_branch_first"] else "singles first"
        lines.append(
            f"| {i + 1} | {order} | {row['reason_s']:.2f} | {row['longest_single_s']:.2f} "
            f"| {row['ratio']:.2f} | {row['completed_paths']} | {row['completion_tokens']} |"
        )
    low, high = report["P3_range"]
    p3 = report["P3_reason_over_longest_single"]
    lines += [
        f"| **P3** (summed; target ≤ 1.5) | | | | **{p3:.2f}** "
        f"(per problem {low:.2f} to {high:.2f}) | | |",
        "",
        *_header("P4 round", "hits", "misses", "hit rate", "new distinct keys"),
    ]
    for name, counts in report["p4_rounds"].items():
        rate = report["P4_hit_rate"][name]
        label = P4_ROUNDS.get(name, name)
        new_keys = counts.get("new_keys", "not counted")
        lines.append(
            f"| {label} | {counts['hits']} | {counts['misses']} | {rate:.3f} | {new_keys} |"
        )
    return "\n".join(lines) + "\n"


def _median_range(values: list[float], digits: int = 1, scale: float = 1.0) -> str:
    """'median (lowest-highest)' of the values times scale."""
    scaled = [v * scale for v in values]
    middle = statistics.median(scaled)
    return f"{middle:.{digits}f} ({min(scaled):.{digits}f}-{max(scaled):.{digits}f})"


STUDENT_RATIOS = (
    ("c32.tok_per_s", "tok/s at 32 streams", "≥ 2.5"),
    ("c1.tok_per_s", "tok/s one at a time", "≥ 2.5"),
    ("c1.ttft_p50_s", "TTFT p50 one at a time", "none"),
    ("c32.ttft_p50_s", "TTFT p50 at 32 streams", "none"),
)


def render_student(report: dict[str, Any]) -> str:
    """bench/student.py: each target's speed over the rounds (median and range), then
    the student's ratios to the teacher and to the base model."""
    rounds = report["rounds"]
    fixed = report.get("min_tokens") == report["max_tokens"]
    length = f"exactly {report['max_tokens']}" if fixed else f"at most {report['max_tokens']}"
    lines = [
        f"{len(rounds)} rounds after a warm-up, the order of the targets rotating; "
        f"{length} tokens per answer." + _stamp(report),
        "",
        *_header(
            "target",
            "tok/s at 32 streams",
            "tok/s one at a time",
            "TTFT p50 one at a time, ms",
            "TTFT p50 at 32, ms",
            "tokens per answer",
        ),
    ]
    for name, target in report["targets"].items():
        runs = [r["targets"][name] for r in rounds]
        adapter = f" + `{target['adapter']}`" if target["adapter"] != "none" else ""
        per_answer = sum(r["c32"]["tokens"] for r in runs) / sum(r["c32"]["requests"] for r in runs)
        lines.append(
            f"| {name} (`{target['model']}`{adapter}) "
            f"| {_median_range([r['c32']['tok_per_s'] for r in runs])} "
            f"| {_median_range([r['c1']['tok_per_s'] for r in runs])} "
            f"| {_median_range([r['c1']['ttft_p50_s'] for r in runs], 0, 1000)} "
            f"| {_median_range([r['c32']['ttft_p50_s'] for r in runs], 0, 1000)} "
            f"| {per_answer:.1f} |"
        )
    lines += ["", *_header("ratio (per round: median (range))", "goal", "measured")]
    for over in ("teacher", "base"):
        ratios = report[f"student_over_{over}"]
        for key, label, goal in STUDENT_RATIOS:
            ratio = ratios[key]
            lines.append(
                f"| student ÷ {over}, {label} | {goal if over == 'teacher' else 'none'} "
                f"| **{ratio['median']:.2f}** ({ratio['min']:.2f}-{ratio['max']:.2f}) |"
            )
    return "\n".join(lines) + "\n"


ACCURACY_METHODS = {
    "greedy": "greedy, number only",
    "cot": "greedy chain of thought",
    "self-consistency": "self-consistency (4 CoT samples at 0.7, fanned out; 4 × 256 tokens)",
    "reason": "Reason (4 branches, 1 024 tokens)",
}


def render_student_accuracy(report: dict[str, Any]) -> str:
    """bench/student.py --accuracy-limit: the dev-split accuracy of each target and method
    through the platform, then student ÷ teacher per method."""
    lines = [
        "Dev split (MAWPS/ASDiv), `ponder eval`'s harness, 16 problems at a time." + _stamp(report),
        "",
        *_header(
            "target",
            "method",
            "correct / problems [95 % CI]",
            "decoder tokens / problem",
            "wall s / problem",
            "failed calls",
        ),
    ]
    for label in ("student", "teacher", "base"):
        if label not in report:
            continue
        for row in report[label]["reports"]:
            proportion = format_proportion(row["correct"], row["problems"])
            method = ACCURACY_METHODS.get(row["method"], row["method"])
            lines.append(
                f"| {label} | {method} | {proportion} | {row['tokens_per_problem']:.0f} "
                f"| {row['seconds_per_problem']:.2f} | {row.get('errors', 0)} |"
            )
    against = {k: report[k]["reason_against"] for k in report if "reason_against" in report[k]}
    if against:
        lines += [
            "",
            *_header("Reason ÷ method, same target and problems", "goal", *against),
        ]
        for method, goal, key, text in (
            ("greedy", "", "accuracy", "accuracy ÷ greedy, number only"),
            ("cot", "≥ 1.27", "accuracy", "accuracy ÷ greedy chain of thought"),
            ("self-consistency", "≥ 1.27", "accuracy", "accuracy ÷ self-consistency"),
            ("self-consistency", "≤ 0.6", "tokens", "decoder tokens ÷ self-consistency's"),
        ):
            cells = []
            for ratios in against.values():
                if method not in ratios:
                    cells.append("not run")
                    continue
                value = ratios[method][key]
                cells.append("n/a (0 right)" if value is None else f"**{value:.2f}**")
            lines.append(f"| {text} | {goal or 'none'} | " + " | ".join(cells) + " |")
    ratios = report.get("student_over_teacher", {})
    if ratios:
        lines += ["", *_header("student ÷ teacher, accuracy", "goal", "measured")]
        for method, ratio in ratios.items():
            lines.append(f"| {ACCURACY_METHODS.get(method, method)} | ≥ 0.92 | **{ratio:.2f}** |")
    return "\n".join(lines) + "\n"


def _alternating_starts(report: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """One row per platform start, in the order they ran: what it was, tokens/s."""
    seen = dict.fromkeys(report["runs"], 0)
    lines = _header("start", "setting", "completion tokens/s")
    for index, mode in enumerate(report["order"]):
        run = report["runs"][mode][seen[mode]]
        seen[mode] += 1
        lines.append(f"| {index + 1} | {labels[mode]} | {run['tokens_per_s']:.1f} |")
    return lines


def render_tracing(report: dict[str, Any]) -> str:
    """bench/tracing.py: four starts off, on, on, off; T2 from the means of each side."""
    lines = [
        f"{report['spans_written']} spans written by the traced starts." + _stamp(report),
        "",
        *_alternating_starts(
            report, {"off": "tracing off", "on": "tracing on, sampling 1.0, file exporter"}
        ),
        f"| **T2 traced ÷ untraced** (per pass) | | **{report['T2_traced_over_untraced']:.2f}** "
        f"({_per_pass(report['T2_per_pass'])}) |",
    ]
    return "\n".join(lines) + "\n"


def render_prompt_embeds(report: dict[str, Any]) -> str:
    """bench/prompt_embeds.py: four starts disabled, enabled, enabled, disabled."""
    lines = [
        "Text-only traffic; the encoder pool off in every start." + _stamp(report),
        "",
        *_alternating_starts(
            report,
            {"disabled": "prompt embeddings disabled", "enabled": "prompt embeddings enabled"},
        ),
        f"| **E1 enabled ÷ disabled** (per pass) | | "
        f"**{report['E1_enabled_over_disabled']:.2f}** ({_per_pass(report['E1_per_pass'])}) |",
    ]
    return "\n".join(lines) + "\n"


def render_encoder(report: dict[str, Any]) -> str:
    """bench/encoder.py: the pool variants in mirrored order, then Analyze latency."""
    labels = {
        "unbatched": "max batch 1",
        "batched": "max batch 8, 50 ms wait",
        "batched_quantised": "max batch 8, int8 dynamic quantisation",
    }
    lines = [
        f"{report['images']} charts per pass from {report['callers']} concurrent callers after a "
        f"warm-up pass; order {', '.join(report['order'])}." + _stamp(report),
        "",
        *_header("pool", "images/s (passes)", "mean batch"),
    ]
    for name, label in labels.items():
        run = report[name]
        cells = _per_pass([p["images_per_s"] for p in run["passes"]])
        lines.append(f"| {label} | {run['images_per_s']:.2f} ({cells}) | {run['mean_batch']:.1f} |")
    latency, drift = report["latency"], report["Q_max_abs_difference"]
    lines += [
        "",
        *_header("measure", "target", "measured"),
        f"| P5 batched ÷ unbatched (per pass) | ≥ 3 | "
        f"**{report['P5_batched_over_unbatched']:.2f}** ({_per_pass(report['P5_per_pass'])}) |",
        f"| Q quantised ÷ float, images/s (per pass) | none | "
        f"{report['Q_quantised_over_float']:.2f} ({_per_pass(report['Q_per_pass'])}) |",
        f"| Q largest absolute difference, projected image regions / table cells | none | "
        f"{drift['image_projection']:.4f} / {drift['table_cells']:.4f} "
        f"(values up to {drift['table_value_scale']:.1f}) |",
        f"| Analyze (text only) p50 ÷ Generate p50, 32 tokens greedy | none | "
        f"{latency['L_analyze_text_over_generate']:.2f} "
        f"({latency['analyze_text_p50_s']:.2f} s ÷ {latency['generate_p50_s']:.2f} s) |",
        f"| Analyze (text + image) p50 ÷ Generate p50 | none | "
        f"{latency['L_analyze_image_over_generate']:.2f} "
        f"({latency['analyze_image_p50_s']:.2f} s ÷ {latency['generate_p50_s']:.2f} s) |",
    ]
    return "\n".join(lines) + "\n"


NONE = "n/a"  # a cell with no figure


def render_learning(report: dict[str, Any]) -> str:
    """bench/learning.py: the loop's checkpoints (each pass paired with the first on the
    same held-out problems), every ranker and scorer version on the first pass's logged
    held-out paths, promotion delay and learner throughput."""
    loop = report["loop"]
    n = loop["held_out_problems"]
    sources = ", ".join(f"{k} {v}" for k, v in sorted(report["held_out_sources"].items()))
    stream = ", ".join(f"{k} {v}" for k, v in sorted(report["stream_sources"].items()))
    lines = [
        f"Held out: {n} problems ({sources}), never reported. Stream: "
        f"{report['stream_problems']} problems ({stream})." + _stamp(report),
        "",
        *_header(
            "outcomes reported",
            "active answer ranker",
            "held-out Reason right",
            "paired with the first pass: won / lost, sign test p",
            "stream accuracy since the last checkpoint",
            "decoder tokens / problem",
        ),
    ]
    for row in loop["checkpoints"]:
        paired = row.get("paired_vs_start")
        versus = (
            NONE
            if paired is None
            else f"+{paired['wins']} / −{paired['losses']} "
            f"({paired['net_points']:+.1f} points), p = {paired['sign_test_p']:.3f}"
        )
        stream_accuracy = row.get("stream_accuracy")
        lines.append(
            f"| {row['outcomes']} | `{row.get('ranker_version', NONE)}` | "
            f"{format_proportion(row['held_out_right'], row['held_out_problems'])} | {versus} | "
            f"{NONE if stream_accuracy is None else f'{stream_accuracy:.3f}'} | "
            f"{row['tokens_per_problem']:.0f} |"
        )
    rankers = report["rankers_on_fixed_rows"]
    lines += [
        "",
        f"Every answer-ranker version of scope `{rankers['scope']}`, choosing among the same "
        "logged programs of the first held-out pass:",
        "",
        *_header(
            "version",
            "status",
            "judged against",
            "outcome examples fitted on",
            "gate on held-back stream problems",
            "held-out right",
        ),
    ]
    for v in rankers["versions"]:
        gate = v["gate"]
        judged = (
            NONE
            if gate is None
            else f"{gate['candidate_right']} vs {gate['active_right']} of {gate['problems']}: "
            f"+{gate['wins']} / −{gate['losses']}, p = {gate['p_value']:.3f}"
        )
        lines.append(
            f"| `{v['version']}` | {v['status']} | `{v['parent'] or NONE}` | "
            f"{v['train_examples']} | {judged} | {format_proportion(v['right'], v['problems'])} |"
        )
    fixed = report["versions_on_fixed_rows"]
    lines += [
        "",
        f"Every path-scorer version on the same {fixed['rows']} labelled paths of "
        f"{fixed['reasonings']} held-out reasonings (base rate {fixed['base_rate']:.3f}):",
        "",
        *_header("version", "status", "outcomes applied", "log-loss", "accuracy", "calibration"),
    ]
    for v in fixed["versions"]:
        lines.append(
            f"| `{v['version']}` | {v['status']} | {v['outcomes_applied']} | "
            f"{v['log_loss']:.4f} | {v['accuracy']:.3f} | {v['calibration_error']:.3f} |"
        )
    delay, rate = report["promotion_delay_s"], report["learner_outcomes_per_s"]
    events = ", ".join(f"{k} {v}" for k, v in sorted(report["events"].items()))
    median = NONE if delay["median"] is None else f"{delay['median'] * 1000:.0f} ms"
    longest = NONE if delay["max"] is None else f"{delay['max'] * 1000:.0f} ms"
    lines += [
        "",
        *_header("measure", "value"),
        f"| path-scorer events | {events} |",
        f"| ReportOutcome → scorer promotion, {delay['count']} promotions | median {median}, "
        f"max {longest} |",
        f"| learner throughput on a backlog, batch 64 | {rate['batch_64']:.0f} outcomes/s |",
        f"| same, batch 1 | {rate['batch_1']:.0f} outcomes/s |",
    ]
    return "\n".join(lines) + "\n"


def render_cluster_autoscale(report: dict[str, Any]) -> str:
    """bench/cluster_autoscale.py: the autoscaler's timeline with simulated GPU nodes."""
    overrides = ", ".join(f"`{k}` {v}" for k, v in report["engine_overrides"].items())
    lines = [
        f"Engine overrides on the shipped config: {overrides}." + _stamp(report),
        "",
        *_header("t (s)", "event", "GPU nodes"),
    ]
    for event in report["events"]:
        lines.append(f"| {event['t_s']:.1f} | {event['event']} | {event['gpu_nodes']} |")
    return "\n".join(lines) + "\n"


def render_autoscaling(report: dict[str, Any]) -> str:
    """tests/integration/test_autoscaling.py: Serve scaling the decoder up and down."""
    policy = report["autoscaling"]
    shown = ("min_replicas", "max_replicas", "target_ongoing_requests", "upscale_delay_s")
    settings = ", ".join(f"`{k}` {policy[k]:g}" for k in shown if k in policy)
    lines = [
        f"Decoder autoscaling: {settings}, `downscale_delay_s` "
        f"{policy.get('downscale_delay_s', 0):g}." + _stamp(report),
        "",
        *_header("event", "seconds"),
        f"| second decoder replica RUNNING after the load began | "
        f"{report['second_replica_running_after_load_began_s']:.0f} |",
        f"| back to one replica after the load stopped | "
        f"{report['back_to_one_replica_after_load_stopped_s']:.0f} |",
    ]
    return "\n".join(lines) + "\n"


def render_http_vs_grpc(report: dict[str, Any]) -> str:
    """bench/http_vs_grpc.py: each door's rounds, then HTTP ÷ gRPC of the medians."""
    results, ratios = report["results"], report["ratios"]
    lines = [
        f"{report['max_tokens']} new tokens per request, greedy; rounds in the order "
        f"{', '.join(report['order'])}." + _stamp(report),
        "",
        *_header("measure", "gRPC (rounds)", "HTTP (rounds)", "HTTP ÷ gRPC (medians)"),
    ]
    rows = (
        ("tok/s, 32 concurrent streams", "c32", "tok_per_s", "tok_per_s_c32_http_over_grpc"),
        ("TTFT p50 s, 8 concurrent", "c8", "ttft_p50_s", "ttft_p50_c8_http_over_grpc"),
    )
    for label, load, measure, ratio in rows:
        digits = 1 if measure == "tok_per_s" else 3
        cells = [
            " / ".join(f"{r[measure]:.{digits}f}" for r in results[door][load])
            for door in ("grpc", "http")
        ]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | **{ratios[ratio]:.2f}** |")
    return "\n".join(lines) + "\n"


def render_pruning(report: dict[str, Any]) -> str:
    """bench/pruning.py: Reason's accuracy and tokens per pruning rule on the train split."""
    lines = [
        f"Reason on the first {report['problems']} {report['split']}-split problems, "
        f"{report['branches']} branches, {report['max_tokens']} tokens; one start per rule."
        + _stamp(report),
        "",
        *_header("rule", "correct / problems [95 % CI]", "decoder tokens / problem", "chosen"),
    ]
    for row in report["rows"]:
        rule = "no pruning, no early stop" if row["rule"] == "none" else f"relative {row['rule']}"
        chosen = "**chosen**" if row["rule"] == report["chosen"] else ""
        lines.append(
            f"| {rule} | {format_proportion(row['correct'], row['problems'])} "
            f"| {row['tokens_per_problem']:.0f} | {chosen} |"
        )
    reported = report.get("reported")
    if reported:
        proportion = format_proportion(reported["correct"], reported["problems"])
        lines += [
            "",
            f"Reported: the chosen rule (relative {reported['rule']}) on the first "
            f"{reported['problems']} {reported['split']}-split problems, one more start."
            + _stamp(reported),
            "",
            *_header("split", "correct / problems [95 % CI]", "decoder tokens / problem"),
            f"| {reported['split']} | {proportion} | {reported['tokens_per_problem']:.0f} |",
        ]
    return "\n".join(lines) + "\n"


def render_load(report: dict[str, Any]) -> str:
    """bench/load.py (RELIABILITY.md): overload, fairness of long prompts, caller cancels."""
    summary = report["summary"]
    before, after = summary["before"], summary["after"]
    lines = [
        f"Starts in the order {', '.join(report['order'])}, each its own platform (eager "
        "engines; student and encoder pool off)." + _stamp(report),
        "",
        *_header("figure", "goal", "measured"),
    ]
    overload = summary.get("overload")
    if overload:
        codes = dict(overload["codes"])
        completed, refused = codes.pop("OK", 0), codes.pop("RESOURCE_EXHAUSTED", 0)
        others = ", ".join(f"{code} {n}" for code, n in sorted(codes.items())) or "none"
        lines.append(
            f"| overload: open-loop arrivals at {report['overload_factor']} × capacity "
            f"({overload['rate_per_s']:.1f} calls/s for {overload['seconds']} s; capacity "
            f"{summary['capacity_per_s']:.1f} 8-token Generate calls/s; "
            f"{overload['admission_capacity']} admitted per decoder replica) "
            "| excess refused fast (≤ 100 ms), every accepted call completes "
            f"| {overload['offered']} offered: {overload['accepted']} accepted, "
            f"**{completed}/{overload['accepted']} completed**, {refused} refused "
            f"RESOURCE_EXHAUSTED, other codes: {others}; refusal **p50 "
            f"{overload['rejection_p50_ms']:.0f} ms, p99 {overload['rejection_p99_ms']:.0f} ms**; "
            f"accepted calls took p50 {overload['accepted_p50_s']:.1f} s, p99 "
            f"{overload['accepted_p99_s']:.1f} s |"
        )

    def fair(side: dict[str, Any]) -> str:
        per_start = " and ".join(f"{v:.2f} s" for v in side["short_with_long_per_start_p50_s"])
        return (
            f"**{side['short_with_long_p50_s']:.2f} s = {side['busy_over_idle']:.1f} × idle** "
            f"({side['idle_short_p50_s']:.2f} s; per start {per_start})"
        )

    growth = after["long_p50_s"] / before["long_p50_s"] - 1
    words = f"{report['long_prompt_words']:,}".replace(",", " ")
    lines.append(
        f"| short request (2 tokens) while a {words}-word prompt is "
        "prefilled, p50 | ≤ 2 × idle "
        f"| before (vLLM CPU defaults): {fair(before)}; after (as shipped): {fair(after)}; "
        f"the long prompt itself {before['long_p50_s']:.1f} s → {after['long_p50_s']:.1f} s "
        f"({growth:+.0%}) |"
    )
    cancels = (
        f"after (Ponder's proxy fix): **{after['cancel_aborted']}**; before (Serve's stock "
        f"servicer hook): {before['cancel_aborted']}"
    )
    direct = summary.get("direct")
    if direct:
        cancels += (
            f"; Serve's direct ingress (stock hook): {direct['cancel_direct_aborted']} on the "
            f"replica's own port, {direct['cancel_proxy_aborted']} through the proxy"
        )
    lines.append(
        "| caller cancels of a stream that reach vLLM (engine idle 3 s after the cancel) "
        f"| 100 % | {cancels} |"
    )
    return "\n".join(lines) + "\n"


BENCHMARK_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "bench/results/load.json": render_load,
    "bench/results/prompt_embeds.json": render_prompt_embeds,
    "bench/results/encoder.json": render_encoder,
    "bench/results/learning.json": render_learning,
    "bench/results/cluster_autoscale.json": render_cluster_autoscale,
    "bench/results/autoscaling.json": render_autoscaling,
    "bench/results/pruning.json": render_pruning,
    "bench/results/tracing.json": render_tracing,
    "bench/results/http_vs_grpc.json": render_http_vs_grpc,
    "bench/results/student.json": render_student,
    "bench/results/student_accuracy.json": render_student_accuracy,
    "bench/results/reason.json": render_reason,
    "bench/results/decoder.json": render_decoder,
    "bench/results/fusion.json": render_fusion,
    "bench/results/fusion-balanced-train.json": render_fusion,
    "bench/results/robustness.json": render_robustness,
    "bench/results/robustness-vote-rl.json": render_robustness,
    "bench/results/robustness-before-rl.json": render_robustness,
}


# -- trained artifacts: rendered from the metrics file their training command wrote --------

STRATEGIES = (
    ("pot", "pot (expression → evaluator)"),
    ("decompose", "decompose (`a op b = c` lines → evaluator)"),
    ("cot", "cot (worked answer, then the number)"),
    ("direct", "direct (the number only)"),
    ("any_strategy", "any strategy right (oracle)"),
)


def _strategy_table(per_model: dict[str, Any], columns: dict[str, str]) -> list[str]:
    """One greedy branch per planner strategy on the dev split, a column per model."""
    lines = _header("strategy (one greedy pass)", *columns.values())
    for key, label in STRATEGIES:
        cells = [_k_of_n(per_model[model][key]) for model in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _training_rows(training: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    kind = "GPU" if settings["use_gpu"] else "CPU"
    workers = settings["num_workers"]
    ray_train = (
        f"Ray Train, {workers} {kind} worker{'s' if workers > 1 else ''} "
        f"({settings['cpus_per_worker']:g} CPUs each)"
    )
    curve = training.get("loss_curve", [])
    picks = sorted({0, len(curve) // 4, len(curve) // 2, len(curve) - 1}) if curve else []
    losses = " → ".join(f"{curve[i]['loss']:.2f} (step {curve[i]['step']})" for i in picks)
    formats = ", ".join(f"{k} {v}" for k, v in training["examples_by_format"].items())
    rows = [
        ("examples drawn (train split), by format", f"{training['examples_drawn']}: {formats}"),
        ("steps", str(training["steps"])),
        ("runner", training.get("runner", ray_train)),
        ("wall time of the training run", f"{training['wall_seconds_this_invocation']:.0f} s"),
        ("examples/s", f"{training['examples_per_second']:.2f}"),
        ("loss as logged", losses or "n/a"),
        ("final loss (smoothed)", f"{training['final_loss_smoothed']:.3f}"),
    ]
    return [*_header("measure", "value"), *(f"| {k} | {v} |" for k, v in rows)]


def render_adapter_metrics(metrics: dict[str, Any]) -> str:
    """`ponder train adapter`: its training run, then the dev split per strategy, base
    model against the adapter (one in-process engine serves both)."""
    per_model = metrics["dev_split"]["greedy_single_branch_per_strategy"]
    lines = [
        f"Adapter `{metrics['version']}` (`{metrics['command']}`; settings in its `metrics.json`).",
        "",
        *_training_rows(metrics["training"], metrics["settings"]),
        "",
        *_strategy_table(per_model, {"base": "base model", "adapter": f"`{metrics['version']}`"}),
    ]
    return "\n".join(lines) + "\n"


def render_student_metrics(metrics: dict[str, Any]) -> str:
    """`ponder train student`: its training run, then the dev split per strategy, student
    against its teacher (the teacher's figures from the teacher adapter's evaluation)."""
    if "rl_rounds" in metrics:  # trained by `ponder train rl`
        return render_rl_student(metrics)
    per_model = metrics["dev_split"]["greedy_single_branch_per_strategy"]
    settings = metrics["settings"]
    lines = [
        f"Student `{metrics['name']}` (`{metrics['command']}`): teacher {metrics['teacher']}; "
        f"layers kept {metrics['layers_kept']}; \N{GREEK SMALL LETTER ALPHA} = "
        f"{settings['alpha']}, T = {settings['temperature']}, delta rank {settings['rank']}.",
        "",
        *_training_rows(metrics["training"], metrics["settings"]),
        "",
        *_strategy_table(per_model, {"student": f"`{metrics['name']}`", "teacher": "teacher"}),
    ]
    return "\n".join(lines) + "\n"


def render_fusion_training(metrics: dict[str, Any]) -> str:
    """`ponder train fusion`: what the packaged fusion weights were trained on, loss per
    epoch (its held-out figures of the time, on an unbalanced set, are not rendered)."""
    losses = " → ".join(f"{loss:.2f}" for loss in metrics["losses"])
    return (
        f"Packaged weights `{metrics['version']}`: trained on {metrics['trained_on']}, "
        f"{metrics['epochs']} epochs; mean training loss per epoch {losses}.\n"
    )


ARTIFACT_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "platform/ponder/multimodal/multimodal.json": render_fusion_training,
    "platform/ponder/adapters/*/metrics.json": render_adapter_metrics,
    "platform/ponder/students/*/metrics.json": render_student_metrics,
    "platform/ponder/reasoning/scorer_default.json": render_verifier,
    "platform/ponder/reasoning/ranker_default.json": render_ranker,
}

# Every source a block may name (a path from the root, `*` for an artifact's version).
RENDERERS = {**BENCHMARK_RENDERERS, **ARTIFACT_RENDERERS}


def renderer_for(path: str) -> Callable[[dict[str, Any]], str]:
    """The renderer whose pattern the block's source path matches."""
    for pattern, render in RENDERERS.items():
        if fnmatch.fnmatch(path, pattern):
            return render
    raise KeyError(f"no renderer for {path}")


def regenerate(markdown: str, root: Path = ROOT) -> str:
    """`markdown` with every generated block rendered again from its source under `root`."""

    def block(match: re.Match[str]) -> str:
        render = renderer_for(match["path"])
        source = json.loads((root / match["path"]).read_text())
        return match.group(1) + render(source) + match.group(4)

    return BLOCK.sub(block, markdown)
