"""Client commands: call a running platform over gRPC (generate, reason, analyze, models,
health, eval)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ponder import env
from ponder.cli.common import connect, rpc_errors, say, target_options
from ponder.v1 import ponder_pb2 as pb


def cmd_generate(args: argparse.Namespace) -> int:
    from ponder.api.client import build_request

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
        model=args.model or "",
    )
    with rpc_errors(), connect(args) as client:
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
    from google.protobuf import json_format

    from ponder.api.client import build_reason_request

    request = build_reason_request(
        args.problem,
        branches=args.branches,
        max_tokens=args.max_tokens,
        strategies=args.strategy or (),
        adapter=args.adapter or "",
        model=args.model or "",
    )
    started = time.monotonic()
    with rpc_errors(), connect(args) as client:
        response = client.reason(request, timeout=args.timeout)
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps(json_format.MessageToDict(response), indent=2))
    elif args.quiet:
        print(response.answer)
    elif args.trace:
        print(response.answer)
        print(format_reason_tree(response))
    else:
        print(format_compact_tree(response, elapsed))
    return 0


def _status(path: pb.CandidatePath) -> str:
    return pb.PathStatus.Name(path.status).removeprefix("PATH_STATUS_").lower()


def _method(path: pb.CandidatePath) -> str:
    """The branch's program or method step, on one line."""
    for kind in (pb.NODE_KIND_METHOD, pb.NODE_KIND_COMPUTE):
        step = next((s for s in path.steps if s.kind == kind and s.output.strip()), None)
        if step is not None:
            text = " ".join(step.output.split())
            return text if len(text) <= 40 else text[:39] + "…"
    return ""


def format_plan(response: pb.ReasonResponse) -> str:
    """The plan on one line: its branches by strategy and the steps of one branch."""
    strategies: dict[str, int] = {}
    steps: dict[str, list[str]] = {}
    for node in response.plan:
        if not node.branch_id:
            continue
        kind = pb.NodeKind.Name(node.kind).removeprefix("NODE_KIND_").lower()
        steps.setdefault(node.branch_id, []).append(kind)
    for path in response.paths:
        if path.id in steps:
            strategies[path.strategy] = strategies.get(path.strategy, 0) + 1
    counted = ", ".join(f"{n} {name}" for name, n in strategies.items()) or "no"
    first = " -> ".join(next(iter(steps.values()), []))
    return f"{counted} branches, each {first or 'without steps'}"


