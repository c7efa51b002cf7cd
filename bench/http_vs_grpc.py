"""HTTP/JSON (OpenAI chat completions, SSE) against gRPC (StreamGenerate), one platform.

Run:  .venv/bin/python bench/http_vs_grpc.py [--config config/serve-local.yaml] [--rounds 2]

Both front doors reach the same Ingress replica, decoder and engine; the same 32 prompts,
greedy, 128 new tokens each, streamed. Rounds alternate the order (gRPC, HTTP, HTTP, gRPC,
...) so warm-up and drift fall on both sides; the first round of each side is a warm-up
and is not counted. Reported (bench/results/http_vs_grpc.json):
  tok/s at 32 concurrent streams, HTTP / gRPC   (median of rounds, with every round)
  time-to-first-token p50 at 8 concurrent, HTTP / gRPC
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
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from decoder import MAX_TOKENS, prompts, timed_stream  # noqa: E402


async def http_stream(client: httpx.AsyncClient, prompt: str) -> dict[str, float]:
    """One greedy streamed chat completion over HTTP: time to first text, tokens."""
    body = {
        "model": "base",
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start, first, tokens = time.perf_counter(), None, 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            elif first is None and event["choices"] and event["choices"][0]["delta"]["content"]:
                first = time.perf_counter()
    return {"ttft": (first or time.perf_counter()) - start, "tokens": tokens}


async def batch(one: Any, texts: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    records = await asyncio.gather(*(one(text) for text in texts))
    wall = time.perf_counter() - started
    return {
        "tok_per_s": sum(r["tokens"] for r in records) / wall,
        "ttft_p50_s": statistics.median(r["ttft"] for r in records),
        "tokens": sum(r["tokens"] for r in records),
    }


async def measure(target: str, http_url: str, token: str, rounds: int) -> dict[str, Any]:
    import grpc

    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    texts = prompts()
    headers = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        side: {"c32": [], "c8": []} for side in ("grpc", "http")
    }
    async with (
        grpc.aio.insecure_channel(target) as channel,
        httpx.AsyncClient(base_url=http_url, headers=headers, timeout=600, limits=limits) as web,
    ):
        stub = pb_grpc.PonderServiceStub(channel)
        sides = {
            "grpc": lambda text: timed_stream(stub, text),
            "http": lambda text: http_stream(web, text),
        }
        order: list[str] = []
        for index in range(rounds + 1):  # round 0 is the warm-up of both sides
            pair = ["grpc", "http"] if index % 2 == 0 else ["http", "grpc"]
            for side in pair:
                c32 = await batch(sides[side], texts)
                c8 = await batch(sides[side], texts[:8])
                if index > 0:
                    results[side]["c32"].append(c32)
                    results[side]["c8"].append(c8)
                    order.append(side)
    return {"order": order, "results": results}


def run(config_path: Path, rounds: int) -> dict[str, Any]:
    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config

    platform = LocalPlatform(load_serve_config(config_path), log_to_driver=False)
    platform.start(progress=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    try:
        return asyncio.run(measure(platform.target, platform.http_url, platform.api_token, rounds))
    finally:
        platform.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--rounds", type=int, default=2, help="counted rounds per side")
    args = parser.parse_args()
    measured = run(args.config, args.rounds)
    results = measured["results"]

    def median(side: str, level: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side][level])

    ratios = {
        "tok_per_s_c32_http_over_grpc": median("http", "c32", "tok_per_s")
        / median("grpc", "c32", "tok_per_s"),
        "ttft_p50_c8_http_over_grpc": median("http", "c8", "ttft_p50_s")
        / median("grpc", "c8", "ttft_p50_s"),
    }
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    report = {
        "command": f"python bench/http_vs_grpc.py --rounds {args.rounds}",
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "max_tokens": MAX_TOKENS,
        "ratios": ratios,
        **measured,
    }
    out = ROOT / "bench" / "results" / "http_vs_grpc.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"ratios": ratios, "order": measured["order"]}, indent=2))
    for side in ("grpc", "http"):
        for level in ("c32", "c8"):
            rows = results[side][level]
            print(
                side,
                level,
                "tok/s",
                [round(r["tok_per_s"], 1) for r in rows],
                "ttft p50 s",
                [round(r["ttft_p50_s"], 3) for r in rows],
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
