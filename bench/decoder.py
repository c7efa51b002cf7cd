"""Decoder throughput and latency: the full platform against the raw vLLM engine.

Run:  .venv/bin/python bench/decoder.py [--config config/serve-local.yaml]
                                        [--variants raw,proxy,direct,throughput,nice0]

Every variant uses the same engine args (the decoder engine of the Serve config) and the
same prompts, greedy. Each start runs in its own subprocess, one after the other, so no two
share the two cores, in mirrored order (the variants, then the same in reverse: raw, proxy,
proxy, raw by default), so a drift of the machine's speed during the run falls on both
sides of every comparison. Variants:
  raw         the in-process AsyncLLM, no Ray
  proxy       the platform as configured: gRPC client -> Serve gRPC proxy -> Ingress ->
              Decoder replica -> AsyncLLM
  direct      the same with Serve's direct ingress (client -> Ingress replica's own port)
  throughput  the same with RAY_SERVE_THROUGHPUT_OPTIMIZED=1 (see bench/serve_modes.py)
  nice0       proxy with the engine at normal priority (decoder.engine.cpu_nice 0)
  proxy-throughput  proxy with Serve's throughput settings but not direct ingress
  haproxy     Serve's HAProxy mode: HAProxy on the public port instead of the Python proxy,
              over the ingress replica's direct-ingress port
  gloo_per_group  proxy with every engine's gloo groups on a device each, as before
              engine.cpu_shared_gloo_device (PONDER_GLOO_SHARED_DEVICE=0); a variant that
              sets environment variables gets raw starts of its own under them
              (raw@<variant>), and its ratios are against those
Printed and written to bench/results/decoder.json (--out: another name there; each ratio
from the two passes' means,
the per-pass ratios beside it):
  P1  platform (proxy) tok/s at 32 concurrent streams / raw tok/s at 32  (target >= 0.90)
  P2  platform tok/s at 32 concurrent / platform one at a time          (target >= 6)
  T1  time-to-first-token p50 at 8 concurrent, platform / raw           (target <= 1.2)
and the same ratios for every other platform variant, and each one against proxy.
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
# Rounds of each load: 32 concurrent (the median round is reported), 8 concurrent (rounds
# pooled), one at a time (requests). --quick: 1, 1, 2.
ROUNDS = {"c32": 3, "c8": 4, "c1": 4}
QUICK_ROUNDS = {"c32": 1, "c8": 1, "c1": 2}


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
    rounds = [summarise(*await run(prompts())) for _ in range(ROUNDS["c32"])]
    rounds.sort(key=lambda r: r["tok_per_s"])
    results = {
        "c32": rounds[len(rounds) // 2] | {"rounds_tok_per_s": [r["tok_per_s"] for r in rounds]}
    }
    records, wall = [], 0.0
    for round_ in range(ROUNDS["c8"]):
        batch, seconds = await run(prompts()[8 * round_ : 8 * round_ + 8])
        records += batch
        wall += seconds
    results["c8"] = summarise(records, wall)
    start, records = time.perf_counter(), []
    for prompt in prompts()[: ROUNDS["c1"]]:
        records.append(await one(prompt))
    results["c1"] = summarise(records, time.perf_counter() - start)
    return results


# -- raw engine -------------------------------------------------------------------------


def raw_engine(config_path: Path) -> tuple[Any, Callable[[str], list[int]]]:
    """The in-process AsyncLLM with the Serve config's decoder engine args, and the chat
    template's token ids of a one-turn prompt (as the decoder replica builds them)."""
    from deployments.serve_config import load_serve_config
    from ponder.engine.vllm_engine import apply_engine_environment, engine_args

    engine_config = load_serve_config(config_path).apps["ponder"].decoder.engine
    apply_engine_environment(engine_config)
    from transformers import AutoTokenizer
    from vllm.v1.engine.async_llm import AsyncLLM

    tokenizer = AutoTokenizer.from_pretrained(str(engine_config.model_path()))
    llm = AsyncLLM.from_engine_args(engine_args(engine_config))

    def token_ids(prompt: str) -> list[int]:
        encoded = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
        )
        return list(encoded["input_ids"])

    return llm, token_ids


async def raw_phase(config_path: Path) -> dict[str, Any]:
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    llm, token_ids = raw_engine(config_path)
    params = SamplingParams(
        temperature=0.0, max_tokens=MAX_TOKENS, output_kind=RequestOutputKind.DELTA
    )

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


PLATFORM_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # variant: (Serve ingress mode, decoder.engine fields changed from the config)
    "proxy": ("proxy", {}),
    "direct": ("direct", {}),
    "throughput": ("throughput", {}),
    "nice0": ("proxy", {"cpu_nice": 0}),
    "proxy-throughput": ("proxy-throughput", {}),
    "haproxy": ("haproxy", {}),
    "gloo_per_group": ("proxy", {}),
}
# the environment a variant's starts run under, its raw starts' (raw@<variant>) too
VARIANT_ENVIRONMENT: dict[str, dict[str, str]] = {
    "gloo_per_group": {"PONDER_GLOO_SHARED_DEVICE": "0"},
}