def format_compact_tree(response: pb.ReasonResponse, elapsed_s: float) -> str:
    """The answer, one line per branch (program, answer, score, tokens; pruned and failed
    branches with their reason) and a summary line: what a terminal user reads."""
    lines = [f"answer: {response.answer or '(none)'}"]
    for index, path in enumerate(response.paths):
        corner = "└─" if index == len(response.paths) - 1 else "├─"
        status = _status(path)
        if status == "completed":
            chosen = "  ◀ chosen" if path.id == response.chosen_path_id else ""
            method = _method(path)
            shown = f"{method} = {path.answer}" if method else f"answer {path.answer}"
            lines.append(
                f"{corner} {path.id:<8} {shown:<44} score {path.score:.2f}  "
                f"{path.tokens:>3} tok{chosen}"
            )
        else:
            lines.append(f"{corner} {path.id:<8} {status}: {path.note or '-'}")
    usage = response.usage
    lines.append(
        f"{len(response.paths)} branches, {usage.decoder_calls} decoder calls, "
        f"{usage.completion_tokens} tokens, {elapsed_s:.2f} s · scorer "
        f"{response.scorer_version} · reasoning_id {response.reasoning_id}"
    )
    return "\n".join(lines)


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
        chosen = "  <= chosen" if path.id == response.chosen_path_id else ""
        lines.append(
            f"{'└─' if last else '├─'} {path.id} [{_status(path)}] score {path.score:.3f} "
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
    from ponder.api.client import build_analyze_request

    try:
        image = Path(args.image).read_bytes() if args.image else b""
        table = Path(args.table).read_text() if args.table else ""
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    request = build_analyze_request(
        args.text, image=image, table_json=table, max_tokens=args.max_tokens, model=args.model or ""
    )
    with rpc_errors(), connect(args) as client:
        if args.stream:
            for chunk in client.stream_analyze(request, timeout=args.timeout):
                print(chunk.text, end="", flush=True)
            print()
        else:
            response = client.analyze(request, timeout=args.timeout)
            print(response.text.strip())
            if response.method == pb.ANALYZE_METHOD_FUSED_DECODER:
                print(
                    f"[image vectors {response.image_vectors}, table vectors "
                    f"{response.table_vectors}, weights {response.weights_version}, "
                    f"{response.usage.prompt_tokens} prompt positions]",
                    file=sys.stderr,
                )
            else:  # answered from the chart reader's reading
                read = ", ".join(f"{v.label} {v.value:g}" for v in response.chart.values)
                used = ", ".join(f"{v.label} {v.value:g}" for v in response.values_used)
                how = f"; computed {response.expression}" if response.expression else ""
                print(
                    f"[{pb.AnalyzeMethod.Name(response.method)}: read a {response.chart.kind} "
                    f"chart ({read}) with {response.chart.reader_version}; used {used}{how}]",
                    file=sys.stderr,
                )
    return 0


def cmd_models(args: argparse.Namespace) -> int:

    with rpc_errors(), connect(args) as client:
        models = client.list_models(timeout=args.timeout)
    for model in models:
        kind = pb.ModelKind.Name(model.kind).removeprefix("MODEL_KIND_").lower()
        default = "  (Reason's default)" if model.planner_default else ""
        print(f"{model.name:<16} {kind:<8} {model.version}{default}")
        print(f"{'':<16} {model.description}")
        for key, value in sorted(model.metrics.items()):
            print(f"{'':<16} {key} = {value:.3f}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from grpc_health.v1 import health_pb2

    with rpc_errors(), connect(args) as client:
        status = client.check(timeout=args.timeout)
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    print(name)
    return 0 if status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from ponder.evaluation.compare_methods import METHODS, evaluate, format_table, write_json
    from ponder.reasoning.problems import load_problems

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"error: unknown method {unknown[0]!r}; known: {', '.join(METHODS)}", file=sys.stderr)
        return 2
    if args.learn_stream:
        return _learning_loop(args)
    split = None if args.split == "all" else args.split
    problems = load_problems(Path(args.data), split, args.limit)
    say(f"{len(problems)} problems ({args.split} split of {Path(args.data).name})")
    with connect(args) as client:
        result = evaluate(
            client,
            problems,
            methods,
            args.concurrency,
            args.max_tokens,
            args.branches,
            say,
            args.adapter,
            args.model,
        )
    print(format_table(result))
    write_json(result, Path(args.out))
    say(f"wrote {args.out}")
    return 0


def _learning_loop(args: argparse.Namespace) -> int:
    import json
    import uuid

    from ponder import env
    from ponder.evaluation.learning_loop import LoopSettings, format_loop_table, learning_loop
    from ponder.learning.stream_split import learning_problems

    checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c.strip()})
    checkpoints = [c for c in checkpoints if c <= args.learn_stream] or [args.learn_stream]
    if checkpoints[-1] != args.learn_stream:
        checkpoints.append(args.learn_stream)
    problems = learning_problems(Path(args.data), env.REPO_ROOT / "bench/data/robust-dev.jsonl")
    stream = [problems.stream[i % len(problems.stream)] for i in range(args.learn_stream)]
    held_out = problems.held_out[: args.limit]
    say(
        f"learning loop: {len(stream)} outcomes of the unseen stream reported, "
        f"{len(held_out)} held-out problems, checkpoints {checkpoints}"
    )
    refresh_at = tuple(int(c) for c in args.refresh_at.split(",") if c.strip())
    if unknown_refresh := [c for c in refresh_at if c not in checkpoints]:
        print(
            f"error: --refresh-at {unknown_refresh} must be among the checkpoints {checkpoints}",
            file=sys.stderr,
        )
        return 2
    with connect(args) as client:
        refresh = None
        if refresh_at:
            from ponder.evaluation.refresh_runner import subprocess_refresh

            refresh = subprocess_refresh(
                Path(args.serve_config),
                env.redis_url(),
                lambda: client.get_scorer_response().scorer.scope,
                say,
            )
        result = learning_loop(
            client,
            stream,
            held_out,
            checkpoints,
            LoopSettings(
                args.concurrency,
                args.max_tokens,
                args.branches,
                run_id=f"loop-{uuid.uuid4().hex[:8]}",
                propose_every=args.propose_every,
                refresh_at=refresh_at,
            ),
            progress=say,
            group_of=problems.story_of,
            refresh=refresh,
        )
    print(format_loop_table(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {args.out}")
    return 0


def register(sub: Any) -> None:
    target = target_options()

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
    gen.add_argument("--adapter", help="LoRA adapter name (see `ponder models`)")
    gen.add_argument("--model", help="decoder set: 'base' or a student's name (`ponder models`)")
    gen.add_argument("--stream", action="store_true", help="print tokens as they arrive")
    gen.set_defaults(func=cmd_generate)

    reason = sub.add_parser("reason", parents=[target], help="solve a problem with the planner")
    reason.add_argument("problem", help="the problem text")
    reason.add_argument("--branches", type=int, help="candidate paths (1-16, default 4)")
    reason.add_argument("--max-tokens", type=int, dest="max_tokens", help="decoder token budget")
    reason.add_argument("--strategy", action="append", help="allow this strategy (repeatable)")
    reason.add_argument(
        "--adapter", help="LoRA adapter name; 'base' for none (default: the planner's)"
    )
    reason.add_argument(
        "--model", help="decoder set of the branches: 'base' or a student (default: the planner's)"
    )
    shown = reason.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="print the answer alone")
    shown.add_argument("--json", action="store_true", help="print the whole response as JSON")
    shown.add_argument("--trace", action="store_true", help="print every step of every branch")
    reason.set_defaults(func=cmd_reason)

    analyze = sub.add_parser("analyze", parents=[target], help="ask about an image and/or table")
    analyze.add_argument("text", help="the question or instruction")
    analyze.add_argument("--image", help="PNG or JPEG file")
    analyze.add_argument("--table", help='JSON file {"columns": [...], "rows": [[...]]}')
    analyze.add_argument("--max-tokens", type=int, dest="max_tokens")
    analyze.add_argument("--model", help="decoder set: 'base' or a student's name")
    analyze.add_argument("--stream", action="store_true", help="print text as it arrives")
    analyze.set_defaults(func=cmd_analyze)

    models = sub.add_parser("models", parents=[target], help="the models and adapters served")
    models.set_defaults(func=cmd_models)

    _register_eval(sub, target)

    health = sub.add_parser("health", parents=[target], help="grpc.health.v1 Check")
    health.set_defaults(func=cmd_health)


def _register_eval(sub: Any, target: argparse.ArgumentParser) -> None:
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
        "--adapter",
        default="",
        help="adapter every method uses ('base' for none; default: Generate uses the base "
        "model and Reason the planner's default)",
    )
    evaluation.add_argument(
        "--model", default="", help="decoder set every method uses: 'base' or a student's name"
    )
    evaluation.add_argument(
        "--learn-stream",
        type=int,
        default=0,
        dest="learn_stream",
        help="run the online-learning loop: report outcomes of this many problems of the "
        "unseen stream (ponder.learning.stream_split), measuring reason on its held-out "
        "problems (--limit of them) at each checkpoint",
    )
    evaluation.add_argument(
        "--checkpoints", default="250,500,1000", help="outcome counts to measure at"
    )
    evaluation.add_argument(
        "--propose-every",
        type=int,
        default=200,
        dest="propose_every",
        help="the server's learning.ranker_propose_every (checkpoints wait for due refits)",
    )
    evaluation.add_argument(
        "--refresh-at",
        default="",
        dest="refresh_at",
        help="with --learn-stream: checkpoints after which `ponder train refresh --local` "
        "refreshes the model of the caller's scope, against the Redis of PONDER_REDIS_URL "
        "(e.g. 500,1000; the student's replicas need engine.refresh_adapters)",
    )
    evaluation.add_argument(
        "--serve-config",
        default=str(env.REPO_ROOT / "config/serve-local.yaml"),
        dest="serve_config",
        help="with --refresh-at: the Serve config the platform runs (the refresh job reads "
        "its planner and student settings)",
    )
    evaluation.add_argument("--out", default=str(env.REPO_ROOT / "bench/results/eval.json"))
    evaluation.set_defaults(func=cmd_eval)
