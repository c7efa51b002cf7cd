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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.render_artifacts import (
    render_adapter_metrics,
    render_chart_fusion,
    render_chart_reader,
    render_chart_views,
    render_fusion_training,
    render_student_metrics,
    render_table_reader,
    render_table_reader_ab,
)
from bench.render_engine_speed import (
    render_burst,
    render_engine_metrics,
    render_int8,
    render_prefix_routing,
)
from bench.render_learning import (
    render_learning,
    render_ranker_refit,
    render_ranker_refit_stories,
    render_refresh,
)
from bench.render_reasoning import (
    render_chart_wording,
    render_ranker,
    render_robustness,
    render_verifier,
)
from bench.render_serving import (
    render_autoscaling,
    render_cluster_autoscale,
    render_decoder,
    render_encoder,
    render_fairness,
    render_first_token,
    render_http_body,
    render_http_vs_grpc,
    render_load,
    render_prompt_embeds,
    render_tracing,
)
from bench.tables import cpu_note
from bench.tables import header as _header
from bench.tables import k_of_n as _k_of_n
from bench.tables import median_range as _median_range
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


STUDENT_RATIOS = (
    ("c32.tok_per_s", "tok/s at 32 streams", "≥ 2.5 (issue 11), ≥ 5 (issue 32)"),
    ("c1.tok_per_s", "tok/s one at a time", "≥ 2.5 (issue 11), ≥ 5 (issue 32)"),
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
        f"{length} tokens per answer; the student's weights: "
        f"{report.get('student_weights', 'float32')}." + cpu_note(report) + _stamp(report),
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


def render_student_served(report: dict[str, Any]) -> str:
    """bench/student.py --served-limit: Reason with the planner's defaults, student and
    teacher on the same problems, paired."""
    from ponder.learning.paired_gate import sign_test_p

    lines = [
        "Reason as served (the planner's defaults: branches in waves, the ranker choosing), "
        "the same problems for both, 16 at a time." + cpu_note(report) + _stamp(report),
        "",
        *_header(
            "problems",
            "student right",
            "teacher right",
            "only the student / only the teacher right",
            "decoder tokens / problem, student / teacher",
            "failed calls (counted wrong), student / teacher",
            "student ÷ teacher, accuracy (goal ≥ 0.92)",
        ),
    ]
    for name, rows in report["sets"].items():
        student, teacher = rows["student"], rows["teacher"]
        pairs = list(zip(student["outcomes"], teacher["outcomes"], strict=True))
        only_student = sum(s and not t for s, t in pairs)
        only_teacher = sum(t and not s for s, t in pairs)
        p = sign_test_p(only_student, only_teacher)
        lines.append(
            f"| {name} | {format_proportion(student['correct'], student['problems'])} "
            f"| {format_proportion(teacher['correct'], teacher['problems'])} "
            f"| {only_student} / {only_teacher} (one-sided sign test p = {p:.3f}) "
            f"| {student['tokens_per_problem']:.0f} / {teacher['tokens_per_problem']:.0f} "
            f"| {student.get('errors', 0)} / {teacher.get('errors', 0)} "
            f"| **{rows['student_over_teacher']:.2f}** |"
        )
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


BENCHMARK_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "bench/results/load.json": render_load,
    "bench/results/fairness.json": render_fairness,
    "bench/results/burst.json": render_burst,
    "bench/results/prefix_routing.json": render_prefix_routing,
    "bench/results/int8.json": render_int8,
    "bench/results/int8-avx2.json": render_int8,
    "bench/results/engine_metrics.json": render_engine_metrics,
    "bench/results/prompt_embeds.json": render_prompt_embeds,
    "bench/results/encoder.json": render_encoder,
    "bench/results/learning.json": render_learning,
    "bench/results/ranker_refit.json": render_ranker_refit,
    "bench/results/ranker_refit_stories.json": render_ranker_refit_stories,
    "bench/results/refresh.json": render_refresh,
    "bench/results/cluster_autoscale.json": render_cluster_autoscale,
    "bench/results/autoscaling.json": render_autoscaling,
    "bench/results/pruning.json": render_pruning,
    "bench/results/tracing.json": render_tracing,
    "bench/results/http_vs_grpc.json": render_http_vs_grpc,
    "bench/results/http_body.json": render_http_body,
    "bench/results/student.json": render_student,
    "bench/results/student-avx2.json": render_student,
    "bench/results/student_accuracy.json": render_student_accuracy,
    "bench/results/student_served.json": render_student_served,
    "bench/results/student_served-avx2.json": render_student_served,
    "bench/results/reason.json": render_reason,
    "bench/results/chart_wording.json": render_chart_wording,
    "bench/results/decoder.json": render_decoder,
    # Serve's HAProxy mode against the proxy, quick (one round of each load)
    "bench/results/decoder-haproxy.json": render_decoder,
    # one change against the proxy: gloo groups on a device each (as before), own raw starts
    "bench/results/decoder-proxy-gloo_per_group.json": render_decoder,
    "bench/results/first_token.json": render_first_token,
    # one change beside the shipped config: the engine at normal priority
    "bench/results/first_token-shipped-nice0.json": render_first_token,
    # one change beside the shipped config: gloo groups on a device each (as before)
    "bench/results/first_token-shipped-gloo_per_group.json": render_first_token,
    "bench/results/fusion.json": render_fusion,
    "bench/results/fusion-balanced-train.json": render_fusion,
    "bench/results/robustness.json": render_robustness,
    "bench/results/robustness-vote-rl.json": render_robustness,
    "bench/results/robustness-before-rl.json": render_robustness,
    "bench/results/table_reader.json": render_table_reader_ab,
    "bench/results/chart_views.json": render_chart_views,
}


# -- trained artifacts: rendered from the metrics file their training command wrote --------

ARTIFACT_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "platform/ponder/multimodal/multimodal.json": render_fusion_training,
    "platform/ponder/adapters/*/metrics.json": render_adapter_metrics,
    "platform/ponder/students/*/metrics.json": render_student_metrics,
    "platform/ponder/reasoning/scorer_default.json": render_verifier,
    "platform/ponder/reasoning/ranker_default.json": render_ranker,
    "platform/ponder/multimodal/chart_reader_weights/reader.json": render_chart_reader,
    "platform/ponder/multimodal/chart_fusion_weights/stage1/chart_fusion.json": (
        render_chart_fusion
    ),
    "platform/ponder/multimodal/chart_fusion_weights/chart_fusion.json": render_chart_fusion,
    # the variant tried and not kept (`--question-queries`), for the A/B in BENCHMARKS.md
    "bench/results/chart-fusion-question-queries.json": render_chart_fusion,
    "platform/ponder/multimodal/table_reader_weights/table_reader.json": render_table_reader,
    # the reader trained on smaller fonts too (`--train-font-sizes`), tried and not kept
    "bench/results/chart-reader-small-fonts.json": render_chart_reader,
    # the reader trained on other font families too (`--train-extra-fonts`), not kept
    "bench/results/chart-reader-liberation-fonts.json": render_chart_reader,
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