def start_platform(config_path: Path, variant: str) -> tuple[Any, str]:
    """The platform of the Serve config as `variant` changes it, started; and the gRPC
    target a client calls (the proxy's, or the ingress replica's own port)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from serve_modes import apply_ingress_mode

    mode, engine_changes = PLATFORM_VARIANTS[variant]
    direct_port = apply_ingress_mode(mode)
    import yaml

    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config

    data = yaml.safe_load(config_path.read_text())
    data["applications"][0]["args"]["decoder"]["engine"].update(engine_changes)
    config = validate_serve_config(data, source=f"{config_path} ({variant})")
    platform = LocalPlatform(config, log_to_driver=False)
    platform.start(progress=lambda m: print(f"[bench {variant}] {m}", file=sys.stderr, flush=True))
    return platform, f"127.0.0.1:{direct_port}" if direct_port else platform.target


def platform_phase(config_path: Path, variant: str) -> dict[str, Any]:
    platform, target = start_platform(config_path, variant)
    try:
        return asyncio.run(_platform_load(target))
    finally:
        platform.stop()


async def timed_stream(
    stub: Any, prompt: str, model: str = "", adapter: str = "", min_tokens: int | None = None
) -> dict[str, float]:
    """One greedy StreamGenerate through the platform: time to first text, tokens.
    min_tokens = MAX_TOKENS makes every answer exactly MAX_TOKENS long."""
    from ponder.api.client import auth_metadata, build_request

    request = build_request(
        messages=[("user", prompt)],
        temperature=0.0,
        max_tokens=MAX_TOKENS,
        min_tokens=min_tokens,
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


def run_phase(variant: str, config: Path, quick: bool) -> dict[str, Any]:
    print(f"[bench] {variant} ...", file=sys.stderr, flush=True)
    phase, _, raw_of = variant.partition("@")
    environment = {**os.environ, **VARIANT_ENVIRONMENT.get(raw_of or variant, {})}
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--config", str(config)]
        + (["--quick"] if quick else []),
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def compare(runs: dict[str, list[dict[str, Any]]], side: str, base: str) -> dict[str, Any]:
    """side / base: c32 tok/s and c8 TTFT p50, from the two passes' means, with per-pass."""
    pairs = list(zip(runs[side], runs[base], strict=True))
    tok = [s["c32"]["tok_per_s"] / b["c32"]["tok_per_s"] for s, b in pairs]
    ttft = [s["c8"]["ttft_p50_s"] / b["c8"]["ttft_p50_s"] for s, b in pairs]

    def mean_of(name: str, key: str, field: str) -> float:
        return _mean([r[key][field] for r in runs[name]])

    return {
        "tok_s_c32": mean_of(side, "c32", "tok_per_s") / mean_of(base, "c32", "tok_per_s"),
        "tok_s_c32_per_pass": tok,
        "ttft_p50_c8": mean_of(side, "c8", "ttft_p50_s") / mean_of(base, "c8", "ttft_p50_s"),
        "ttft_p50_c8_per_pass": ttft,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument(
        "--variants",
        default="raw,proxy",
        help="comma-separated, from: raw (always included), " + ", ".join(PLATFORM_VARIANTS),
    )
    parser.add_argument("--quick", action="store_true", help="one round of each load")
    parser.add_argument(
        "--out", default="decoder.json", help="result file's name under bench/results/"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        ROUNDS.update(QUICK_ROUNDS)
    if args.phase == "raw":
        print(json.dumps(asyncio.run(raw_phase(args.config))))
        return 0
    if args.phase:
        print(json.dumps(platform_phase(args.config, args.phase)))
        return 0

    chosen = [v for v in args.variants.split(",") if v and v != "raw"]
    unknown = [v for v in chosen if v not in PLATFORM_VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    own_raw = [f"raw@{v}" for v in chosen if v in VARIANT_ENVIRONMENT]
    variants = ["raw", *own_raw, *chosen]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    order = variants + variants[::-1]
    for variant in order:
        runs[variant].append(run_phase(variant, args.config, args.quick))

    ratios: dict[str, Any] = {}
    for variant in chosen:
        versus_raw = compare(
            runs, variant, f"raw@{variant}" if variant in VARIANT_ENVIRONMENT else "raw"
        )
        c32 = _mean([r["c32"]["tok_per_s"] for r in runs[variant]])
        c1 = _mean([r["c1"]["tok_per_s"] for r in runs[variant]])
        ratios[variant] = {
            "P1_platform_over_raw_c32": versus_raw["tok_s_c32"],
            "P1_per_pass": versus_raw["tok_s_c32_per_pass"],
            "P2_platform_c32_over_c1": c32 / c1,
            "T1_ttft_p50_c8_platform_over_raw": versus_raw["ttft_p50_c8"],
            "T1_per_pass": versus_raw["ttft_p50_c8_per_pass"],
        }
        if variant != "proxy" and "proxy" in runs:
            ratios[variant]["versus_proxy"] = compare(runs, variant, "proxy")
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]  # report imports bench.render_artifacts
    from meta import run_meta
    from report import render_decoder

    report = {
        "meta": run_meta(args.config),
        "cores": os.cpu_count(),
        "max_tokens": MAX_TOKENS,
        "rounds": ROUNDS,
        "order": order,
        "environments": {v: VARIANT_ENVIRONMENT[v] for v in chosen if v in VARIANT_ENVIRONMENT},
        "runs": runs,
        "ratios": ratios,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(render_decoder(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
