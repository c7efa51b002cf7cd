"""Where one request's time to first token goes, on an idle platform (issue 32, T1).

Run:  .venv/bin/python bench/first_token.py [--requests 20] [--config config/serve-local.yaml]
                                            [--variants shipped,nice0,gloo_per_group]

Requests are sent one at a time: the decoder benchmark's chat prompts, greedy, 8 new tokens
each. Starts in mirrored order (raw, the platform variants, the same reversed, raw), each
in its own subprocess:
  raw       the in-process AsyncLLM with the config's decoder engine args (bench/decoder.py)
  platform  the platform as configured (Serve's gRPC proxy; variant nice0: the engine at
            normal priority, decoder.engine.cpu_nice 0; variant gloo_per_group: every
            engine's gloo groups on a device each, as before engine.cpu_shared_gloo_device,
            set through PONDER_GLOO_SHARED_DEVICE=0), the paths taken in turn:
            front door  gRPC StreamGenerate -> Serve proxy -> Ingress -> Decoder replica
            replica     the Decoder replica's stream, through a Serve handle from the driver
            and two round trips that decode nothing: a Decoder handle call (`stats`) and
            ListModels through the front door (auth and the Ingress);
            then, with the platform still up and idle, the raw engine again in its own
            process (`raw_beside_platform`): what the platform's idle processes alone
            cost an engine beside them on the same cores.
The time to first token is from sending to the first chunk with text (platform) or the
first token (raw). A variant that sets environment variables gets its own raw starts under
them too (raw@variant, mirrored outside the platform starts). Written to
bench/results/first_token.json (first_token-<variants>.json for other variants than the
shipped one).
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform"), str(ROOT / "bench")]

NEW_TOKENS = 8
WARM_UP = 3


async def raw_phase(config: Path, requests: int) -> dict[str, list[float]]:
    from decoder import prompts, raw_engine
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    llm, token_ids = raw_engine(config)
    params = SamplingParams(
        temperature=0.0, max_tokens=NEW_TOKENS, output_kind=RequestOutputKind.DELTA
    )

    async def first_token(prompt: str) -> float:
        start, first = time.perf_counter(), None
        async for out in llm.generate(
            {"prompt_token_ids": token_ids(prompt)}, params, uuid.uuid4().hex
        ):
            if first is None and out.outputs[0].token_ids:
                first = time.perf_counter()
        return (first or time.perf_counter()) - start

    texts = prompts()
    for prompt in texts[:WARM_UP]:
        await first_token(prompt)
    ttft = [await first_token(texts[i % len(texts)]) for i in range(requests)]
    llm.shutdown()
    return {"raw": ttft}


# platform variants: bench/decoder.py's variant each one starts ("shipped": the config);
# its engine changes and environment come from decoder's tables
VARIANTS = {"shipped": "proxy", "nice0": "nice0", "gloo_per_group": "gloo_per_group"}


def platform_phase(config: Path, requests: int, variant: str) -> dict[str, list[float]]:
    from decoder import start_platform

    platform, target = start_platform(config, VARIANTS[variant])
    try:
        idle = idle_wakeups_per_s(IDLE_WINDOW_S)
        paths = asyncio.run(_platform_paths(target, requests))
        # the raw engine again, its own process, while this platform is up and idle
        beside = _phase("raw", variant, config, requests, "raw beside the idle platform")
        return {**paths, "raw_beside_platform": beside["raw"], IDLE_KEY: [idle]}
    finally:
        platform.stop()


IDLE_WINDOW_S = 10.0
IDLE_KEY = "idle_wakeups_per_s"


def _context_switches() -> int:
    """Context switches so far of every thread of every process but this one."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/status") as status:
                    total += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
        except OSError:  # a thread or process gone meanwhile
            continue
    return total


def idle_wakeups_per_s(seconds: float) -> float:
    """How often the machine's threads are switched out per second while the platform is
    up and nothing is sent to it (every process but the benchmark's own)."""
    before = _context_switches()
    time.sleep(seconds)
    return (_context_switches() - before) / seconds


