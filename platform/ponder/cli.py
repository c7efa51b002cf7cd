"""The `ponder` command: set up the model, serve the platform, call its API."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from ponder import env

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
    from ponder.v1 import ponder_pb2 as pb

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
                    _print_usage(last, pb)
            else:
                response = client.generate(request, timeout=args.timeout)
                print(response.text)
                _print_usage(response, pb)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    return 0


def _print_usage(response: object, pb: object) -> None:
    usage = response.usage  # type: ignore[attr-defined]
    reason = pb.FinishReason.Name(response.finish_reason)  # type: ignore[attr-defined]
    print(
        f"[{reason.removeprefix('FINISH_REASON_').lower()}; prompt {usage.prompt_tokens} "
        f"tokens, completion {usage.completion_tokens} tokens]",
        file=sys.stderr,
    )


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

    health = sub.add_parser("health", parents=[target], help="grpc.health.v1 Check")
    health.set_defaults(func=cmd_health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
