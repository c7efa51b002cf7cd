"""`ponder train refresh`: an outcome-driven refresh of the model Reason's branches run on.

1. **Data.** The learner keeps every reported outcome's problem and sampled programs per
   scope, split by a hash of the problem into trained-on and held-back problems
   (`ranker_examples.py`). The trained-on ones give verified paths: sampled programs whose
   executed answer is the right one, or, where none is, the one searched program that
   reaches it (`refresh_data.py`), plus rehearsed train-split pot examples.
2. **Training.** A LoRA on the student, on Ray Train (`--local`: in this process, the
   one-process path for a lent GPU), starting from the student as shipped.
3. **Gate.** Default Reason with the active version and with the candidate on the same
   held-back problems (never trained on by either; the branches' seeds are the same), one
   vLLM engine serving both adapters. The paired gate (`paired_gate.py`) promotes only a
   candidate that wins more problems than it loses, by the configured margin.
4. **Serving.** The version is kept in the model registry with its adapter files, promoted
   or not. Planners switch to a promoted one within their reload interval; the student's
   replicas load it from Redis on the first request that names it, without a restart.
   `ponder scorer rollback --model VERSION` makes any kept version active again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ponder import env
from ponder.cli.common import DEFAULT_SERVE_CONFIG, say

DEFAULT_REFRESH_CONFIG = env.REPO_ROOT / "config" / "train-refresh.yaml"


async def _logged_examples(client: Any, scope: str, held_back: bool) -> list[Any]:
    from ponder.learning.outcome_log import Keys
    from ponder.learning.ranker_examples import RankerExample

    raw = await client.lrange(Keys().ranker_examples(scope, held_back), 0, -1)
    return [RankerExample.from_json(item) for item in raw]


async def reason_right(
    engine_config: Any,
    planner_config: Any,
    problems: list[tuple[str, float]],
    adapters: dict[str, Path | None],
    concurrency: int,
    ranker: Any = None,
) -> dict[str, list[bool]]:
    """Per version (adapter name -> folder, None for the base model): whether default
    Reason answers each problem right, all versions on one engine, paired by seed.
    `ranker`: the answer ranker that chooses (default: the packaged one)."""
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.reasoning.cache import NoScoreCache
    from ponder.reasoning.local_decoder import EngineDecoder
    from ponder.reasoning.path_scorer import load_scorer
    from ponder.reasoning.plan import parse_strategies
    from ponder.reasoning.problems import is_correct
    from ponder.reasoning.ranker import load_ranker
    from ponder.reasoning.reasoning_planner import ReasoningPlanner
    from ponder.reasoning.requests import ReasonBudget

    # every version names its adapter itself (none: the model as shipped)
    planner_config = planner_config.model_copy(update={"adapter": "", "model": ""})
    engine = await VLLMEngine.start(
        engine_config.model_copy(update={"refresh_adapters": True, "enable_prompt_embeds": False})
    )
    try:
        for name, folder in adapters.items():
            if folder is not None:
                engine.add_adapter(name, folder)
        scorer = load_scorer()
        if planner_config.selection != "ranker":
            ranker = None
        elif ranker is None:
            ranker = load_ranker()
        planner = ReasoningPlanner(
            EngineDecoder(engine), lambda: scorer, NoScoreCache(), planner_config, ranker=ranker
        )
        budget = ReasonBudget(
            max_branches=planner_config.default_branches,
            max_tokens=planner_config.default_max_tokens,
            strategies=parse_strategies(list(planner_config.default_strategies)),
        )
        semaphore = asyncio.Semaphore(concurrency)

        async def one(index: int, problem: str, answer: float, adapter: str) -> bool:
            async with semaphore:
                try:
                    result = await planner.reason(
                        problem, budget, f"gate-{index}", adapter or None, scorer
                    )
                except Exception:  # no branch answered: wrong
                    return False
                return is_correct(result.numeric_answer, answer)

        out: dict[str, list[bool]] = {}
        for name, folder in adapters.items():
            adapter = name if folder is not None else ""
            out[name] = list(
                await asyncio.gather(*(one(i, q, a, adapter) for i, (q, a) in enumerate(problems)))
            )
        return out
    finally:
        engine.shutdown()


def _train(settings: Any, examples: list[Any], model_dir: Path, args: argparse.Namespace) -> Path:
    """The trained adapter's folder (Ray Train, or this process with --local)."""
    adapter_settings = settings.adapter_settings()
    run_name = f"refresh-{int(time.time())}"
    if args.local:
        from ponder.training.local_run import train_here

        work_dir = Path(tempfile.mkdtemp(prefix="ponder-refresh-", dir=env.state_dir()))
        final, _ = train_here(adapter_settings, run_name, work_dir, say, model_dir, given=examples)
    else:
        from deployments.training_jobs import run_training_job

        final, _ = run_training_job(
            adapter_settings, run_name, say, given=examples, model_dir=model_dir
        )
    return final / "adapter"


