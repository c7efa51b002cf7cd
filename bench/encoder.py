"""Encoder pool benchmark, side by side in one run.

Run:  .venv/bin/python bench/encoder.py [--images 64] [--callers 16] [--rounds 10]

  P5  images/s of the EncoderPool with @serve.batch (max batch 8) / images/s with
      batching off (max batch 1), 16 concurrent callers, same replica shape  target >= 3;
      the same for the trained readers: rendered charts through the chart reader
      (`read_chart`) and table questions through the table reader (`read_table`)
  Q   8-bit dynamic quantisation of the encoders: images/s quantised / float, and the
      largest absolute difference of the projected vectors on the same images
  L   latency p50 of Analyze (text only; text + image) / Generate for the same text,
      through the full platform over gRPC
The three pool variants are deployed side by side and measured in mirrored order
(unbatched, batched, quantised, quantised, batched, unbatched), each ratio given per pass;
the latency rounds rotate the order of the three calls. Written to
bench/results/encoder.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from deployments.ray_options import serve_options

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "platform" / "ponder" / "multimodal"


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _chart(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    for i in range(5):
        height = 20 + (seed * 37 + i * 53) % 250
        draw.rectangle((20 + i * 75, 290 - height, 70 + i * 75, 290), fill="steelblue")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def _encode(handle: Any, data: bytes) -> int:
    result = await handle.encode.remote(data, None)
    return int(result["batch_size"])


async def _read_chart(handle: Any, data: bytes) -> int:
    return int((await handle.read_chart.remote(data)).batch_size)


async def _read_table(handle: Any, question: tuple[str, str]) -> int:
    return int((await handle.read_table.remote(*question)).batch_size)


def _throughput(
    app_name: str,
    images: list[Any],
    callers: int,
    call: Callable[[Any, Any], Awaitable[int]] = _encode,
) -> dict[str, float]:
    """Inputs per second through `call` (ResNet-101 regions unless another is given)."""
    from ray import serve

    handle = serve.get_deployment_handle("EncoderPool", app_name=app_name)

    async def run() -> tuple[float, list[int]]:
        queue = list(images)
        sizes: list[int] = []

        async def caller() -> None:
            while queue:
                sizes.append(await call(handle, queue.pop()))

        await asyncio.gather(*(caller() for _ in range(callers)))  # warm-up round
        queue.extend(images)
        sizes.clear()
        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return time.perf_counter() - started, sizes

    elapsed, sizes = asyncio.run(run())
    return {
        "images_per_s": len(images) / elapsed,
        "mean_batch": statistics.mean(sizes),
        "max_batch": max(sizes),
    }


def _quantisation_drift(images: list[bytes]) -> dict[str, float]:
    """Largest absolute difference of quantised vs float outputs on the same inputs."""
    import torch

    from ponder import env
    from ponder.multimodal.inputs import ImageLimits, decode_image, preprocess_image
    from ponder.multimodal.model import MultimodalModel
    from ponder.multimodal.synthetic import make_examples

    pixels = [preprocess_image(decode_image(d, ImageLimits())) for d in images[:8]]
    tables = [e.table for e in make_examples(30, seed=3) if e.table is not None]
    full = MultimodalModel(env.default_model_dir(), weights_dir=PACKAGED)
    quant = MultimodalModel(env.default_model_dir(), weights_dir=PACKAGED, quantize=True)
    with torch.no_grad():
        regions = full.image_regions(pixels)
        image = (full.project_image(regions) - quant.project_image(regions)).abs().max()
        a, _ = full.encode_tables(tables)
        b, _ = quant.encode_tables(tables)
        table = max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))
        scale = float(torch.cat(a).abs().max())
    return {"image_projection": float(image), "table_cells": table, "table_value_scale": scale}


def _latency(target: str, rounds: int) -> dict[str, float]:
    from ponder.api.client import PonderClient, build_analyze_request, build_request

    text = "Describe what a bar chart shows in one sentence."
    image = _chart(3)
    calls = {
        "generate": lambda c: c.generate(
            build_request(messages=[("user", text)], temperature=0.0, max_tokens=32), timeout=120
        ),
        "analyze_text": lambda c: c.analyze(
            build_analyze_request(text, temperature=0.0, max_tokens=32)
        ),
        "analyze_image": lambda c: c.analyze(
            build_analyze_request(text, image=image, temperature=0.0, max_tokens=32)
        ),
    }
    result: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    with PonderClient(target) as client:
        for call in calls.values():
            call(client)  # warm-up
        for round_ in range(rounds):  # the order of the three rotates every round
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                started = time.perf_counter()
                calls[name](client)
                times[name].append(time.perf_counter() - started)
    for name in names:
        result[f"{name}_p50_s"] = statistics.median(times[name])
    result["L_analyze_text_over_generate"] = result["analyze_text_p50_s"] / result["generate_p50_s"]
    result["L_analyze_image_over_generate"] = (
        result["analyze_image_p50_s"] / result["generate_p50_s"]
    )
    return result


def _reader_passes(count: int, callers: int) -> dict[str, Any]:
    """P5 for the trained readers: the unbatched and batched pools of the image run, in
    mirrored order, on rendered charts (chart reader) and on table questions (table
    reader)."""
    from ponder.multimodal.chart_tasks import make_tasks
    from ponder.multimodal.table_tasks import make_table_tasks

    charts = [t.image for t in make_tasks(count, "dev", seed=5)]
    tables = [
        (t.question, json.dumps({"columns": t.table.columns, "rows": t.table.rows}))
        for t in make_table_tasks(count, "dev", seed=5)
    ]
    workloads: dict[str, tuple[list[Any], Callable[[Any, Any], Awaitable[int]]]] = {
        "chart_reader": (charts, _read_chart),
        "table_reader": (tables, _read_table),
    }
    out: dict[str, Any] = {}
    for workload, (inputs, call) in workloads.items():
        passes: dict[str, list[dict[str, float]]] = {"unbatched": [], "batched": []}
        for name in ("unbatched", "batched", "batched", "unbatched"):
            passes[name].append(_throughput(f"enc-{name}", inputs, callers, call))
            _say(f"{workload} {name}: {passes[name][-1]}")
        ratios = [
            b["images_per_s"] / u["images_per_s"]
            for b, u in zip(passes["batched"], passes["unbatched"], strict=True)
        ]
        out[workload] = {
            name: {
                "per_s": statistics.mean(r["images_per_s"] for r in runs),
                "mean_batch": statistics.mean(r["mean_batch"] for r in runs),
                "passes": runs,
            }
            for name, runs in passes.items()
        } | {
            "P5_batched_over_unbatched": statistics.mean(ratios),
            "P5_per_pass": ratios,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    from ray import serve

    from deployments.encoder_pool import EncoderPool
    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config

    config = load_serve_config(ROOT / "config" / "serve-local.yaml")
    ponder = config.apps["ponder"]
    platform = LocalPlatform(config, log_to_driver=False)
    platform.start(progress=_say)
    images = [_chart(i) for i in range(args.images)]
    result: dict[str, Any] = {}
    variants = {
        "unbatched": {"max_batch_size": 1},
        "batched": {"max_batch_size": 8},
        "batched_quantised": {"max_batch_size": 8, "quantize": True},
    }
    order = [*variants, *reversed(variants)]
    passes: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    try:
        result["latency"] = _latency(platform.target, args.rounds)
        _say(f"latency: {result['latency']}")
        for name, overrides in variants.items():
            # Same replica shape as the main pool, minus its CPU reservation (the platform
            # has reserved the cluster's CPUs; these variants share the same two cores and
            # only the one being measured is busy).
            deployment = ponder.encoder.deployment.model_copy(update={"num_cpus": 0.0})
            encoder = ponder.encoder.model_copy(update=overrides | {"deployment": deployment})
            app = EncoderPool.options(**serve_options(encoder.deployment)).bind(  # type: ignore[attr-defined]
                encoder, ponder.decoder.engine
            )
            serve.run(app, name=f"enc-{name}", route_prefix=f"/enc-{name}")
        for name in order:
            passes[name].append(_throughput(f"enc-{name}", images, args.callers))
            _say(f"{name}: {passes[name][-1]}")
        result["readers"] = _reader_passes(args.images, args.callers)
    finally:
        platform.stop()

    def per_pass(a: str, b: str) -> list[float]:
        return [
            x["images_per_s"] / y["images_per_s"] for x, y in zip(passes[a], passes[b], strict=True)
        ]

    result["order"] = order
    result["images"], result["callers"], result["latency_rounds"] = (
        args.images,
        args.callers,
        args.rounds,
    )
    for name, runs in passes.items():
        result[name] = {
            "images_per_s": statistics.mean(r["images_per_s"] for r in runs),
            "mean_batch": statistics.mean(r["mean_batch"] for r in runs),
            "max_batch": max(r["max_batch"] for r in runs),
            "passes": runs,
        }
    result["P5_batched_over_unbatched"] = (
        result["batched"]["images_per_s"] / result["unbatched"]["images_per_s"]
    )
    result["P5_per_pass"] = per_pass("batched", "unbatched")
    result["Q_quantised_over_float"] = (
        result["batched_quantised"]["images_per_s"] / result["batched"]["images_per_s"]
    )
    result["Q_per_pass"] = per_pass("batched_quantised", "batched")
    result["Q_max_abs_difference"] = _quantisation_drift(images)
    out = ROOT / "bench" / "results" / "encoder.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
