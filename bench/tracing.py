"""Tracing overhead: decoder throughput through the platform with tracing off and with
tracing on at sampling 1.0, side by side in one run: four platform starts in the order
off, on, on, off (so a drift of the machine's speed falls on both sides), the same config
otherwise; tracing settings only apply when the Ray cluster starts.

Run:  .venv/bin/python bench/tracing.py [--requests 96] [--concurrency 32]

  T2  completion tokens/s with tracing (file exporter, every span of every request) /
      tokens/s without, from the means of the two starts of each; the two passes'
      ratios (on/off of the same pass) beside it                     (higher is better)
Written to bench/results/tracing.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _measure(config: dict[str, Any], requests: int, concurrency: int) -> dict[str, float]:
    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config
    from ponder.api.client import build_request

    platform = LocalPlatform(validate_serve_config(config), log_to_driver=False)
    platform.start(progress=_say)
    try:
        with platform.client() as client:

            def one(i: int) -> int:
                request = build_request(
                    messages=[("user", f"Tell me a story about the number {i}.")],
                    temperature=0.8,
                    seed=i,
                    max_tokens=64,
                )
                return int(client.generate(request, timeout=600).usage.completion_tokens)

            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(one, range(concurrency)))  # warm-up
                started = time.perf_counter()
                tokens = sum(pool.map(one, range(requests)))
                elapsed = time.perf_counter() - started
    finally:
        platform.stop()
    return {"tokens": tokens, "seconds": elapsed, "tokens_per_s": tokens / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    import yaml

    base = yaml.safe_load((ROOT / "config" / "serve-local.yaml").read_text())
    spans = Path(tempfile.mkdtemp(prefix="ponder-bench-spans-"))
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    order = ("off", "on", "on", "off")
    for mode in order:
        config = copy.deepcopy(base)
        config["applications"][0]["args"]["telemetry"]["tracing"] = {
            "exporter": "file" if mode == "on" else "off",
            "sampling_ratio": 1.0,
            "file_dir": str(spans),
        }
        config["applications"][0]["args"]["telemetry"]["metrics_export_port"] = 0
        _say(f"tracing {mode}")
        runs[mode].append(_measure(config, args.requests, args.concurrency))
        _say(f"tracing {mode}: {runs[mode][-1]['tokens_per_s']:.1f} tokens/s")
    span_count = sum(len(p.read_text().splitlines()) for p in spans.glob("*.jsonl"))

    def mean(mode: str) -> float:
        return sum(r["tokens_per_s"] for r in runs[mode]) / len(runs[mode])

    passes = [
        on["tokens_per_s"] / off["tokens_per_s"]
        for on, off in zip(runs["on"], runs["off"], strict=True)
    ]
    result = {
        "order": order,
        "runs": runs,
        "spans_written": span_count,
        "T2_traced_over_untraced": mean("on") / mean("off"),
        "T2_per_pass": passes,
    }
    out = ROOT / "bench" / "results" / "tracing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
