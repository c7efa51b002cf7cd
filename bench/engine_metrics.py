"""What vLLM's own statistics cost: decode speed of the raw engine with
EngineConfig.engine_metrics on (as shipped) and off, side by side in one process.

Run:  .venv/bin/python bench/engine_metrics.py [--rounds 4]

Two engines of the main decoder's config (config/serve-local.yaml, compiled as served,
no adapters), one with the statistics kept (the load holder plus vLLM's in-process
Prometheus logger, what a replica runs but for Ray's export) and one without; rounds in
the order on, off, off, on, ... each measuring 32 greedy streams of exactly 128 tokens and
4 requests one at a time (bench/int8.py's `speed`). Writes bench/results/engine_metrics.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from int8 import speed  # noqa: E402
from meta import run_meta  # noqa: E402

from deployments.serve_config import load_serve_config  # noqa: E402


async def main_async(rounds: int) -> dict[str, Any]:
    from ponder.engine.vllm_engine import VLLMEngine

    app = load_serve_config(ROOT / "config" / "serve-local.yaml").apps["ponder"]
    base = app.decoder.engine.model_copy(update={"lora_adapters": {}})
    configs = {
        "on": base.model_copy(update={"engine_metrics": True}),
        "off": base.model_copy(update={"engine_metrics": False}),
    }
    engines = {name: await VLLMEngine.start(config) for name, config in configs.items()}
    try:
        measured: list[dict[str, Any]] = []
        for index in range(rounds):
            order = ["on", "off"] if index % 2 == 0 else ["off", "on"]
            measured.append({name: await speed(engines[name], name) for name in order})
        stats = engines["on"].stats()
    finally:
        for engine in engines.values():
            engine.shutdown()
    ratios = {
        key: statistics.median(r["on"][key] / r["off"][key] for r in measured)
        for key in ("c32_tok_per_s", "c1_tok_per_s")
    }
    return {
        "model": base.model_path().name,
        "rounds": measured,
        "on_over_off": ratios,
        "stats_seen": {
            "prefix_cache_queries": stats.prefix_cache_queries,
            "prefix_cache_hits": stats.prefix_cache_hits,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    result = {"meta": run_meta(ROOT / "config" / "serve-local.yaml")}
    result |= asyncio.run(main_async(args.rounds))
    result["command"] = f"python bench/engine_metrics.py --rounds {args.rounds}"
    out = ROOT / "bench" / "results" / "engine_metrics.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["on_over_off"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
