"""Load and fault figures of RELIABILITY.md, through the running platform (loopback only).

Run:  .venv/bin/python bench/load.py [--config config/serve-local.yaml] [--quick]

The platform runs here with the Serve config's decoder, planner, ingress and learner
(student and encoder pool off: no Generate touches them, and they would take cores), the
engines in eager mode (30 s starts instead of 90 s: four starts per run), and calls from a
tenant without a rate limit (bench/bench_auth.py: what is measured is the platform's own
admission, not the per-tenant bucket).

Two variants, started in the order before, after, after, before (ABBA):
  before  vLLM's CPU defaults (2 048-token steps, no cap on a long prompt's chunk) and
          Serve's stock gRPC servicer hook (no proxy cancel fix)
  after   the config as shipped: 256-token steps, long prompts capped at 32 tokens a step
          while others run, and deployments/proxy_cancel_fix.py
then a fifth start, `direct`: Serve's direct ingress with the stock servicer hook, where
only caller cancels are measured (on the ingress replica's own port, then through the
proxy) -- the alternative to Ponder's proxy fix.

With --fairness, only the fairness figure, one change at a time, in the order after,
yield, capped, capped, yield, after:
  capped  the config as shipped but with vLLM's own scheduler (engine.prefill_yield_steps
          and lone_prefill_step_tokens 0): the long prompt's 32-token chunks ride in every
          step, and alone it takes full 256-token steps
  yield   the long prompt's chunks sit out the steps a new request needs
          (ponder/engine/prefill_yield.py), full steps alone (lone_prefill_step_tokens 0)
  after   as shipped: yield, and alone the long prompt takes 64-token steps
written to bench/results/fairness.json.

Each start measures
  fairness  a 2-token Generate alone, then while a ~3 300-token prompt is being prefilled
            (distinct prompts: no prefix-cache hits)
  cancel    streams cancelled by the caller after 1-4 messages; a cancel succeeds when the
            decoder's engine has no unfinished request 3 s later (the generation would
            run ~10 s otherwise)
and the first `after` start also
  capacity  8-token Generate calls completed per second with max_num_seqs callers busy
  overload  open-loop arrivals at 4 x that rate for 30 s, every call waiting for its
            answer: how many are refused with RESOURCE_EXHAUSTED and how fast, and
            whether every accepted one completes.

Writes bench/results/load.json (stamped with the commit, time, machine and config) and
prints the summary; RELIABILITY.md's figures table is rendered from it (bench/report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_auth import use_unlimited_token  # noqa: E402
from meta import run_meta  # noqa: E402
from phase_process import run_in_own_process  # noqa: E402
from serve_modes import apply_ingress_mode  # noqa: E402

STOCK_SERVICER = "ponder.v1.ponder_pb2_grpc.add_PonderServiceServicer_to_server"
BEFORE = {"max_num_batched_tokens": 2048, "long_prefill_token_threshold": 0}
LONG_PROMPT_WORDS = 3300
CANCEL_MAX_TOKENS = 300
OVERLOAD_FACTOR = 4


def serve_config(path: Path, variant: str) -> dict[str, Any]:
    """The Serve config of a variant, as a dict (see the module docstring)."""
    data = copy.deepcopy(yaml.safe_load(path.read_text()))
    args = data["applications"][0]["args"]
    args["student"]["enabled"] = False
    args["planner"]["model"] = ""
    args["encoder"]["enabled"] = False
    args.setdefault("auth", {})["default_rate_limit"] = None
    args["decoder"]["engine"]["enforce_eager"] = True
    if variant in ("capped", "yield"):
        args["decoder"]["engine"]["lone_prefill_step_tokens"] = 0
    if variant == "capped":
        args["decoder"]["engine"]["prefill_yield_steps"] = 0
    if variant in ("before", "direct"):
        if variant == "before":
            args["decoder"]["engine"].update(BEFORE)
        functions = data["grpc_options"]["grpc_servicer_functions"]
        data["grpc_options"]["grpc_servicer_functions"] = [
            STOCK_SERVICER if f.endswith("add_PonderServiceServicer_to_server") else f
            for f in functions
        ]
    return data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# -- measurements (run inside the phase process, against its platform) ----------------


async def _generate(stub: Any, prompt: str, max_tokens: int, limit_s: float) -> tuple[str, float]:
    """One unary greedy Generate: (status code name, seconds)."""
    import grpc

    from ponder.api.client import auth_metadata, build_request

    request = build_request(messages=[("user", prompt)], temperature=0.0, max_tokens=max_tokens)
    started = time.perf_counter()
    try:
        await stub.Generate(request, timeout=limit_s, metadata=auth_metadata())
        code = "OK"
    except grpc.aio.AioRpcError as error:
        code = error.code().name
    return code, time.perf_counter() - started


async def fairness(stub: Any, rounds: int, tag: str) -> dict[str, Any]:
    idle = []
    for i in range(rounds + 1):
        code, seconds = await _generate(stub, f"Say hi to {tag} idle {i}.", 2, 120)
        assert code == "OK", code
        idle.append(seconds)
    idle = idle[1:]  # the first warms the path
    busy, long_s = [], []
    for i in range(rounds):
        text = f"{tag} round {i}: " + "word " * LONG_PROMPT_WORDS
        long_call = asyncio.create_task(_generate(stub, text, 2, 300))
        await asyncio.sleep(0.5)  # the long prompt is being prefilled
        code, seconds = await _generate(stub, f"Say hi to {tag} busy {i}.", 2, 300)
        assert code == "OK", code
        busy.append(seconds)
        code, seconds = await long_call
        assert code == "OK", code
        long_s.append(seconds)
    return {"idle_short_s": idle, "short_with_long_s": busy, "long_s": long_s}


def _unfinished() -> int:
    from ray import serve

    decoder = serve.get_deployment_handle("Decoder", app_name="ponder")
    return int(decoder.stats.remote().result().unfinished_requests)


async def _wait_idle(limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_unfinished) == 0:
            return True
        await asyncio.sleep(0.2)
    return False


async def cancels(stub: Any, attempts: int) -> dict[str, Any]:
    from ponder.api.client import auth_metadata, build_request

    outcomes = []
    for attempt in range(attempts):
        assert await _wait_idle(120), "the engine never went idle"
        request = build_request(
            f"{attempt}, 1, 2, 3,", temperature=0.0, max_tokens=CANCEL_MAX_TOKENS
        )
        call = stub.StreamGenerate(request, timeout=300, metadata=auth_metadata())
        received = 0
        async for _ in call:
            received += 1
            if received == 1 + attempt % 4:
                call.cancel()
                break
        outcomes.append(await _wait_idle(3.0))
    return {"attempts": attempts, "aborted": sum(outcomes), "outcomes": outcomes}


async def capacity(stub_pool: list[Any], concurrency: int, seconds: float) -> float:
    """Completed Generate calls per second with `concurrency` callers kept busy."""
    done = 0
    stop_at = time.monotonic() + seconds

    async def caller(index: int) -> None:
        nonlocal done
        n = 0
        while time.monotonic() < stop_at:
            stub = stub_pool[index % len(stub_pool)]
            code, _ = await _generate(stub, f"Name a colour, caller {index} call {n}.", 8, 300)
            assert code == "OK", code
            done += 1
            n += 1

    started = time.monotonic()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return done / (time.monotonic() - started)


async def overload(stub_pool: list[Any], rate: float, seconds: float, admitted: int) -> dict:
    """Open-loop arrivals at `rate` calls/s for `seconds` (evenly spaced); every call
    waits for its answer. The platform can finish about capacity x seconds of them plus
    what its queues hold; the rest is the excess it should refuse, quickly."""
    offered = int(rate * seconds)
    calls = []
    started = time.perf_counter()
    for i in range(offered):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stub = stub_pool[i % len(stub_pool)]
        calls.append(asyncio.create_task(_generate(stub, f"Name a colour, number {i}.", 8, 600)))
    results = await asyncio.gather(*calls)
    wall = time.perf_counter() - started
    codes: dict[str, int] = {}
    for code, _ in results:
        codes[code] = codes.get(code, 0) + 1
    rejected = [s for c, s in results if c == "RESOURCE_EXHAUSTED"]
    ok = [s for c, s in results if c == "OK"]
    accepted = offered - len(rejected)
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "offered": offered,
        "admission_capacity": admitted,
        "codes": codes,
        "rejected_share": len(rejected) / offered,
        "rejection_p50_ms": percentile(rejected, 0.5) * 1000,
        "rejection_p99_ms": percentile(rejected, 0.99) * 1000,
        "accepted": accepted,
        "accepted_completed_share": len(ok) / accepted if accepted else math.nan,
        "accepted_p50_s": percentile(ok, 0.5),
        "accepted_p99_s": percentile(ok, 0.99),
        "wall_s": wall,
    }


def run_phase(
    config_path: Path, variant: str, with_overload: bool, quick: bool, fairness_only: bool = False
) -> dict:
    direct_port = apply_ingress_mode("direct" if variant == "direct" else "proxy")
    import grpc

    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config
    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    data = serve_config(config_path, variant)
    auth_dir = use_unlimited_token(data)
    config = validate_serve_config(data, source=f"{config_path} ({variant})")
    platform = LocalPlatform(config, log_to_driver=False)
    platform.start(progress=lambda m: print(f"[load {variant}] {m}", file=sys.stderr, flush=True))
    decoder = config.apps["ponder"].decoder.deployment
    admitted = decoder.max_ongoing_requests + decoder.max_queued_requests

    async def measure() -> dict[str, Any]:
        channels = [grpc.aio.insecure_channel(platform.target) for _ in range(8)]
        stubs = [pb_grpc.PonderServiceStub(c) for c in channels]
        try:
            result: dict[str, Any] = {"variant": variant}
            if variant == "direct":  # caller cancels: the replica's own port, then the proxy
                async with grpc.aio.insecure_channel(f"127.0.0.1:{direct_port}") as direct:
                    stub = pb_grpc.PonderServiceStub(direct)
                    result["cancel_direct"] = await cancels(stub, 4 if quick else 12)
                result["cancel"] = await cancels(stubs[0], 4 if quick else 12)
                return result
            result["fairness"] = await fairness(stubs[0], 2 if quick else 3, variant)
            if variant in ("capped", "yield") or fairness_only:
                return result
            result["cancel"] = await cancels(stubs[0], 4 if quick else 12)
            if with_overload:
                assert await _wait_idle(300)
                engine = config.apps["ponder"].decoder.engine
                served = await capacity(stubs, engine.max_num_seqs, 10 if quick else 30)
                rate = OVERLOAD_FACTOR * served
                result["capacity_per_s"] = served
                result["overload"] = await overload(stubs, rate, 10 if quick else 30, admitted)
            return result
        finally:
            for channel in channels:
                await channel.close()

    try:
        return asyncio.run(measure())
    finally:
        platform.stop()
        shutil.rmtree(auth_dir, ignore_errors=True)


# -- orchestration ----------------------------------------------------------------------


def spawn(
    config: Path, variant: str, with_overload: bool, quick: bool, fairness_only: bool = False
) -> dict[str, Any]:
    """Each start in its own process (bench/phase_process.py)."""
    extra = (["--overload"] if with_overload else []) + (["--quick"] if quick else [])
    extra += ["--fairness"] if fairness_only else []
    result: dict[str, Any] = run_in_own_process(__file__, config, variant, extra, "load")
    return result


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _fraction(*cancels: dict[str, Any]) -> str:
    """'aborted/attempts' summed over cancel results."""
    aborted = sum(c["aborted"] for c in cancels)
    return f"{aborted}/{sum(c['attempts'] for c in cancels)}"


def _fairness_summary(mine: list[dict[str, Any]]) -> dict[str, Any]:
    idle = [s for r in mine for s in r["fairness"]["idle_short_s"]]
    busy = [s for r in mine for s in r["fairness"]["short_with_long_s"]]
    long_s = [s for r in mine for s in r["fairness"]["long_s"]]
    return {
        "idle_short_p50_s": _median(idle),
        "short_with_long_p50_s": _median(busy),
        "short_with_long_per_start_p50_s": [
            _median(r["fairness"]["short_with_long_s"]) for r in mine
        ],
        "busy_over_idle": _median(busy) / _median(idle),
        "busy_over_idle_per_start": [
            _median(r["fairness"]["short_with_long_s"]) / _median(r["fairness"]["idle_short_s"])
            for r in mine
        ],
        "long_p50_s": _median(long_s),
        "long_per_start_p50_s": [_median(r["fairness"]["long_s"]) for r in mine],
    }


def report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in ("before", "after"):
        mine = [r for r in runs if r["variant"] == variant]
        summary[variant] = _fairness_summary(mine) | {
            "cancel_aborted": _fraction(*(r["cancel"] for r in mine)),
        }
    direct = [r for r in runs if r["variant"] == "direct"]
    if direct:
        summary["direct"] = {
            "cancel_direct_aborted": _fraction(direct[0]["cancel_direct"]),
            "cancel_proxy_aborted": _fraction(direct[0]["cancel"]),
        }
    overload_runs = [r for r in runs if "overload" in r]
    if overload_runs:
        summary["capacity_per_s"] = overload_runs[0]["capacity_per_s"]
        summary["overload"] = overload_runs[0]["overload"]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 1x overload")
    parser.add_argument(
        "--phase",
        choices=["before", "after", "capped", "yield", "direct"],
        help="one start only (direct: caller cancels with Serve's direct ingress, on the "
        "replica's port and through the proxy, stock servicer hook); prints its JSON",
    )
    parser.add_argument(
        "--fairness",
        action="store_true",
        help="only the fairness figure, shipped against vLLM's own scheduler one change at a "
        "time (after, yield, capped, capped, yield, after); writes bench/results/fairness.json",
    )
    parser.add_argument("--overload", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = run_phase(args.config, args.phase, args.overload, args.quick, args.fairness)
        print(json.dumps(result))
        return 0
    if args.fairness:
        return fairness_ab(args.config, args.quick)

    order = [
        ("before", False),
        ("after", True),
        ("after", False),
        ("before", False),
        ("direct", False),
    ]
    runs = [spawn(args.config, variant, overload_, args.quick) for variant, overload_ in order]
    summary = report(runs)
    result = {
        "meta": run_meta(args.config),
        "command": "python bench/load.py" + (" --quick" if args.quick else ""),
        "order": [variant for variant, _ in order],
        "overload_factor": OVERLOAD_FACTOR,
        "long_prompt_words": LONG_PROMPT_WORDS,
        "summary": summary,
        "runs": runs,
    }
    _save("load.json", result)
    return 0


def _save(name: str, result: dict[str, Any]) -> None:
    """bench/results/<name>, and its summary on stdout."""
    out = ROOT / "bench" / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


def fairness_ab(config: Path, quick: bool) -> int:
    """The fairness figure alone: shipped (after), yield only, vLLM's own scheduler (capped)."""
    order = ["after", "yield", "capped", "capped", "yield", "after"]
    runs = [spawn(config, variant, False, quick, fairness_only=True) for variant in order]
    summary = {
        v: _fairness_summary([r for r in runs if r["variant"] == v]) for v in dict.fromkeys(order)
    }
    result = {
        "meta": run_meta(config),
        "command": "python bench/load.py --fairness" + (" --quick" if quick else ""),
        "order": order,
        "long_prompt_words": LONG_PROMPT_WORDS,
        "summary": summary,
        "runs": runs,
    }
    _save("fairness.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