async def _gate_versions(
    registry: Any, active: Any, candidate: str, folder: Path
) -> dict[str, Path | None]:
    """The two versions the gate runs: the active one (None: the base model, or its kept
    adapter written to the local cache) and the candidate."""
    from ponder.learning.model_registry import BASE_VERSION, materialise

    if active.name == BASE_VERSION:
        return {BASE_VERSION: None, candidate: folder}
    cache = env.state_dir() / "refresh-adapters"
    cache.mkdir(parents=True, exist_ok=True)
    kept = materialise(active.name, await registry.adapter_files(active.name), cache)
    return {active.name: kept, candidate: folder}


async def _served_ranker(client: Any, scope: str) -> Any:
    """The answer ranker the scope's Reason uses now (its learned version, or the
    shared one), so the gate judges both models as they would be served; None: the
    packaged ranker (no ranker learning yet)."""
    from ponder.errors import NotFound
    from ponder.learning.ranker_registry import RankerRegistry
    from ponder.learning.records import SHARED_SCOPE

    registry = RankerRegistry(client)
    for source in (scope, SHARED_SCOPE):
        try:
            return (await registry.active(source)).ranker
        except NotFound:
            continue
    return None


def _training_examples(settings: Any, verified: list[Any]) -> list[Any]:
    """The verified paths plus rehearsed train-split pot examples."""
    from ponder.learning.refresh_data import rehearsal
    from ponder.training.domain_data import TargetFormat, training_pool

    pool = training_pool(env.data_dir(), settings.seed)[TargetFormat.EXPRESSION]
    rehearsed = rehearsal(
        pool, round(len(verified) * settings.rehearsal_per_verified), settings.seed
    )
    say(f"training on {len(verified)} verified + {len(rehearsed)} rehearsed examples")
    return verified + rehearsed


async def refresh_once(
    client: Any, scope: str, app: Any, settings: Any, args: argparse.Namespace
) -> dict[str, Any] | None:
    """One refresh of a scope: train, gate, keep. The report, or None when there are not
    enough verified paths yet."""
    from ponder.learning.model_registry import ModelRegistry, ModelVersion, read_adapter
    from ponder.learning.model_registry import refresh_name as name_of
    from ponder.learning.paired_gate import PairedGateSettings, paired_decision
    from ponder.learning.records import now_ms
    from ponder.learning.refresh_data import verified_examples

    registry = ModelRegistry(client)
    active = await registry.get(scope, await registry.seed_base(scope, app.student.name))
    trained = await _logged_examples(client, scope, held_back=False)
    held = await _logged_examples(client, scope, held_back=True)
    verified = verified_examples(
        trained, settings.per_problem, settings.correction_repeats, settings.search_corrections
    )
    say(
        f"scope {scope}: {len(trained)} logged problems to learn from, {len(verified)} verified "
        f"paths; {len(held)} held-back problems; active model {active.name}"
    )
    if len(verified) < settings.min_verified:
        say(f"not enough verified paths ({settings.min_verified} needed): no refresh")
        return None
    started = time.monotonic()
    engine_config = app.student.engine_config()
    examples = _training_examples(settings, verified)
    folder = _train(settings, examples, engine_config.source_model_path(), args)
    files = read_adapter(folder)
    name = name_of(files)
    say(f"candidate {name} trained in {time.monotonic() - started:.0f} s")
    judged = held[: settings.gate_problems]
    problems = [(e.problem, e.right_answer) for e in judged]
    versions = await _gate_versions(registry, active, name, folder)
    right = await reason_right(
        engine_config,
        app.planner,
        problems,
        versions,
        settings.gate_concurrency,
        await _served_ranker(client, scope),
    )
    gate = PairedGateSettings(
        settings.gate_min_problems, settings.gate_min_effect, settings.gate_max_p_value
    )
    groups = [e.holdout_key for e in judged]
    decision = paired_decision(right[active.name], right[name], gate, groups)
    say(f"gate: {decision.verdict.value}: {decision.reason}")
    status = decision.verdict.value  # promoted, rejected or deferred (too few problems)
    extra = {"examples": len(examples), "settings": settings.model_dump(mode="json")}
    info = ModelVersion(
        name, app.student.name, active.name, now_ms(), status, 0, len(verified), decision, extra
    )
    if not await registry.propose(scope, info, active.name, files):
        raise SystemExit("the active version changed while the candidate was judged: not kept")
    return {
        "version": name,
        "status": status,
        "gate": decision.to_json(),
        "logged_problems": len(trained),
        "verified": len(verified),
        "examples": len(examples),
    }


