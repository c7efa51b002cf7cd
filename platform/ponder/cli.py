"""The `ponder` command: set up the model, serve the platform, call its API."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ponder import env
from ponder.v1 import ponder_pb2 as pb

DEFAULT_SERVE_CONFIG = env.REPO_ROOT / "config" / "serve-local.yaml"
DEMO_QUESTION = "What is the capital of France?"


def _say(message: str) -> None:
    print(f"[ponder] {message}", flush=True)


def cmd_setup_model(args: argparse.Namespace) -> int:
    from ponder.model_setup import convert_default_model

    logging.basicConfig(level=logging.INFO, format="[ponder] %(message)s")
    convert_default_model(env.default_model_dir(), force=args.force)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from deployments.runner import LocalPlatform
    from deployments.serve_config import ServeConfigError, load_serve_config

    try:
        config = load_serve_config(Path(args.config))
    except (ServeConfigError, OSError) as error:
        _say(f"invalid config: {error}")
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    platform = LocalPlatform(config, grpc_port=args.port)
    try:
        platform.start(progress=_say)
        if args.demo:
            _demo(platform.target)
        _say("serving until Ctrl-C / SIGTERM")
        stop.wait()
        _say("stopping")
    finally:
        platform.stop()
        _say("stopped")
    return 0


def _demo(target: str) -> None:
    from ponder.api.client import PonderClient, build_request

    with PonderClient(target) as client:
        request = build_request(messages=[("user", DEMO_QUESTION)], max_tokens=64)
        response = client.generate(request, timeout=120)
    _say(f"demo request: {DEMO_QUESTION}")
    _say(f"demo answer:  {response.text.strip()}")


def cmd_generate(args: argparse.Namespace) -> int:
    import grpc

    from ponder.api.client import PonderClient, build_request

    messages = []
    if args.system:
        messages.append(("system", args.system))
    if not args.raw:
        messages.append(("user", args.prompt))
    request = build_request(
        args.prompt if args.raw else "",
        messages=messages,
        preset=args.preset or "",
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
        stop=args.stop or (),
        adapter=args.adapter or "",
    )
    try:
        with PonderClient(args.target) as client:
            if args.stream:
                last = None
                for chunk in client.stream_generate(request, timeout=args.timeout):
                    print(chunk.text, end="", flush=True)
                    last = chunk
                print()
                if last is not None:
                    _print_usage(last)
            else:
                response = client.generate(request, timeout=args.timeout)
                print(response.text)
                _print_usage(response)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    return 0


def _print_usage(response: pb.GenerateResponse) -> None:
    usage = response.usage
    reason = pb.FinishReason.Name(response.finish_reason)
    print(
        f"[{reason.removeprefix('FINISH_REASON_').lower()}; prompt {usage.prompt_tokens} "
        f"tokens, completion {usage.completion_tokens} tokens]",
        file=sys.stderr,
    )


def cmd_reason(args: argparse.Namespace) -> int:
    import grpc

    from ponder.api.client import PonderClient, build_reason_request

    request = build_reason_request(
        args.problem,
        branches=args.branches,
        max_tokens=args.max_tokens,
        strategies=args.strategy or (),
        adapter=args.adapter or "",
    )
    try:
        with PonderClient(args.target) as client:
            response = client.reason(request, timeout=args.timeout)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(response.answer)
    if args.trace:
        print(format_reason_tree(response))
    return 0


def format_reason_tree(response: pb.ReasonResponse) -> str:
    """A readable tree of the branches, their steps and scores."""
    usage = response.usage
    lines = [
        f"reasoning {response.reasoning_id}  scorer {response.scorer_version}  "
        f"cache {response.cache_hits} hit / {response.cache_misses} miss  "
        f"decoder calls {usage.decoder_calls}, {usage.completion_tokens} tokens"
    ]
    for index, path in enumerate(response.paths):
        last = index == len(response.paths) - 1
        status = pb.PathStatus.Name(path.status).removeprefix("PATH_STATUS_").lower()
        chosen = "  <= chosen" if path.id == response.chosen_path_id else ""
        lines.append(
            f"{'└─' if last else '├─'} {path.id} [{status}] score {path.score:.3f} "
            f"answer {path.answer or '-'} ({path.tokens} tokens){chosen}"
        )
        pad = "   " if last else "│  "
        for step in path.steps:
            kind = pb.NodeKind.Name(step.kind).removeprefix("NODE_KIND_").lower()
            text = " ".join(step.output.split())
            lines.append(f"{pad}· {kind}: {text[:70]}{'…' if len(text) > 70 else ''}")
        if path.note:
            lines.append(f"{pad}· note: {path.note}")
    return "\n".join(lines)


def cmd_analyze(args: argparse.Namespace) -> int:
    import grpc

    from ponder.api.client import PonderClient, build_analyze_request

    try:
        image = Path(args.image).read_bytes() if args.image else b""
        table = Path(args.table).read_text() if args.table else ""
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    request = build_analyze_request(
        args.text, image=image, table_json=table, max_tokens=args.max_tokens
    )
    try:
        with PonderClient(args.target) as client:
            if args.stream:
                for chunk in client.stream_analyze(request, timeout=args.timeout):
                    print(chunk.text, end="", flush=True)
                print()
            else:
                response = client.analyze(request, timeout=args.timeout)
                print(response.text.strip())
                print(
                    f"[image vectors {response.image_vectors}, table vectors "
                    f"{response.table_vectors}, weights {response.weights_version}, "
                    f"{response.usage.prompt_tokens} prompt positions]",
                    file=sys.stderr,
                )
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2

    from ponder.api.client import PonderClient

    try:
        with PonderClient(args.target) as client:
            status = client.check(timeout=args.timeout)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    print(name)
    return 0 if status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_train_scorer(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from deployments.serve_config import load_serve_config
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.reasoning.local_decoder import EngineDecoder
    from ponder.reasoning.planner import ReasonBudget
    from ponder.reasoning.problems import load_problems
    from ponder.reasoning.training import collect, train

    logging.basicConfig(level=logging.WARNING)
    engine_config = load_serve_config(Path(args.config)).apps["ponder"].decoder.engine
    if args.eager:
        engine_config = engine_config.model_copy(update={"enforce_eager": True})
    paths = [Path(p) for p in args.data] or [env.data_dir() / "mawps_asdiv_train.jsonl"]
    train_set = [p for path in paths for p in load_problems(path, "train", args.train_limit)]
    dev_set = [p for path in paths for p in load_problems(path, "dev", args.dev_limit)]
    _say(
        f"{len(train_set)} training and {len(dev_set)} dev problems from "
        f"{', '.join(p.name for p in paths)}"
    )
    budget = ReasonBudget(max_branches=args.branches, max_tokens=args.max_tokens)

    async def run() -> int:
        _say("starting the vLLM engine")
        engine = await VLLMEngine.start(engine_config)
        try:
            decoder = EngineDecoder(engine)
            _say("collecting candidate paths on the training split")
            train_records = await collect(decoder, train_set, budget, args.concurrency, _say)
            _say("collecting candidate paths on the dev split (never trained on)")
            dev_records = await collect(decoder, dev_set, budget, args.concurrency, _say)
        finally:
            engine.shutdown()
        note = ", ".join(f"{p.name} train split ({args.train_limit} max)" for p in paths)
        scorer = train(train_records, dev_records, note)
        scorer.save(Path(args.out))
        _say(f"wrote scorer {scorer.version} to {args.out}")
        print(json.dumps(scorer.metrics, indent=2))
        return 0

    return asyncio.run(run())


def cmd_train_fusion(args: argparse.Namespace) -> int:
    import json

    from ponder.multimodal.model import MultimodalModel, save_weights
    from ponder.multimodal.synthetic import make_examples
    from ponder.multimodal.training import FrozenDecoder, FusionTrainer

    logging.basicConfig(level=logging.WARNING)
    model_dir = env.default_model_dir()
    train_set = make_examples(args.train, seed=args.seed)
    test_set = make_examples(args.test, seed=args.seed + 1)  # a different stream: held out
    _say(f"{len(train_set)} training and {len(test_set)} held-out examples (bar/line/table)")
    mm = MultimodalModel(model_dir)  # fresh initialisation, deterministic
    trainer = FusionTrainer(mm, FrozenDecoder(str(model_dir)))
    trainer.precompute_images(train_set + test_set, _say)
    _say("held-out accuracy before training")
    before = trainer.evaluate(test_set)
    _say(json.dumps(before))
    losses = trainer.train(train_set, args.epochs, args.batch_size, args.lr, args.seed, _say)
    after = trainer.evaluate(test_set)
    _say(json.dumps(after))
    meta = {
        "trained_on": f"{len(train_set)} synthetic examples, seed {args.seed}",
        "epochs": args.epochs,
        "losses": losses,
        "held_out_before": before,
        "held_out_after": after,
        "held_out_examples": len(test_set),
    }
    version = save_weights(mm.parts, Path(args.out), meta)
    _say(f"wrote fusion weights {version} to {args.out}")
    print(json.dumps({"version": version, "before": before, "after": after}, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ponder.api.client import PonderClient
    from ponder.evaluation import METHODS, evaluate, format_table, write_json
    from ponder.reasoning.problems import load_problems

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"error: unknown method {unknown[0]!r}; known: {', '.join(METHODS)}", file=sys.stderr)
        return 2
    split = None if args.split == "all" else args.split
    problems = load_problems(Path(args.data), split, args.limit)
    _say(f"{len(problems)} problems ({args.split} split of {Path(args.data).name})")
    if args.learn_stream:
        return _learning_loop(args, problems)
    with PonderClient(args.target) as client:
        result = evaluate(
            client, problems, methods, args.concurrency, args.max_tokens, args.branches, _say
        )
    print(format_table(result))
    write_json(result, Path(args.out))
    _say(f"wrote {args.out}")
    return 0


def cmd_scorer(args: argparse.Namespace) -> int:
    """Operator commands on the scorer versions, straight against Redis."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from ponder.config import RedisConfig
    from ponder.errors import PonderError
    from ponder.learning.records import scorer_scope
    from ponder.learning.registry import ScorerRegistry, VersionInfo
    from ponder.learning.status import scorer_status
    from ponder.redis_client import connect

    url = args.redis_url or env.redis_url()
    if not url:
        print("error: no Redis: pass --redis-url or set PONDER_REDIS_URL", file=sys.stderr)
        return 2
    scope = scorer_scope(args.tenant, per_tenant=bool(args.tenant))

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"

    def describe(info: VersionInfo) -> str:
        metrics = (
            f"held-back log-loss {info.heldout.log_loss:.4f}, accuracy "
            f"{info.heldout.accuracy:.3f}, ECE {info.heldout.calibration_error:.3f} "
            f"({info.heldout.examples} rows)"
            if info.heldout
            else "no held-back metrics"
        )
        return (
            f"{info.version} [{info.status}] parent {info.parent or '-'}, created "
            f"{when(info.created_ms)}, promoted {when(info.promoted_ms)}; {metrics}"
        )

    async def run() -> int:
        client = connect(RedisConfig(url=url))
        registry = ScorerRegistry(client)
        try:
            if args.action == "status":
                status = await scorer_status(client, scope)
                print(f"scope {status.scope}")
                print(f"active    {describe(status.active)}")
                if status.candidate is not None:
                    print(f"candidate {describe(status.candidate)}")
                    print(f"          gate: {status.candidate.reason}")
                print(
                    f"outcomes  {status.outcomes_reported} reported, {status.outcomes_applied} "
                    f"applied to this scope, {status.outcomes_pending} pending; progressive "
                    f"log-loss {status.progressive_log_loss:.4f}"
                )
            elif args.action == "history":
                for event in await registry.history(scope, args.limit):
                    extra = {
                        k: v
                        for k, v in event.items()
                        if k not in ("at_ms", "event", "version", "detail")
                    }
                    print(
                        f"{when(event['at_ms'])}  {event['event']:<9} {event['version']:<12} "
                        f"{event['detail']}{'  ' + json.dumps(extra) if extra else ''}"
                    )
                print(f"kept versions: {len(await registry.versions(scope))}")
            else:
                info = await registry.rollback(scope, args.version)
                print(f"active scorer of {scope} is now {describe(info)}")
                print("planners reload it within their reload interval; the learner restarts")
            return 0
        except PonderError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 1
        finally:
            await client.aclose()

    return asyncio.run(run())


