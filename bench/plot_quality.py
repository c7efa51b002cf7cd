"""The plots of answer quality (bench/plots.py draws them): Reason's accuracy against
branches and tokens, the learning curve, methods on the dev split, chart and table
reading. Each `*_data` extracts a plot's series from its result file, `draw_*` draws it."""

from __future__ import annotations

from typing import Any

Series = dict[str, Any]


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