def cmd_train_refresh(args: argparse.Namespace) -> int:
    from deployments.serve_config import load_serve_config
    from ponder.config import RedisConfig
    from ponder.learning.records import scorer_scope
    from ponder.redis_client import connect
    from ponder.training.settings import RefreshTrainingConfig, load_training_config

    logging.basicConfig(level=logging.WARNING)
    settings = load_training_config(RefreshTrainingConfig, Path(args.config))
    if args.variant:  # the config a cluster runs (k8s_render's merge), e.g. prod-gpu
        from deployments.k8s_render import render
        from deployments.serve_config import validate_serve_config

        serve = validate_serve_config(render(args.variant), source=f"variant {args.variant}")
    else:
        serve = load_serve_config(Path(args.serve_config))
    app = serve.apps["ponder"]
    if not app.student.enabled:
        raise SystemExit("refresh adapts the served student: student.enabled is off")
    given = urlsplit(args.redis_url)
    if given.password is not None or "password=" in given.query:
        raise SystemExit(
            "--redis-url carries a password, which `ps` would show to every user of this "
            "machine; set PONDER_REDIS_URL, or pass the URL without it and set "
            "PONDER_REDIS_PASSWORD"
        )
    url = args.redis_url or env.redis_url()
    if not url:
        raise SystemExit("no Redis: pass --redis-url or set PONDER_REDIS_URL")
    if urlsplit(url).password is None and env.secret(env.REDIS_PASSWORD_ENV):
        url = RedisConfig(url=url, password_env=env.REDIS_PASSWORD_ENV).connection_url()
    scope = scorer_scope(args.tenant, per_tenant=bool(args.tenant))

    async def run() -> dict[str, Any] | None:
        client = connect(RedisConfig(url=url))
        try:
            return await refresh_once(client, scope, app, settings, args)
        finally:
            await client.aclose()

    report = asyncio.run(run())
    if report is not None:
        print(json.dumps(report, indent=2))
    return 0


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "refresh",
        help="refresh the student from logged outcomes (verified paths -> LoRA -> gate)",
    )
    parser.add_argument("--config", default=str(DEFAULT_REFRESH_CONFIG), help="refresh settings")
    parser.add_argument(
        "--serve-config",
        dest="serve_config",
        default=str(DEFAULT_SERVE_CONFIG),
        help="the platform's Serve config (student, planner)",
    )
    parser.add_argument(
        "--variant",
        default="",
        help="instead, a config/variants name merged over the local config, as the "
        "cluster runs it (k8s: prod-gpu or dev-cpu)",
    )
    parser.add_argument(
        "--redis-url",
        dest="redis_url",
        default="",
        help="Redis URL without its password (PONDER_REDIS_PASSWORD); default: "
        "PONDER_REDIS_URL or the Redis a local `ponder serve` started",
    )
    parser.add_argument("--tenant", default="", help="a tenant's scope (per-tenant mode)")
    parser.add_argument(
        "--local", action="store_true", help="train in this process instead of on Ray Train"
    )
    parser.set_defaults(func=cmd_train_refresh)
