"""Tables of the outcome-learning benchmarks (`bench/learning.py`, `bench/ranker_refit.py`)."""

from __future__ import annotations

from typing import Any

from bench.tables import header as _header
from bench.tables import stamp as _stamp
from ponder.stats import format_proportion

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
            "model Reason's branches run on",
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
            f"{_model_cell(row)} | "
            f"{format_proportion(row['held_out_right'], row['held_out_problems'])} | {versus} | "
            f"{NONE if stream_accuracy is None else f'{stream_accuracy:.3f}'} | "
            f"{row['tokens_per_problem']:.0f} |"
        )
    return (
        "\n".join(lines + _refresh_table(loop) + _rankers_table(report) + _scorer_tables(report))
        + "\n"
    )


def _model_cell(row: dict[str, Any]) -> str:
    model = row.get("model_version")
    if model is None:
        return NONE
    return f"`{model}` (refreshed here)" if row.get("refresh") else f"`{model}`"


def _refresh_table(loop: dict[str, Any]) -> list[str]:
    """Each model refresh the loop ran: its gate on held-back stream problems."""
    refreshes = loop.get("refreshes") or []
    if not refreshes:
        return []
    lines = [
        "",
        "Every model refresh (`ponder train refresh` on the caller's scope, the platform running):",
        "",
        *_header(
            "after outcomes",
            "version",
            "gate: won / lost on held-back stream problems, p",
            "verdict",
            "verified paths trained on",
            "train + gate, s",
        ),
    ]
    for row in refreshes:
        gate = row.get("gate") or {}
        verdict = (
            f"+{gate['wins']} / −{gate['losses']} of {gate['problems']}, p = {gate['p_value']:.3f}"
            if gate
            else NONE
        )
        lines.append(
            f"| {row['outcomes']} | `{row.get('version', NONE)}` | {verdict} | "
            f"{row['status']} | {row.get('verified', NONE)} | {row['seconds']:.0f} |"
        )
    return lines


def _rankers_table(report: dict[str, Any]) -> list[str]:
    rankers = report["rankers_on_fixed_rows"]
    lines = [
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
    if base := rankers.get("baselines"):
        n = base["problems"]
        lines += [
            f"| one greedy pot branch (each reasoning's greedy program) | baseline | {NONE} | "
            f"{NONE} | {NONE} | {format_proportion(base['greedy_pot'], n)} |",
            f"| the held-out set's most frequent answer | baseline | {NONE} | {NONE} | {NONE} | "
            f"{format_proportion(base['most_frequent'], n)} |",
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
    return lines


def _scorer_tables(report: dict[str, Any]) -> list[str]:
    fixed = report["versions_on_fixed_rows"]
    lines = [
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
    return lines


def render_ranker_refit(report: dict[str, Any]) -> str:
    """bench/ranker_refit.py: ways of learning the ranker from outcomes, on the same
    held-out problems, each paired with the packaged ranker."""
    n = report["held_out_problems"]
    lines = [
        f"{report['stream_problems']} stream problems learned from (in the stream's order), "
        f"{n} held-out problems, {report['branches']} sampled programs each; rehearsal set "
        f"{report['rehearsal_problems']} training problems." + _stamp(report),
        "",
        *_header("how", "outcomes", "held-out right", "vs packaged: won / lost"),
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['method']} | {row['outcomes']} | {format_proportion(row['right'], n)} | "
            f"+{row['wins']} / −{row['losses']} |"
        )
    return "\n".join(lines) + "\n"


def render_ranker_refit_stories(report: dict[str, Any]) -> str:
    """bench/ranker_refit.py --by-story: a refit measured on other variants of the stories
    it learned from and on stories it never saw, each paired with the packaged ranker."""
    lines = [
        f"{report['stream_problems']} stream problems with samples, variants of "
        f"{report['stories']} stories; {len(report['folds'])} folds, each keeping a third of "
        "the stories unseen." + _stamp(report),
        "",
        *_header("fold", "outcomes learned from", "where measured", "most frequent answer",
                 "one greedy pot branch", "packaged ranker", "refit",
                 "refit vs packaged: won / lost"),
    ]  # fmt: skip
    totals: dict[str, dict[str, int]] = {}
    names = {"seen_stories": "other variants of the stories learned", "unseen_stories":
             "stories never learned"}  # fmt: skip
    for fold in report["folds"]:
        for key, name in names.items():
            row = fold[key]
            total = totals.setdefault(key, dict.fromkeys(row, 0))
            for field, value in row.items():
                total[field] += value
            lines.append(
                f"| {fold['fold']} | {fold['learned_from']} | {name} | "
                f"{format_proportion(row['most_frequent'], row['n'])} | "
                f"{format_proportion(row['greedy_pot'], row['n'])} | "
                f"{format_proportion(row['packaged'], row['n'])} | "
                f"{format_proportion(row['refit'], row['n'])} | +{row['wins']} / −{row['losses']} |"
            )
    for key, name in names.items():
        t = totals[key]
        lines.append(
            f"| all | | **{name}** | {format_proportion(t['most_frequent'], t['n'])} | "
            f"{format_proportion(t['greedy_pot'], t['n'])} | "
            f"{format_proportion(t['packaged'], t['n'])} | "
            f"{format_proportion(t['refit'], t['n'])} | +{t['wins']} / −{t['losses']} |"
        )
    return "\n".join(lines) + "\n"


def render_refresh(report: dict[str, Any]) -> str:
    """bench/refresh.py: one outcome-driven model refresh, its gate, and default Reason on
    the held-out problems with the base student and with the refresh, paired."""
    held = report["held_out"]
    gate = report["refresh"]["gate"]
    n = held["problems"]
    logged = report["stream_logged"]
    lines = [
        f"{logged['train'] + logged['held_back']} logged stream problems "
        f"({logged['train']} to learn from, {logged['held_back']} held back for the gate); "
        f"refresh `{report['refresh']['version']}` {report['refresh']['status']} in "
        f"{report['refresh_seconds']:.0f} s (train + gate). Gate: {gate['reason']}."
        + _stamp(report),
        "",
        *_header("held-out problems (default Reason)", "right", "only this one right"),
        f"| most frequent answer of the set | {format_proportion(held['majority_answer']['k'], n)}"
        " | |",
        f"| base student | {format_proportion(held['base']['k'], n)} | "
        f"{held['base_alone_right']} |",
        f"| refreshed student | {format_proportion(held['refreshed']['k'], n)} | "
        f"{held['refresh_alone_right']} |",
        "",
        f"One-sided sign test of the refresh over the base on the discordant problems: "
        f"p = {held['sign_test_p_one_sided']}.",
    ]
    return "\n".join(lines) + "\n"
