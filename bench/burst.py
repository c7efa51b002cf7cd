"""Bursts: many Generate calls at once, as a new user's load test sends them, and how fast
the platform refuses what it cannot serve in time (RELIABILITY.md).

Run:  .venv/bin/python bench/burst.py [--config config/serve-local.yaml] [--quick]

The platform runs as in bench/load.py (decoder, planner, ingress, learner; engines in
eager mode; no tenant rate limit, so what is measured is the platform's own admission).
Two variants, started in the order after, before, after (ABA: a `before` start takes
three times as long, as every call it accepts runs to the end):
  before  ingress.queue_wait off: only Serve's bounded queues refuse (max_queued_requests)
  after   the config as shipped: the Ingress also refuses a call whose expected queue wait
          is past ingress.queue_wait.max_wait_s (ponder/queue_wait.py)
The first two starts send a burst of 1 024 then, once idle, 256; the third 256 then
1 024, so each size meets a fresh `after` server once and a warm one once. Every call is
a unary Generate of 64 tokens at most (greedy) with no deadline of its own (10 minutes),
sent at once over 8 channels by a tenant without a rate limit (bench/bench_auth.py);
each waits for its answer.

Per burst: the status codes, refusal latency (p50/p99/max), accepted calls' latency
(p50/p99/max) and how many accepted calls finished within the bound; then, idle, the
front door's own floor: the same burst sizes of ListModels (auth and the Ingress, no
decoder work), whose latency no admission rule can undercut. Writes
bench/results/burst.json, stamped with the commit, time, machine and config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_auth import use_unlimited_token  # noqa: E402
from load import _generate, _wait_idle, percentile, serve_config  # noqa: E402
from meta import run_meta  # noqa: E402
from phase_process import run_in_own_process  # noqa: E402

MAX_TOKENS = 64
CHANNELS = 8
ORDERS = {"fresh-1024": (1024, 256), "fresh-256": (256, 1024)}


async def burst(stubs: list[Any], size: int, tag: str) -> dict[str, Any]:
    """`size` Generate calls at once; each waits for its answer."""
    started = time.perf_counter()
    calls = [
        _generate(stubs[i % len(stubs)], f"Name a colour, {tag} call {i}.", MAX_TOKENS, 600)
        for i in range(size)
    ]
    results = await asyncio.gather(*calls)
    codes: dict[str, int] = {}
    for code, _ in results:
        codes[code] = codes.get(code, 0) + 1
    refused = [s for c, s in results if c == "RESOURCE_EXHAUSTED"]
    ok = [s for c, s in results if c == "OK"]
    return {
        "size": size,
        "codes": codes,
        "refused": len(refused),
        "refusal_p50_ms": percentile(refused, 0.5) * 1000,
        "refusal_p99_ms": percentile(refused, 0.99) * 1000,
        "refusal_max_ms": max(refused) * 1000 if refused else math.nan,
        "accepted_ok": len(ok),
        "accepted_p50_s": percentile(ok, 0.5),
        "accepted_p99_s": percentile(ok, 0.99),
        "accepted_max_s": max(ok) if ok else math.nan,
        "wall_s": time.perf_counter() - started,
    }


async def floor(stubs: list[Any], size: int) -> dict[str, Any]:
    """The front door's own floor for a burst: `size` ListModels calls at once (auth and
    the Ingress, no decoder work): latency p50/p99 in ms of every call, and the codes."""
    import grpc

    from ponder.api.client import auth_metadata
    from ponder.v1 import ponder_pb2 as pb

    async def one(i: int) -> tuple[str, float]:
        started = time.perf_counter()
        try:
            await stubs[i % len(stubs)].ListModels(
                pb.ListModelsRequest(), timeout=600, metadata=auth_metadata()
            )
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        return code, time.perf_counter() - started

    results = await asyncio.gather(*(one(i) for i in range(size)))
    codes: dict[str, int] = {}
    for code, _ in results:
        codes[code] = codes.get(code, 0) + 1
    seconds = [s for _, s in results]
    return {
        "size": size,
        "codes": codes,
        "p50_ms": percentile(seconds, 0.5) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
    }


def run_phase(config_path: Path, variant: str, order: str) -> dict[str, Any]:
    import grpc

    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config
    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    data = serve_config(config_path, "after")
    ingress = data["applications"][0]["args"].setdefault("ingress", {})
    if variant == "before":
        ingress["queue_wait"] = {"enabled": False}
    auth_dir = use_unlimited_token(data)
    config = validate_serve_config(data, source=f"{config_path} ({variant})")
    bound = config.apps["ponder"].ingress.queue_wait.max_wait_s
    platform = LocalPlatform(config, log_to_driver=False)
    platform.start(progress=lambda m: print(f"[burst {variant}] {m}", file=sys.stderr, flush=True))

    async def measure() -> dict[str, Any]:
        channels = [grpc.aio.insecure_channel(platform.target) for _ in range(CHANNELS)]
        stubs = [pb_grpc.PonderServiceStub(c) for c in channels]
        try:
            bursts = []
            for position, size in enumerate(ORDERS[order]):
                assert await _wait_idle(900), "the engine never went idle"
                result = await burst(stubs, size, f"{variant}-{order}-{position}")
                result["server"] = "fresh" if position == 0 else "warm"
                result["within_bound"] = (
                    None if bound is None else result["accepted_max_s"] <= bound
                )
                bursts.append(result)
            assert await _wait_idle(900), "the engine never went idle"
            floors = [await floor(stubs, size) for size in ORDERS[order]]
            return {
                "variant": variant,
                "order": order,
                "bound_s": bound,
                "bursts": bursts,
                "list_models_floor": floors,
            }
        finally:
            for channel in channels:
                await channel.close()

    try:
        return asyncio.run(measure())
    finally:
        platform.stop()
        shutil.rmtree(auth_dir, ignore_errors=True)


def spawn(config: Path, variant: str, order: str) -> dict[str, Any]:
    """Each start in its own process (bench/phase_process.py)."""
    result: dict[str, Any] = run_in_own_process(
        __file__, config, variant, ["--order", order], "burst"
    )
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant and burst size: the worst of its two bursts (fresh and warm)."""
    out: dict[str, Any] = {}
    for variant in ("before", "after"):
        for size in (256, 1024):
            mine = [b for r in runs if r["variant"] == variant for b in r["bursts"]]
            sized = [b for b in mine if b["size"] == size]
            refusals = [b["refusal_p99_ms"] for b in sized if b["refused"]]
            out[f"{variant}_{size}"] = {
                "refused": [b["refused"] for b in sized],
                "accepted_ok": [b["accepted_ok"] for b in sized],
                "refusal_p99_ms_worst": max(refusals) if refusals else None,
                "accepted_p99_s_worst": max(b["accepted_p99_s"] for b in sized),
                "accepted_max_s_worst": max(b["accepted_max_s"] for b in sized),
                "servers": [b["server"] for b in sized],
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--quick", action="store_true", help="after only, one start")
    parser.add_argument("--phase", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--order", choices=list(ORDERS), default="fresh-1024")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.config, args.phase, args.order)))
        return 0
    # A B A: a `before` start takes three times an `after` one (every accepted call of
    # its bursts runs to the end); each burst size meets a fresh `after` server once
    starts = [
        ("after", "fresh-1024"),
        ("before", "fresh-1024"),
        ("after", "fresh-256"),
    ]
    if args.quick:
        starts = [("after", "fresh-1024")]
    runs = [spawn(args.config, variant, order) for variant, order in starts]
    result = {
        "meta": run_meta(args.config),
        "command": "python bench/burst.py" + (" --quick" if args.quick else ""),
        "order": [f"{variant} {order}" for variant, order in starts],
        "max_tokens": MAX_TOKENS,
        "summary": summary(runs) if not args.quick else {},
        "runs": runs,
    }
    (ROOT / "bench" / "results" / "burst.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"] or runs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
