"""Tables of the trained artifacts' own metrics files (adapter, students, fusion)."""

from __future__ import annotations

from typing import Any

from bench.render_reasoning import render_rl_student
from bench.tables import header as _header
from bench.tables import k_of_n as _k_of_n
from bench.tables import stamp
from ponder.stats import format_proportion

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


def render_chart_reader(meta: dict[str, Any]) -> str:
    """`ponder train chart-reader`: how much of held-out charts the trunk reads, in the
    styles it trained on and in styles it never saw, then per question type the answer
    worked out over its reading beside the majority class of the training set."""
    metrics = meta["metrics"]
    names = {"dev": "dev (seen styles)", "test_style_shifted": "test (shifted styles)"}
    lines = [
        f"Chart reader `{meta['version']}` (`{meta['command']}`): {meta['trained_on']}; "
        f"{meta['seconds']} s on {meta['threads']} CPU threads. Held-out sets balanced by "
        "answer class.",
        "",
        *_header("held-out set", "kind right", "categories counted", "labels read",
                "values read (to the step of 5)", "whole chart right"),
    ]  # fmt: skip
    for split, row in metrics.items():
        reading = row["reading"]
        charts, slots = reading["charts"], reading["slots"]
        lines.append(
            f"| {names.get(split, split)} | {format_proportion(reading['kind'], charts)} "
            f"| {format_proportion(reading['count'], charts)} "
            f"| {format_proportion(reading['labels'], slots)} "
            f"| {format_proportion(reading['values'], slots)} "
            f"| {format_proportion(reading['whole'], charts)} |"
        )
    for split, row in metrics.items():
        lines += ["", f"{names.get(split, split)}:", "", *_answer_rows(row)]
    return "\n".join(lines) + "\n"