def _learning_loop(args: argparse.Namespace, held_out: list[Any]) -> int:
    import json
    import uuid

    from ponder.api.client import PonderClient
    from ponder.learning_eval import format_loop_table, learning_loop
    from ponder.reasoning.problems import load_problems

    if args.split != "dev":
        print("error: --learn-stream measures on the dev split (--split dev)", file=sys.stderr)
        return 2
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c.strip()})
    checkpoints = [c for c in checkpoints if c <= args.learn_stream] or [args.learn_stream]
    if checkpoints[-1] != args.learn_stream:
        checkpoints.append(args.learn_stream)
    stream = load_problems(Path(args.data), "train", args.learn_stream)
    if len(stream) < args.learn_stream:
        print(f"error: only {len(stream)} training problems", file=sys.stderr)
        return 2
    _say(f"learning loop: {len(stream)} training problems reported, checkpoints {checkpoints}")
    with PonderClient(args.target) as client:
        result = learning_loop(
            client,
            stream,
            held_out,
            checkpoints,
            args.concurrency,
            args.max_tokens,
            args.branches,
            run_id=f"loop-{uuid.uuid4().hex[:8]}",
            progress=_say,
        )
    print(format_loop_table(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    _say(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ponder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    setup = sub.add_parser("setup-model", help="convert the default model once (offline)")
    setup.add_argument("--force", action="store_true", help="convert again even if done")
    setup.set_defaults(func=cmd_setup_model)

    serve = sub.add_parser("serve", help="run the platform in the foreground until Ctrl-C")
    serve.add_argument("--port", type=int, default=None, help="gRPC port (default: config's)")
    serve.add_argument("--config", default=str(DEFAULT_SERVE_CONFIG), help="Serve config YAML")
    serve.add_argument("--demo", action="store_true", help="send one demo request when ready")
    serve.set_defaults(func=cmd_serve)

    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("--target", default="127.0.0.1:9000", help="gRPC address")
    target.add_argument("--timeout", type=float, default=120.0, help="deadline in seconds")

    gen = sub.add_parser("generate", parents=[target], help="ask the platform for an answer")
    gen.add_argument("prompt", help="the question (sent as a user chat message)")
    gen.add_argument("--raw", action="store_true", help="send as a raw prompt, no chat template")
    gen.add_argument("--system", help="a system message before the prompt")
    gen.add_argument("--preset", choices=["report", "creative"], help="sampling preset")
    gen.add_argument("--temperature", type=float, help="overrides the preset")
    gen.add_argument("--top-p", type=float, dest="top_p")
    gen.add_argument("--max-tokens", type=int, dest="max_tokens")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--stop", action="append", help="stop string (repeatable)")
    gen.add_argument("--adapter", help="LoRA adapter name")
    gen.add_argument("--stream", action="store_true", help="print tokens as they arrive")
    gen.set_defaults(func=cmd_generate)

    reason = sub.add_parser("reason", parents=[target], help="solve a problem with the planner")
    reason.add_argument("problem", help="the problem text")
    reason.add_argument("--branches", type=int, help="candidate paths (1-16, default 4)")
    reason.add_argument("--max-tokens", type=int, dest="max_tokens", help="decoder token budget")
    reason.add_argument("--strategy", action="append", help="allow this strategy (repeatable)")
    reason.add_argument("--adapter", help="LoRA adapter name")
    reason.add_argument("--trace", action="store_true", help="print the tree of branches")
    reason.set_defaults(func=cmd_reason)

    analyze = sub.add_parser("analyze", parents=[target], help="ask about an image and/or table")
    analyze.add_argument("text", help="the question or instruction")
    analyze.add_argument("--image", help="PNG or JPEG file")
    analyze.add_argument("--table", help='JSON file {"columns": [...], "rows": [[...]]}')
    analyze.add_argument("--max-tokens", type=int, dest="max_tokens")
    analyze.add_argument("--stream", action="store_true", help="print text as it arrives")
    analyze.set_defaults(func=cmd_analyze)

    evaluation = sub.add_parser("eval", parents=[target], help="compare answering methods")
    evaluation.add_argument(
        "--data", default=str(env.data_dir() / "mawps_asdiv_train.jsonl"), help="JSONL problems"
    )
    evaluation.add_argument("--split", choices=["dev", "train", "all"], default="dev")
    evaluation.add_argument("--limit", type=int, default=50)
    evaluation.add_argument("--methods", default="greedy,cot,self-consistency,reason")
    evaluation.add_argument("--concurrency", type=int, default=8, help="problems at once")
    evaluation.add_argument(
        "--max-tokens",
        type=int,
        default=1024,
        dest="max_tokens",
        help="reason's token budget (self-consistency gets the same)",
    )
    evaluation.add_argument("--branches", type=int, default=4)
    evaluation.add_argument(
        "--learn-stream",
        type=int,
        default=0,
        dest="learn_stream",
        help="run the online-learning loop: report outcomes of this many training problems, "
        "measuring reason on the dev problems at each checkpoint",
    )
    evaluation.add_argument(
        "--checkpoints", default="200,500,1000", help="outcome counts to measure at"
    )
    evaluation.add_argument("--out", default=str(env.REPO_ROOT / "bench/results/eval.json"))
    evaluation.set_defaults(func=cmd_eval)

    trainer = sub.add_parser("train-scorer", help="fit the path scorer on training problems")
    trainer.add_argument("--data", action="append", default=[], help="JSONL problems file")
    trainer.add_argument("--train-limit", type=int, default=200, dest="train_limit")
    trainer.add_argument("--dev-limit", type=int, default=60, dest="dev_limit")
    trainer.add_argument("--concurrency", type=int, default=16, help="problems at once")
    trainer.add_argument("--branches", type=int, default=4)
    trainer.add_argument("--max-tokens", type=int, default=1024, dest="max_tokens")
    trainer.add_argument("--config", default=str(DEFAULT_SERVE_CONFIG), help="engine args from")
    trainer.add_argument("--eager", action="store_true", help="skip torch.compile")
    trainer.add_argument(
        "--out", default=str(env.REPO_ROOT / "platform/ponder/reasoning/scorer_default.json")
    )
    trainer.set_defaults(func=cmd_train_scorer)

    scorer = sub.add_parser("scorer", help="path scorer versions: status, history, rollback")
    scorer_actions = scorer.add_subparsers(dest="action", required=True)
    scorer_common = argparse.ArgumentParser(add_help=False)
    scorer_common.add_argument(
        "--redis-url",
        dest="redis_url",
        default="",
        help="default: PONDER_REDIS_URL or the Redis a local `ponder serve` started",
    )
    scorer_common.add_argument("--tenant", default="", help="a tenant's scorer (per-tenant mode)")
    scorer_actions.add_parser("status", parents=[scorer_common], help="active and candidate")
    history = scorer_actions.add_parser("history", parents=[scorer_common], help="events")
    history.add_argument("--limit", type=int, default=50)
    rollback = scorer_actions.add_parser(
        "rollback", parents=[scorer_common], help="make a kept version active again"
    )
    rollback.add_argument("version", help="a version id from `ponder scorer history`")
    scorer.set_defaults(func=cmd_scorer)

    fusion = sub.add_parser("train-fusion", help="fit the multimodal projections and fusion")
    fusion.add_argument("--train", type=int, default=240, help="training examples")
    fusion.add_argument("--test", type=int, default=90, help="held-out examples")
    fusion.add_argument("--epochs", type=int, default=3)
    fusion.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    fusion.add_argument("--lr", type=float, default=3e-3)
    fusion.add_argument("--seed", type=int, default=7)
    fusion.add_argument("--out", default=str(env.REPO_ROOT / "platform" / "ponder" / "multimodal"))
    fusion.set_defaults(func=cmd_train_fusion)

    health = sub.add_parser("health", parents=[target], help="grpc.health.v1 Check")
    health.set_defaults(func=cmd_health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
