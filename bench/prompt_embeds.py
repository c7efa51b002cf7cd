"""Cost of accepting prompt embeddings on a decoder that serves plain text: decoder
throughput with `enable_prompt_embeds` off and on, side by side in one run: four platform
starts in the order disabled, enabled, enabled, disabled, with one change between them
(the encoder pool is off in all four: text-only traffic never reaches it, and the pool
needs prompt embeddings).

Run:  .venv/bin/python bench/prompt_embeds.py [--requests 96] [--concurrency 32]

  E1  completion tokens/s with prompt embeddings enabled / disabled, text-only traffic,
      from the means of the two starts of each; each pass's ratio beside it
Written to bench/results/prompt_embeds.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from tracing import _measure, _say  # noqa: E402  (same measurement as the tracing bench)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    import yaml

    base = yaml.safe_load((ROOT / "config" / "serve-local.yaml").read_text())
    runs: dict[str, list[dict[str, float]]] = {"disabled": [], "enabled": []}
    order = ("disabled", "enabled", "enabled", "disabled")
    for mode in order:
        config = copy.deepcopy(base)
        ponder = config["applications"][0]["args"]
        ponder["decoder"]["engine"]["enable_prompt_embeds"] = mode == "enabled"
        ponder["encoder"]["enabled"] = False
        ponder["telemetry"]["metrics_export_port"] = 0
        _say(f"prompt embeddings {mode}")
        runs[mode].append(_measure(config, args.requests, args.concurrency))
        _say(f"{mode}: {runs[mode][-1]['tokens_per_s']:.1f} tokens/s")

    def mean(mode: str) -> float:
        return sum(r["tokens_per_s"] for r in runs[mode]) / len(runs[mode])

    pairs = zip(runs["enabled"], runs["disabled"], strict=True)
    result = {
        "order": order,
        "runs": runs,
        "E1_enabled_over_disabled": mean("enabled") / mean("disabled"),
        "E1_per_pass": [on["tokens_per_s"] / off["tokens_per_s"] for on, off in pairs],
    }
    out = ROOT / "bench" / "results" / "prompt_embeds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