def render_chart_fusion(meta: dict[str, Any]) -> str:
    """`ponder train chart-fusion`: per question type, what the decoder answers from the
    fused chart vectors (stage 1: the frozen decoder; stage 2: with the LoRA trained
    beside the fusion), beside the plain decoder given the question alone and the reader's
    reading written as text, and the majority class of the training set."""
    names = {"dev": "dev (seen styles)", "test_style_shifted": "test (shifted styles)"}
    stage = int(meta.get("stage", 1))
    conditions = (
        ("majority", "majority class (from training)"),
        ("text-only", "decoder, question alone"),
        ("reading-text", "decoder, reading as text"),
        ("fused", "decoder + its LoRA, fused" if stage == 2 else "decoder, fused chart vectors"),
    )
    lines = [
        f"Stage {stage}: chart fusion `{meta['version']}` over reader `{meta['reader']}` "
        f"(`{meta['command']}`), "
        f"{'question' if meta.get('question_queries') else 'token'} queries: "
        f"{meta['trained_on']}; {meta['seconds']} s on "
        f"{meta['threads']} CPU threads. Held-out sets balanced by answer class; a reply is "
        "graded by the first answer it names."
    ]
    if meta.get("note"):
        lines += ["", f"Note: {meta['note']}"]
    for split, row in meta["metrics"].items():
        lines += ["", f"{names.get(split, split)}:", ""]
        lines += _header("question type", *(title for _, title in conditions))
        for name, counts in row["per_type"].items():
            cells = [_k_of_n(counts[key]) for key, _ in conditions]
            label = "**all**" if name == "all" else name
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _answer_rows(row: dict[str, Any]) -> list[str]:
    """Per question type, then per kind in all: the majority class, the answer over the
    chart read alone (when measured) and read knowing the question's labels, and how sure
    the readings were."""
    bound = row.get("min_confidence")
    alone = all("read_alone" in c for c in row["answers"].values())
    columns = ["question type", "majority class (from training)"]
    if alone:
        columns += ["chart read alone, then computed", "read with the question's labels"]
    else:
        columns += ["read, then computed"]
    if bound is not None:
        columns += [f"answer at least {bound} sure", "right of those"]
    kinds: dict[str, dict[str, int]] = {}
    for name, counts in row["answers"].items():
        total = kinds.setdefault(f"**{name.split('/')[0]}, all types**", {})
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    lines = _header(*columns)
    for name, counts in [*row["answers"].items(), *kinds.items()]:
        n = counts["n"]
        cells = [format_proportion(counts["majority"], n)]
        cells += [format_proportion(counts["read_alone"], n)] if alone else []
        cells.append(format_proportion(counts["read"], n))
        if bound is not None:
            answered = counts["answered"]
            cells.append(format_proportion(answered, n))
            cells.append(
                format_proportion(counts["answered_right"], answered) if answered else "none"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render_table_reader(meta: dict[str, Any]) -> str:
    """`ponder train table-reader`: per question type, the answers worked out over the
    cells the reader picked beside the majority class and the decoder's text-only and
    table-as-text baselines, on tables in the seen family and in the shifted one."""
    names = {"dev": "dev (seen wordings and domains)", "test_shifted": "test (shifted)"}
    lines = [
        f"Table reader `{meta['version']}` (`{meta['command']}`): {meta['trained_on']}; "
        f"{meta['seconds']} s on {meta['threads']} CPU threads. Held-out sets balanced by "
        "answer position; the decoder baselines choose among candidate answers (see above)."
    ]
    for split, row in meta["metrics"].items():
        bound = row["min_confidence"]
        columns = ["question type", "majority class", "text-only", "table-as-text"]
        columns += ["reader, then computed", f"reader at least {bound} sure", "right of those"]
        lines += ["", f"{names.get(split, split)}:", "", *_header(*columns)]
        totals = dict.fromkeys(("n", "majority", "text_only", "table_text", "read"), 0)
        for name, counts in row["answers"].items():
            n, answered = counts["n"], counts["answered"]
            if name == "other":
                continue
            for key in totals:
                totals[key] += counts[key]
            cells = [format_proportion(counts["majority"], n)]
            cells += [
                format_proportion(counts[k], n) if row["decoder_baselines"] else "not run"
                for k in ("text_only", "table_text")
            ]
            cells += [format_proportion(counts["read"], n), format_proportion(answered, n)]
            cells.append(
                format_proportion(counts["answered_right"], answered) if answered else "none"
            )
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        n = totals["n"]
        lines.append(
            "| **all five** | "
            + " | ".join(
                format_proportion(totals[k], n)
                if row["decoder_baselines"] or k in ("majority", "read")
                else "not run"
                for k in ("majority", "text_only", "table_text", "read")
            )
            + " | | |"
        )
        other = row["answers"].get("other")
        if other:
            lines += [
                "",
                f'Questions of none of these kinds ("Describe this table."): left to the fused '
                f"decoder {other['read']} of {other['n']} times; answered from cells anyway "
                f"{other['answered']} of {other['n']} times at the {bound} bound.",
            ]
    return "\n".join(lines) + "\n"


def render_table_reader_ab(report: dict[str, Any]) -> str:
    """`bench/table_reader.py`: per seed, the ways of reading the question (and of training
    the reader) side by side."""
    lines = [
        *_header("seed", "variant", "dev: right of five types",
                 "shifted: right of five types", "shifted: others left to the decoder"),
    ]  # fmt: skip
    totals: dict[str, dict[str, int]] = {}
    for run in report["runs"]:
        dev, shifted = run["dev"], run["test_shifted"]
        lines.append(
            f"| {run['seed']} | {run['variant']} | {format_proportion(dev['right'], dev['n'])} "
            f"| {format_proportion(shifted['right'], shifted['n'])} "
            f"| {format_proportion(shifted['other_left'], shifted['other_n'])} |"
        )
        total = totals.setdefault(
            run["variant"], dict.fromkeys(("d", "dn", "s", "sn", "o", "on"), 0)
        )
        for key, value in (("d", dev["right"]), ("dn", dev["n"]), ("s", shifted["right"]),
                           ("sn", shifted["n"]), ("o", shifted["other_left"]),
                           ("on", shifted["other_n"])):  # fmt: skip
            total[key] += value
    for variant, t in totals.items():
        lines.append(
            f"| all | **{variant}** | {format_proportion(t['d'], t['dn'])} "
            f"| {format_proportion(t['s'], t['sn'])} | {format_proportion(t['o'], t['on'])} |"
        )
    return "\n".join(lines) + "\n"


def render_chart_views(report: dict[str, Any]) -> str:
    """`bench/chart_views.py`: the packaged chart reader as drawn against pooled over views."""
    splits = {"dev": "dev (seen styles)", "test_style_shifted": "test (shifted styles)"}
    ways = list(report["splits"]["dev"])
    lines = [
        f"Chart reader `{report['reader']}`, {report['views']} views (6 channel orders, as "
        f"drawn and inverted).{stamp(report)}",
        "",
        *_header("set", "read", "charts read entirely right", "labels read",
                 "bar questions right", "line questions right"),
    ]  # fmt: skip
    for split, title in splits.items():
        for way in ways:
            row = report["splits"][split][way]
            reading, bar, line = row["reading"], row["bar"], row["line"]
            lines.append(
                f"| {title} | {way} | {format_proportion(reading['whole'], reading['charts'])} "
                f"| {format_proportion(reading['labels'], reading['slots'])} "
                f"| {format_proportion(bar['read'], bar['n'])} "
                f"| {format_proportion(line['read'], line['n'])} |"
            )
    ten = report["ten_shifted_charts"]
    lines += ["", *_header("the Analyze test's ten shifted charts", "answered right",
                           "right and at least 0.5 sure")]  # fmt: skip
    for way, row in ten.items():
        lines.append(f"| {way} | {row['right']}/{row['n']} | {row['right_and_sure']}/{row['n']} |")
    return "\n".join(lines) + "\n"