async def _platform_paths(target: str, requests: int) -> dict[str, list[float]]:
    import grpc
    from decoder import prompts, timed_stream
    from ray import serve

    from ponder.api.client import auth_metadata, build_request
    from ponder.generation import ChatMessage, GenerationRequest, Role, SamplingOptions
    from ponder.v1 import ponder_pb2 as pb
    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    decoder = serve.get_deployment_handle("Decoder", app_name="ponder")
    streaming = decoder.options(stream=True)
    texts = prompts()
    out: dict[str, list[float]] = {"front_door": [], "replica": [], "stats": [], "list_models": []}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.PonderServiceStub(channel)
        for prompt in texts[:WARM_UP]:
            await timed_stream(stub, prompt)

        async def front_door(prompt: str) -> float:
            request = build_request(
                messages=[("user", prompt)], temperature=0.0, max_tokens=NEW_TOKENS
            )
            start, first = time.perf_counter(), None
            async for chunk in stub.StreamGenerate(request, timeout=60, metadata=auth_metadata()):
                if first is None and chunk.text:
                    first = time.perf_counter()
            return (first or time.perf_counter()) - start

        async def replica(prompt: str) -> float:
            request = GenerationRequest(
                request_id=uuid.uuid4().hex,
                messages=(ChatMessage(role=Role.USER, content=prompt),),
                sampling=SamplingOptions(temperature=0.0, max_tokens=NEW_TOKENS),
            )
            start, first = time.perf_counter(), None
            async for chunk in streaming.stream.remote(request):
                if first is None and chunk.text:
                    first = time.perf_counter()
            return (first or time.perf_counter()) - start

        for i in range(requests):
            prompt = texts[i % len(texts)]
            paths = [("front_door", front_door), ("replica", replica)]
            for name, path in paths if i % 2 == 0 else paths[::-1]:
                out[name].append(await path(prompt))
            start = time.perf_counter()
            await decoder.stats.remote()
            out["stats"].append(time.perf_counter() - start)
            start = time.perf_counter()
            await stub.ListModels(pb.ListModelsRequest(), timeout=10, metadata=auth_metadata())
            out["list_models"].append(time.perf_counter() - start)
    return out


def engine_changes(variant: str) -> dict[str, Any]:
    """The decoder.engine fields `variant` changes from the config."""
    from decoder import PLATFORM_VARIANTS

    return PLATFORM_VARIANTS[VARIANTS[variant]][1]


def environment(variant: str) -> dict[str, str]:
    """The environment variables `variant`'s starts run under (its raw starts' too)."""
    from decoder import VARIANT_ENVIRONMENT

    return VARIANT_ENVIRONMENT.get(VARIANTS[variant], {})


def _phase(
    phase: str, variant: str, config: Path, requests: int, title: str = ""
) -> dict[str, list[float]]:
    """One start in its own subprocess, under the variant's environment."""
    print(f"[bench] {title or f'{phase} ({variant})'} ...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--phase", phase, "--config", str(config)]
    command += ["--requests", str(requests), "--variants", variant]
    done = subprocess.run(
        command,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **environment(variant)},
    )
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--requests", type=int, default=20, help="per path and start")
    parser.add_argument(
        "--variants",
        default="shipped",
        help="comma-separated platform variants: " + ", ".join(VARIANTS),
    )
    parser.add_argument("--phase", choices=("raw", "platform"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(f"variants from: {', '.join(VARIANTS)}")
    if args.phase == "raw":
        print(json.dumps(asyncio.run(raw_phase(args.config, args.requests))))
        return 0
    if args.phase == "platform":
        print(json.dumps(platform_phase(args.config, args.requests, variants[0])))
        return 0
    own_raw = [f"raw@{v}" for v in variants if environment(v)]
    order = ["raw", *own_raw, *variants, *variants[::-1], *own_raw[::-1], "raw"]
    passes: dict[str, list[list[float]]] = {}
    for name in order:
        raw_start = name.startswith("raw")
        phase, _, variant = name.partition("@") if raw_start else ("platform", "", name)
        result = _phase(phase, variant or "shipped", args.config, args.requests)
        for path, seconds in result.items():
            key = path if (variant or "shipped") == "shipped" else f"{path}@{variant}"
            passes.setdefault(key, []).append(seconds)
    from meta import run_meta
    from render_serving import render_first_token

    idle = {key: [run[0] for run in passes.pop(key)] for key in list(passes) if IDLE_KEY in key}

    report = {
        "meta": run_meta(args.config),
        "order": order,
        "variants": {v: engine_changes(v) for v in variants},
        "environments": {v: environment(v) for v in variants if environment(v)},
        "requests": args.requests,
        "new_tokens": NEW_TOKENS,
        "passes_s": passes,
        "idle_wakeups_per_s": {key: [round(v) for v in runs] for key, runs in idle.items()},
        "p50_ms": {
            path: [round(statistics.median(p) * 1000, 1) for p in runs]
            for path, runs in passes.items()
        },
    }
    suffix = "" if variants == ["shipped"] else "-" + "-".join(variants)
    out = ROOT / "bench" / "results" / f"first_token{suffix}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(render_first_token(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
