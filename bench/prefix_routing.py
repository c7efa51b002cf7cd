"""Prefix-aware routing of a Reason's branches with 2 decoder replicas: prefix-cache hit
rate, Reason latency and decoder tokens per second, against Serve's default router.

Run:  .venv/bin/python bench/prefix_routing.py [--config config/serve-local.yaml] [--quick]

The platform runs as in bench/load.py (encoder pool off, engines in eager mode, a tenant
without a rate limit), with Reason on the student as shipped (planner.model) and the
student's decoder set at 2 replicas. Two variants, started in the order A B B A:
  power_of_two     Serve's default router (student.routing.policy: power_of_two)
  prefix_affinity  deployments/prefix_router.py, as shipped
The student's KV blocks are 32 tokens (BLOCK_SIZE; vLLM's CPU default of 128 is longer than
a Reason's prompts, so nothing of them was ever cached: a first run of this benchmark read
0 hits under both routers). Each start answers the same dev-split problems with the
planner's defaults, CONCURRENCY at a time, after one warm-up Reason. The prefix-cache
figures are vLLM's own counters
(ray_vllm_prefix_cache_queries/hits, both replicas summed, from Ray's metrics endpoint)
read before and after the run; tokens are every completion token the Reasons report.
Writes bench/results/prefix_routing.json, stamped with the commit, time and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_auth import use_unlimited_token  # noqa: E402
from load import percentile, serve_config  # noqa: E402
from meta import run_meta  # noqa: E402
from phase_process import run_in_own_process  # noqa: E402

VARIANTS = ("power_of_two", "prefix_affinity")
CONCURRENCY = 4
BLOCK_SIZE = 32  # the smallest vLLM's CPU attention takes
PROBLEMS = 24


def _counter(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def prefix_counters(port: int) -> tuple[float, float]:
    """(queries, hits) of both replicas' prefix caches, in prompt tokens."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return (
        _counter(text, "ray_vllm_prefix_cache_queries_total"),
        _counter(text, "ray_vllm_prefix_cache_hits_total"),
    )


async def settled_counters(port: int) -> tuple[float, float]:
    """The counters once Ray's export has caught up (two equal reads 3 s apart)."""
    previous = await asyncio.to_thread(prefix_counters, port)
    for _ in range(20):
        await asyncio.sleep(3)
        current = await asyncio.to_thread(prefix_counters, port)
        if current == previous:
            return current
        previous = current
    return previous


def run_phase(config_path: Path, variant: str, problems: int) -> dict[str, Any]:
    import grpc

    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config
    from ponder import env
    from ponder.api.client import auth_metadata, build_reason_request
    from ponder.reasoning.problems import load_problems
    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    data = serve_config(config_path, "after")
    args = data["applications"][0]["args"]
    served = yaml.safe_load(config_path.read_text())["applications"][0]["args"]
    student = args["student"]
    student.update(enabled=True, routing={"policy": variant})
    student["deployment"]["num_replicas"] = 2
    student["engine"]["enforce_eager"] = True
    # vLLM's CPU blocks hold 128 tokens and only whole blocks are cached: a Reason's
    # prompts (~80 tokens) would never be found in the prefix cache by either router
    student["engine"]["block_size"] = BLOCK_SIZE
    args["planner"]["model"] = served["planner"]["model"]  # Reason on the student, as shipped
    auth_dir = use_unlimited_token(data)
    config = validate_serve_config(data, source=f"{config_path} ({variant})")
    dev = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev")[:problems]
    platform = LocalPlatform(config, log_to_driver=False)
    platform.start(progress=lambda m: print(f"[prefix {variant}] {m}", file=sys.stderr, flush=True))

    async def measure() -> dict[str, Any]:
        async with grpc.aio.insecure_channel(platform.target) as channel:
            stub = pb_grpc.PonderServiceStub(channel)
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(text: str) -> tuple[float, int]:
                async with gate:
                    started = time.perf_counter()
                    reply = await stub.Reason(
                        build_reason_request(text), timeout=600, metadata=auth_metadata()
                    )
                    return time.perf_counter() - started, reply.usage.completion_tokens

            await one("A box holds 3 pens. How many pens are in 2 boxes?")  # warm-up
            queries0, hits0 = await settled_counters(platform.metrics_port)
            started = time.perf_counter()
            results = await asyncio.gather(*(one(p.question) for p in dev))
            wall = time.perf_counter() - started
            queries1, hits1 = await settled_counters(platform.metrics_port)
        latencies = [s for s, _ in results]
        tokens = sum(t for _, t in results)
        return {
            "variant": variant,
            "problems": len(dev),
            "prefix_queries": queries1 - queries0,
            "prefix_hits": hits1 - hits0,
            "prefix_hit_rate": (hits1 - hits0) / max(1.0, queries1 - queries0),
            "reason_p50_s": statistics.median(latencies),
            "reason_p99_s": percentile(latencies, 0.99),
            "completion_tokens": tokens,
            "wall_s": wall,
            "tok_per_s": tokens / wall,
        }

    try:
        return asyncio.run(measure())
    finally:
        platform.stop()
        shutil.rmtree(auth_dir, ignore_errors=True)


def spawn(config: Path, variant: str, problems: int) -> dict[str, Any]:
    """Each start in its own process (bench/phase_process.py)."""
    extra = ["--problems", str(problems)]
    result: dict[str, Any] = run_in_own_process(__file__, config, variant, extra, "prefix")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--quick", action="store_true", help="one start each, 8 problems")
    parser.add_argument("--phase", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--problems", type=int, default=PROBLEMS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.config, args.phase, args.problems)))
        return 0
    order = ["power_of_two", "prefix_affinity", "prefix_affinity", "power_of_two"]
    problems = args.problems
    if args.quick:
        order, problems = order[:2], 8
    runs = [spawn(args.config, variant, problems) for variant in order]
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        summary[variant] = {
            "prefix_hit_rate": [round(r["prefix_hit_rate"], 3) for r in mine],
            "tok_per_s": [round(r["tok_per_s"], 1) for r in mine],
            "reason_p50_s": [round(r["reason_p50_s"], 2) for r in mine],
        }
    base = [r["tok_per_s"] for r in runs if r["variant"] == "power_of_two"]
    mine = [r["tok_per_s"] for r in runs if r["variant"] == "prefix_affinity"]
    summary["tok_per_s_ratio"] = statistics.mean(mine) / statistics.mean(base)
    result = {
        "meta": run_meta(args.config),
        "command": "python bench/prefix_routing.py" + (" --quick" if args.quick else ""),
        "order": order,
        "concurrency": CONCURRENCY,
        "block_size": BLOCK_SIZE,
        "summary": summary,
        "runs": runs,
    }
    out = ROOT / "bench" / "results" / "prefix_routing.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
