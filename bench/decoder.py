"""Decoder throughput and latency: the full platform against the raw vLLM engine.

Run:  .venv/bin/python bench/decoder.py [--config config/serve-local.yaml]

Both sides use the same engine args (the decoder engine of the Serve config) and the same
prompts, greedy, in one run; each side runs in its own subprocess, one after the other, so
they never share the two cores. Printed and written to bench/results/decoder.json:
  P1  platform tok/s at 32 concurrent streams / raw AsyncLLM tok/s at 32   (target >= 0.90)
  P2  platform tok/s at 32 concurrent / platform one at a time             (target >= 6)
  T1  time-to-first-token p50 at 8 concurrent, platform / raw              (target <= 1.2)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOPICS = [
    "rivers",
    "volcanoes",
    "bees",
    "the moon",
    "bread",
    "bicycles",
    "libraries",
    "glaciers",
    "owls",
    "copper",
    "tea",
    "lighthouses",
    "deserts",
    "violins",
    "coral reefs",
    "trains",
    "maps",
    "salt",
    "kites",
    "whales",
    "clocks",
    "mushrooms",
    "bridges",
    "snow",
    "paper",
    "comets",
    "gardens",
    "wolves",
    "glass",
    "storms",
    "markets",
    "islands",
]
MAX_TOKENS = 128
SEQUENTIAL_REQUESTS = 4
C8_ROUNDS = 4
C32_ROUNDS = 3  # the median round is reported


def prompts() -> list[str]:
    return [f"Write a short paragraph about {topic}." for topic in TOPICS]


def summarise(records: list[dict[str, float]], wall: float) -> dict[str, Any]:
    tokens = sum(r["tokens"] for r in records)
    return {
        "requests": len(records),
        "tokens": tokens,
        "wall_s": wall,
        "tok_per_s": tokens / wall,
        "ttft_p50_s": statistics.median(r["ttft"] for r in records),
    }


OneRequest = Callable[[str], Awaitable[dict[str, float]]]


async def measure(one: OneRequest) -> dict[str, Any]:
    """The same load on either side: warm-up, 32 concurrent, 8 concurrent (several rounds,
    for a steadier TTFT median), then one at a time."""

    async def run(batch: list[str]) -> tuple[list[dict[str, float]], float]:
        start = time.perf_counter()
        records = await asyncio.gather(*(one(p) for p in batch))
        return list(records), time.perf_counter() - start

    await run(prompts()[:8])  # warm-up
    rounds = [summarise(*await run(prompts())) for _ in range(C32_ROUNDS)]
    rounds.sort(key=lambda r: r["tok_per_s"])
    results = {
        "c32": rounds[len(rounds) // 2] | {"rounds_tok_per_s": [r["tok_per_s"] for r in rounds]}
    }
    records, wall = [], 0.0
    for round_ in range(C8_ROUNDS):
        batch, seconds = await run(prompts()[8 * round_ : 8 * round_ + 8])
        records += batch
        wall += seconds
    results["c8"] = summarise(records, wall)
    start, records = time.perf_counter(), []
    for prompt in prompts()[:SEQUENTIAL_REQUESTS]:
        records.append(await one(prompt))
    results["c1"] = summarise(records, time.perf_counter() - start)
    return results


# -- raw engine -------------------------------------------------------------------------


async def raw_phase(config_path: Path) -> dict[str, Any]:
    from deployments.serve_config import load_serve_config
    from ponder.engine.vllm_engine import apply_engine_environment, engine_args

    engine_config = load_serve_config(config_path).apps["ponder"].decoder.engine
    apply_engine_environment(engine_config)
    from transformers import AutoTokenizer
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind
    from vllm.v1.engine.async_llm import AsyncLLM

    tokenizer = AutoTokenizer.from_pretrained(str(engine_config.model_path()))
    llm = AsyncLLM.from_engine_args(engine_args(engine_config))
    params = SamplingParams(
        temperature=0.0, max_tokens=MAX_TOKENS, output_kind=RequestOutputKind.DELTA
    )

    def token_ids(prompt: str) -> list[int]:
        encoded = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
        )
        return list(encoded["input_ids"])

    async def one(prompt: str) -> dict[str, float]:
        start, first, tokens = time.perf_counter(), None, 0
        async for out in llm.generate(
            {"prompt_token_ids": token_ids(prompt)}, params, uuid.uuid4().hex
        ):
            if first is None and out.outputs[0].token_ids:
                first = time.perf_counter()
            tokens += len(out.outputs[0].token_ids)
        return {"ttft": (first or time.perf_counter()) - start, "tokens": tokens}

    results = await measure(one)
    llm.shutdown()
    return results


# -- full platform ----------------------------------------------------------------------


def platform_phase(config_path: Path) -> dict[str, Any]:
    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config

    platform = LocalPlatform(load_serve_config(config_path), log_to_driver=False)
    platform.start(progress=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    try:
        return asyncio.run(_platform_load(platform.target))
    finally:
        platform.stop()


async def timed_stream(
    stub: Any, prompt: str, model: str = "", adapter: str = ""
) -> dict[str, float]:
    """One greedy StreamGenerate through the platform: time to first text, tokens."""
    from ponder.api.client import auth_metadata, build_request

    request = build_request(
        messages=[("user", prompt)],
        temperature=0.0,
        max_tokens=MAX_TOKENS,
        model=model,
        adapter=adapter,
    )
    start, first, tokens = time.perf_counter(), None, 0
    async for chunk in stub.StreamGenerate(request, timeout=600, metadata=auth_metadata()):
        if first is None and chunk.text:
            first = time.perf_counter()
        tokens = chunk.usage.completion_tokens
    return {"ttft": (first or time.perf_counter()) - start, "tokens": tokens}


async def _platform_load(target: str) -> dict[str, Any]:
    import grpc

    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.PonderServiceStub(channel)

        async def one(prompt: str) -> dict[str, float]:
            return await timed_stream(stub, prompt)

        return await measure(one)


# -- orchestration ----------------------------------------------------------------------


def run_phase(phase: str, config: Path) -> dict[str, Any]:
    print(f"[bench] phase {phase} ...", file=sys.stderr, flush=True)
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--config", str(config)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--phase", choices=["raw", "platform"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "raw":
        print(json.dumps(asyncio.run(raw_phase(args.config))))
        return 0
    if args.phase == "platform":
        print(json.dumps(platform_phase(args.config)))
        return 0

    raw = run_phase("raw", args.config)
    plat = run_phase("platform", args.config)
    ratios = {
        "P1_platform_over_raw_c32": plat["c32"]["tok_per_s"] / raw["c32"]["tok_per_s"],
        "P2_platform_c32_over_c1": plat["c32"]["tok_per_s"] / plat["c1"]["tok_per_s"],
        "T1_ttft_p50_c8_platform_over_raw": plat["c8"]["ttft_p50_s"] / raw["c8"]["ttft_p50_s"],
    }
    report = {
        "cores": os.cpu_count(),
        "max_tokens": MAX_TOKENS,
        "raw": raw,
        "platform": plat,
        "ratios": ratios,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "decoder.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"cores: {os.cpu_count()}, {MAX_TOKENS} new tokens per request, greedy")
    print("| measure | raw AsyncLLM | platform (gRPC->Serve->vLLM) |")
    print("|---|---|---|")
    for key, label in (("c32", "32 concurrent"), ("c8", "8 concurrent"), ("c1", "one at a time")):
        print(f"| tok/s, {label} | {raw[key]['tok_per_s']:.1f} | {plat[key]['tok_per_s']:.1f} |")
    for key, label in (("c1", "one at a time"), ("c8", "8 concurrent"), ("c32", "32 concurrent")):
        print(
            f"| TTFT p50, {label} | {raw[key]['ttft_p50_s'] * 1000:.0f} ms "
            f"| {plat[key]['ttft_p50_s'] * 1000:.0f} ms |"
        )
    print(
        f"32-concurrent rounds tok/s: raw {raw['c32']['rounds_tok_per_s']}, "
        f"platform {plat['c32']['rounds_tok_per_s']}"
    )
    print(f"P1 platform/raw tok/s at 32: {ratios['P1_platform_over_raw_c32']:.2f} (target >= 0.90)")
    print(f"P2 platform 32/1 tok/s:      {ratios['P2_platform_c32_over_c1']:.2f} (target >= 6)")
    print(
        f"T1 TTFT p50 at 8 plat/raw:   "
        f"{ratios['T1_ttft_p50_c8_platform_over_raw']:.2f} (target <= 1.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
