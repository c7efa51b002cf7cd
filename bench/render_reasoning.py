"""Renderers of the reasoning figures: `bench/robustness.py`'s result (Reason against its
baselines on unseen problems, the accuracy-compute curve) and the packaged path
verifier's fit (`ponder train verifier`). Registered in bench/report.py."""

from __future__ import annotations

from typing import Any

from bench.tables import header as _header
from bench.tables import k_of_n as _cell
from bench.tables import stamp as _stamp
from ponder.stats import format_proportion

SET_NAMES = {
    "dev": "dev split (MAWPS/ASDiv, never trained on)",
    "robust": "robustness dev set (perturbed dev problems)",
    "gsm8k2": "two-step GSM8K (dev split, never trained on)",
}
KIND_NAMES = {
    "distractor": "irrelevant sentence with a number",
    "renumber": "new numbers, answer recomputed",
    "reorder": "sentences reordered",
    "question_swap": "asks for another quantity of the story",
    "paraphrase": "question paraphrased",
}


def render_robustness(report: dict[str, Any]) -> str:
    """bench/robustness.py: per set, Reason against one greedy pot branch and a plain
    majority vote over Reason's own programs; per robustness kind; then the curve."""
    ranker = report.get("ranker")
    chooser = f", answer ranker `{ranker['version']}`" if ranker else ""
    lines = [
        f"Planner as shipped on `{report['model']}`, verifier `{report['scorer']}`{chooser}; "
        "every generated token counted." + _stamp(report),
        "",
        *_header(
            "set (problems)",
            "majority answer",
            "greedy pot (1 branch)",
            "majority vote, same programs",
            "Reason",
            "Reason ÷ greedy",
            "Reason ÷ majority vote",
            "tokens / problem: greedy, Reason (ratio)",
        ),
    ]
    for name, row in report["sets"].items():
        greedy, majority, reason = row["greedy_pot"], row["majority_same"], row["reason"]
        tokens_ratio = reason["tokens_per_problem"] / max(1e-9, greedy["tokens_per_problem"])
        lines.append(
            f"| {SET_NAMES.get(name, name)} ({row['problems']}) "
            f"| {_cell(row['majority_answer_baseline'])} | {_cell(greedy)} "
            f"| {_cell(majority)} | {_cell(reason)} "
            f"| {reason['k'] / max(1, greedy['k']):.2f} "
            f"| {reason['k'] / max(1, majority['k']):.2f} "
            f"| {greedy['tokens_per_problem']:.1f}, {reason['tokens_per_problem']:.1f} "
            f"({tokens_ratio:.1f}×) |"
        )
    by_kind = report["sets"].get("robust", {}).get("by_kind", {})
    if by_kind:
        lines += ["", *_header("robustness kind (problems)", "greedy pot", "Reason")]
        for kind, row in by_kind.items():
            lines.append(
                f"| {KIND_NAMES.get(kind, kind)} ({row['n']}) "
                f"| {format_proportion(row['greedy_pot'], row['n'])} "
                f"| {format_proportion(row['reason'], row['n'])} |"
            )
    lines += _curve_lines(report.get("curve", {}))
    return "\n".join(lines) + "\n"


_CURVE_METHODS = {
    "majority": "majority vote",
    "weighted": "verifier-weighted vote",
    "adaptive": "adaptive waves (vote)",
    "ranked": "answer ranker",
    "ranked_adaptive": "adaptive waves (ranker)",
}


