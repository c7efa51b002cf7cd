"""Tables of the serving benchmarks: decoder, load, front doors, tracing, prompt
embeddings, encoder pool, autoscaling."""

from __future__ import annotations

from typing import Any

from bench.tables import cpu_note
from bench.tables import header as _header
from bench.tables import stamp as _stamp


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
    readers = report.get("readers", {})
    names = {
        "chart_reader": "rendered charts, chart reader",
        "table_reader": "table questions, table reader",
    }
    if readers:
        lines += ["", *_header("trained reader", "per s, max batch 1", "per s, max batch 8",
                               "mean batch", "P5 batched ÷ unbatched (per pass)")]  # fmt: skip
    for name, run in readers.items():
        lines.append(
            f"| {names.get(name, name)} | {run['unbatched']['per_s']:.1f} "
            f"| {run['batched']['per_s']:.1f} | {run['batched']['mean_batch']:.1f} "
            f"| **{run['P5_batched_over_unbatched']:.2f}** ({_per_pass(run['P5_per_pass'])}) |"
        )
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


def render_fairness(report: dict[str, Any]) -> str:
    """bench/load.py --fairness: shipped against vLLM's own scheduler, one change."""
    summary = report["summary"]
    words = f"{report['long_prompt_words']:,}".replace(",", " ")
    lines = [
        f"Starts in the order {', '.join(report['order'])}, each its own platform (eager "
        "engines; student and encoder pool off); a 2-token Generate alone, then 0.5 s after "
        f"a {words}-word prompt started, 3 rounds per start." + _stamp(report) + cpu_note(report),
        "",
        *_header(
            "scheduler",
            "short alone, p50 (s)",
            "short beside the long prompt, p50 (s)",
            "÷ alone (per start)",
            "long prompt, p50 (s) (per start)",
        ),
    ]
    names = {
        "capped": "vLLM's own (the long prompt's 32-token chunk in every step; alone, "
        "256-token steps)",
        "yield": "yielding (chunks sit out a new request's first two steps; alone, 256-token "
        "steps)",
        "after": "yielding, and alone 64-token steps (as shipped)",
    }
    for variant in ("capped", "yield", "after"):
        side = summary.get(variant)
        if side is None:  # a run before the variant existed
            continue
        per_start = ", ".join(f"{v:.2f}" for v in side["busy_over_idle_per_start"])
        long_per_start = ", ".join(f"{v:.1f}" for v in side["long_per_start_p50_s"])
        lines.append(
            f"| {names[variant]} | {side['idle_short_p50_s']:.2f} "
            f"| {side['short_with_long_p50_s']:.2f} "
            f"| **{side['busy_over_idle']:.2f}** ({per_start}) "
            f"| {side['long_p50_s']:.1f} ({long_per_start}) |"
        )
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


def render_http_body(report: dict[str, Any]) -> str:
    """bench/http_body.py: memory an oversized POST costs the Ingress replica and the proxy."""
    lines = [
        f"POSTs of {report['mib']} MiB to /v1/chat/completions, {report['calls']} per row "
        f"(ingress.max_message_bytes {report['max_message_bytes'] / 2**20:g} MiB); peak RSS "
        "over the idle baseline just before, sampled every 5 ms." + _stamp(report),
        "",
        *_header("POSTs", "answered", "Ingress replica (MiB)", "Serve's HTTP proxy (MiB)"),
    ]
    for name, row in report["results"].items():
        growth = row["growth_mib"]
        statuses = ", ".join(str(code) for code in row["statuses"])
        lines.append(
            f"| {name} | {statuses} | {growth['ingress replica']:.2f} "
            f"| {growth['HTTP proxy']:.2f} |"
        )
    return "\n".join(lines) + "\n"


_FIRST_TOKEN_PATHS = (
    ("raw", "raw engine, in-process (no Ray)", True),
    ("replica", "Decoder replica, through a Serve handle from the driver", True),
    ("front_door", "front door: gRPC → Serve proxy → Ingress → Decoder replica", True),
    ("raw_beside_platform", "raw engine, own process, beside the idle platform", True),
    ("stats", "round trip, no decoding: a Decoder handle call (`stats`)", False),
    ("list_models", "round trip, no decoding: ListModels through the front door", False),
)


def render_first_token(report: dict[str, Any]) -> str:
    """bench/first_token.py: each path's p50 per start, their mean, and for the paths that
    decode, how much later than the raw engine their first token comes; one set of the
    platform's rows per variant (the shipped config, then each variant's change). A
    variant with raw starts of its own (under its environment) is compared with those."""
    p50 = report["p50_ms"]
    raw = sum(p50["raw"]) / len(p50["raw"])
    lines = [
        f"Requests one at a time, {report['requests']} per path and start, "
        f"{report['new_tokens']} new tokens, greedy; starts in the order "
        f"{', '.join(report['order'])}, paths taken in turn within a start."
        + _stamp(report)
        + cpu_note(report),
        "",
        *_header("path", "p50 per start (ms)", "mean (ms)", "later than raw (ms)"),
    ]
    variants = report.get("variants", {"shipped": {}})
    environments = report.get("environments", {})
    rows = [("raw", _FIRST_TOKEN_PATHS[0][1], False, raw)]
    for variant, changes in variants.items():
        suffix = "" if variant == "shipped" else f"@{variant}"
        tag = "".join(f", `engine.{k}: {v}`" for k, v in changes.items())
        tag += "".join(f", `{k}={v}`" for k, v in environments.get(variant, {}).items())
        own_raw = raw
        if "raw" + suffix in p50 and suffix:  # raw starts of its own, under its environment
            own_raw = sum(p50["raw" + suffix]) / len(p50["raw" + suffix])
            rows.append(("raw" + suffix, _FIRST_TOKEN_PATHS[0][1] + tag, False, own_raw))
        rows += [
            (key + suffix, label + tag, decodes, own_raw)
            for key, label, decodes in _FIRST_TOKEN_PATHS[1:]
            if key + suffix in p50  # runs before raw_beside_platform existed lack it
        ]
    for key, label, decodes, base in rows:
        mean = sum(p50[key]) / len(p50[key])
        later = f"{mean - base:+.1f}" if decodes else ""
        lines.append(f"| {label} | {_per_pass(p50[key], 1)} | {mean:.1f} | {later} |")
    for key, rates in report.get("idle_wakeups_per_s", {}).items():
        _, _, variant = key.partition("@")
        which = f" ({variant})" if variant else ""
        per_start = ", ".join(f"{r:,}".replace(",", " ") for r in rates)
        lines.append(
            f"\nThe idle platform{which}, before its requests: {per_start} context switches "
            "a second over the machine (every process but the benchmark's; per start)."
        )
    return "\n".join(lines) + "\n"
