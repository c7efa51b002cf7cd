"""`ponder scorer status|history|rollback [--ranker|--model]`: operator commands on the path
scorer's versions (with --ranker, the answer ranker's; with --model, the served model's
outcome-driven refresh versions), straight against Redis."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

from ponder import env


def cmd_scorer(args: argparse.Namespace) -> int:
    """Operator commands on the scorer versions, straight against Redis."""
    import asyncio
    from datetime import UTC, datetime

    from ponder.config import RedisConfig
    from ponder.errors import PonderError
    from ponder.learning.records import scorer_scope
    from ponder.learning.registry import ScorerRegistry, VersionInfo
    from ponder.learning.scorer_status import scorer_status
    from ponder.redis_client import connect

    given = urlsplit(args.redis_url)
    if given.password is not None or "password=" in given.query:
        print(
            "error: --redis-url carries a password, which `ps` would show to every user of "
            "this machine; set PONDER_REDIS_URL, or pass the URL without it and set "
            "PONDER_REDIS_PASSWORD",
            file=sys.stderr,
        )
        return 2
    url = args.redis_url or env.redis_url()
    if not url:
        print("error: no Redis: pass --redis-url or set PONDER_REDIS_URL", file=sys.stderr)
        return 2
    if urlsplit(url).password is None and env.secret(env.REDIS_PASSWORD_ENV):
        url = RedisConfig(url=url, password_env=env.REDIS_PASSWORD_ENV).connection_url()
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
            if args.ranker:
                return await _ranker_command(args, client, scope, when)
            if args.model:
                return await _model_command(args, client, scope, when)
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
                await _print_history(registry, scope, args.limit, when)
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


async def _print_history(registry: Any, scope: str, limit: int, when: Any) -> None:
    """A registry's events, oldest first, then how many versions it keeps."""
    import json

    for event in await registry.history(scope, limit):
        extra = {k: v for k, v in event.items() if k not in ("at_ms", "event", "version", "detail")}
        print(
            f"{when(event['at_ms'])}  {event['event']:<9} {event['version']:<12} "
            f"{event['detail']}{'  ' + json.dumps(extra) if extra else ''}"
        )
    print(f"kept versions: {len(await registry.versions(scope))}")


async def _ranker_command(args: argparse.Namespace, client: Any, scope: str, when: Any) -> int:
    """status, history or rollback of the scope's answer-ranker versions."""
    from ponder.learning.ranker_registry import RankerRegistry, RankerVersion
    from ponder.learning.scorer_status import ranker_status

    registry = RankerRegistry(client)

    def describe(info: RankerVersion) -> str:
        gate = f"; gate: {info.gate.reason}" if info.gate else ""
        return (
            f"{info.version} [{info.status}] judged against {info.parent or '-'}, created "
            f"{when(info.created_ms)}, promoted {when(info.promoted_ms)}, fitted on "
            f"{info.train_examples} outcome examples{gate}"
        )

    if args.action == "status":
        status = await ranker_status(client, scope)
        print(f"scope   {status.scope}")
        print(f"active  {describe(status.active)}")
        if status.latest is not None and status.latest.version != status.active.version:
            print(f"latest  {describe(status.latest)}")
        progress = status.progress
        print(
            f"examples {progress.train_examples} to train on, {progress.heldout_examples} "
            f"held back; the latest refit used {progress.fitted_on}"
        )
    elif args.action == "history":
        await _print_history(registry, scope, args.limit, when)
    else:
        info = await registry.rollback(scope, args.version)
        print(f"active answer ranker of {scope} is now {describe(info)}")
        print("planners reload it within their reload interval; the next refit is judged on it")
    return 0


async def _model_command(args: argparse.Namespace, client: Any, scope: str, when: Any) -> int:
    """status, history or rollback of the scope's model versions (refresh adapters)."""
    from ponder.learning.model_registry import ModelRegistry, ModelVersion

    registry = ModelRegistry(client)

    def describe(info: ModelVersion) -> str:
        gate = f"; gate: {info.gate.reason}" if info.gate else ""
        return (
            f"{info.name} [{info.status}] on {info.base_model}, judged against "
            f"{info.parent or '-'}, created {when(info.created_ms)}, promoted "
            f"{when(info.promoted_ms)}, trained on {info.train_examples} verified paths{gate}"
        )

    if args.action == "status":
        print(f"scope   {scope}")
        print(f"active  {describe(await registry.active(scope))}")
        for info in await registry.versions(scope):
            print(f"kept    {describe(info)}")
    elif args.action == "history":
        await _print_history(registry, scope, args.limit, when)
    else:
        info = await registry.rollback(scope, args.version)
        print(f"active model of {scope} is now {describe(info)}")
        print("planners switch within their reload interval; decoders load it on first use")
    return 0


def register(sub: Any) -> None:
    scorer = sub.add_parser(
        "scorer", help="path scorer (--ranker: answer ranker) versions: status, history, rollback"
    )
    actions = scorer.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--redis-url",
        dest="redis_url",
        default="",
        help="Redis URL without its password (that comes from PONDER_REDIS_PASSWORD); "
        "default: PONDER_REDIS_URL or the Redis a local `ponder serve` started",
    )
    common.add_argument("--tenant", default="", help="a tenant's scorer (per-tenant mode)")
    which = common.add_mutually_exclusive_group()
    which.add_argument(
        "--ranker",
        action="store_true",
        help="the answer ranker's versions (what picks Reason's answers) instead",
    )
    which.add_argument(
        "--model",
        action="store_true",
        help="the served model's versions (outcome-driven refresh adapters) instead",
    )
    actions.add_parser("status", parents=[common], help="active and candidate")
    history = actions.add_parser("history", parents=[common], help="events")
    history.add_argument("--limit", type=int, default=50)
    rollback = actions.add_parser(
        "rollback", parents=[common], help="make a kept version active again"
    )
    rollback.add_argument("version", help="a version id from `ponder scorer history`")
    scorer.set_defaults(func=cmd_scorer)