def _curve_lines(curve: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, data in curve.items():
        methods = [m for m in _CURVE_METHODS if m in next(iter(data["branches"].values()))]
        lines += [
            "",
            f"Accuracy against compute on the {SET_NAMES.get(name, name)}, replayed on the "
            f"same 16 programs per problem sampled from `{data.get('samples_from', '?')}` "
            f"({data['problems']} problems): the first k of them, answered {len(methods)} ways "
            "(tokens / problem in brackets; adaptive: the shipped waves, capped at k).",
            "",
            *_header("branches", *(_CURVE_METHODS[m] for m in methods)),
        ]
        for k, row in data["branches"].items():
            cells = [f"{_cell(row[m])} ({row[m]['tokens_per_problem']:.0f})" for m in methods]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines


def render_verifier(scorer: dict[str, Any]) -> str:
    """`ponder train verifier`: the packaged verifier's discrimination on held-out paths."""
    metrics = scorer["metrics"]
    lines = [
        f"Verifier `{scorer['version']}`: {metrics['trained_on']}. A path is *right* when its "
        "executed answer equals the gold answer; precision and recall of 'right' at score 0.5.",
        "",
        *_header("paths of", "paths", "right", "precision", "recall", "log-loss"),
    ]
    sets = {"train (fitted on)": metrics["train_paths"]}
    for key, value in metrics.items():
        if key.startswith("held_out_"):
            sets[SET_NAMES.get(key[len("held_out_") :], key)] = value
    for name, m in sets.items():
        lines.append(
            f"| {name} | {m['paths']} | {m['right_rate']:.3f} | {m['precision']:.3f} "
            f"| {m['recall']:.3f} | {m['log_loss']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def render_ranker(ranker: dict[str, Any]) -> str:
    """`ponder train verifier`: the packaged answer ranker on held-out problems' samples,
    beside the greedy program, the plain vote and (when fitted with program search) the
    same ranker fitted without search, all on the same samples."""
    metrics = ranker["metrics"]
    plain = metrics.get("without_search", {})
    search = "with program search" if ranker["search"] else "sampled answers only"
    columns = ["held-out set (problems)", "branches", "greedy pot", "majority vote"]
    columns += ["ranker without search"] if plain else []
    columns += ["answer ranker", "some candidate right"]
    lines = [f"Answer ranker `{ranker['version']}` ({search}): {metrics['trained_on']}."]
    if "sample_counts" in metrics:
        counts = " and ".join(str(c) for c in metrics["sample_counts"])
        lines[0] += f" Fitted at the first {counts} programs of each training problem."
    lines += ["", *_header(*columns)]
    for key, rows in metrics.items():
        if not key.startswith("held_out_"):
            continue
        name = SET_NAMES.get(key[len("held_out_") :], key)
        for index, row in enumerate(rows):
            n = row["problems"]
            cells = [f"{name} ({n})", str(row["branches"])]
            cells += [format_proportion(row["greedy"], n), format_proportion(row["majority"], n)]
            if plain:
                cells.append(format_proportion(plain[key][index]["ranker"], n))
            cells += [
                format_proportion(row["ranker"], n),
                format_proportion(row["any_candidate"], n),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


RL_STRATEGIES = (("pot", "pot"), ("decompose", "decompose"), ("cot", "cot"), ("direct", "direct"))


def render_rl_student(metrics: dict[str, Any]) -> str:
    """`ponder train rl`: its rounds (programs sampled, reward, groups with signal), then
    the dev split per strategy (one greedy pass each)."""
    settings = metrics["settings"]
    lines = [
        f"Student `{metrics['name']}` (`{metrics['command']}`): RL from "
        f"`{metrics['started_from']}`, {settings['group_size']} programs per problem, "
        f"clip {settings.get('clip', 0.2)}, learning rate {settings['learning_rate']:g}, "
        f"{settings['max_steps'] or 'all'} steps of {settings['batch_size']} per round; "
        f"{metrics['seconds']:.0f} s in all on {'a GPU' if settings['use_gpu'] else 'CPU'}.",
        "",
        *_header(
            "round",
            "problems",
            "programs",
            "mean reward",
            "groups with signal",
            "rollouts (trained on)",
        ),
    ]
    for index, row in enumerate(metrics["rl_rounds"], start=1):
        lines.append(
            f"| {index} | {row['problems']} | {row['programs']} | {row['reward_mean']:.3f} "
            f"| {row['groups_with_signal']} | {row['rollouts']} ({row['rollouts_trained']}) |"
        )
    per_strategy = metrics.get("dev_split", {}).get("greedy_single_branch_per_strategy", {})
    if per_strategy:
        lines += ["", *_header("strategy (one greedy pass, dev split)", f"`{metrics['name']}`")]
        for key, label in RL_STRATEGIES:
            row = per_strategy["student"][key]
            lines.append(f"| {label} | {_cell(row)} |")
    return "\n".join(lines) + "\n"


def render_chart_wording(report: dict[str, Any]) -> str:
    """bench/chart_wording.py: Reason on chart difference questions, the values read
    stated in each wording, right as k/n with the interval."""
    meta = report.get("meta", {})
    lines = [
        f"{report['problems']} difference questions about {report['split']} bar charts "
        f"(seed {report['seed']}), each sent to Reason in both wordings, alternating which "
        f"goes first.{_stamp(report)}"
        + (f" Config `{meta['config']['path']}`." if meta.get("config") else ""),
        "",
        *_header("values stated", "Reason right"),
        f'| "The value of Mar is 75." (before) | {_cell(report["right"]["value-of"])} |',
        f'| "The Mar bar is 75." (now) | {_cell(report["right"]["as-named"])} |',
    ]
    return "\n".join(lines) + "\n"
