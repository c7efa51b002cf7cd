"""Outcome-learning benchmark: the learning loop through the full platform, the
learner's throughput, and the delay from ReportOutcome to promotion.

Run:  .venv/bin/python bench/learning.py [--stream 1000] [--held-out 0 (all)]

  loop        `reason` accuracy on the held-out problems (ponder.learning.stream_split:
              half of the dev split's stories, their dev problems and robustness
              variants) with the packaged scorer and ranker and after 250, 500, 1000
              reported outcomes of the unseen stream (the other half's problems and
              variants; labels from the data's answers), each pass paired with the first
              on the same problems, via ponder.evaluation.learning_loop (the same code as
              `ponder eval --learn-stream`); each outcome names its story as its
              problem_group, so the gates hold back whole stories and judge every
              candidate on stories it never learned from
  refresh     after the 500th and 1000th outcome (--refresh-at), `ponder train refresh`
              on the caller's scope (verified paths of the logged outcomes -> LoRA on the
              student -> the paired gate on held-back stream problems); a promoted
              refresh is hot-loaded by the running platform and measured by one more
              held-out pass, paired like the others
  rankers     every answer-ranker version the loop created, replayed on the first pass's
              logged programs of the held-out problems (identical rows for all), beside
              one greedy pot branch (each reasoning's greedy program) and the held-out
              set's most frequent answer on the same rows
  throughput  outcomes applied per second by the learner draining a backlog of the
              loop's own logged reasonings (real feature rows), batch 64 vs batch 1
  delay       promotion time minus the report time of the outcome that triggered it
  versions    every scorer version the loop created (the seed, promoted, rejected) on
              one fixed labelled set: after the loop, `reason` answers the held-out
              problems once more (never reported), each completed path is labelled right
              or wrong against the data's answer, and every version scores the same rows
              (log-loss, accuracy, calibration error, base rate) -- old and new compared
              on identical rows, not on each proposal's own held-back window
Starts its own platform (serve-local.yaml) with a fresh Redis, so the loop starts from
the packaged scorer. Written to bench/results/learning.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def _rankers_on_fixed_rows(
    url: str, answered: list[tuple[str, float]], scope: str
) -> dict[str, Any]:
    """Every answer-ranker version of `scope` choosing among the same logged programs of
    the held-out reasonings (the first pass's): right answers out of the problems."""
    from ponder.config import RedisConfig
    from ponder.learning.outcome_log import OutcomeLog
    from ponder.learning.ranker_registry import RankerRegistry
    from ponder.reasoning.problems import is_correct
    from ponder.redis_client import connect

    client = connect(RedisConfig(url=url))
    try:
        log = OutcomeLog(client, retention_s=3600)
        records = [(await log.get_record(rid), answer) for rid, answer in answered]
        registry = RankerRegistry(client)
        versions = await registry.versions(scope) if scope in await registry.scopes() else []
        if not versions:
            versions = await registry.versions("shared")
        history = await registry.history(scope, limit=1000)
    finally:
        await client.aclose()
    out = []
    baselines = _baselines_on_fixed_rows(records)
    for info in versions:
        right = 0
        for record, answer in records:
            ranked = info.ranker.rank(record.problem, list(record.programs))
            right += bool(ranked) and is_correct(ranked[0][0].answer, answer)
        out.append(
            {
                "version": info.version,
                "status": info.status,
                "parent": info.parent,
                "train_examples": info.train_examples,
                "gate": info.gate.to_json() if info.gate else None,
                "right": right,
                "problems": len(records),
            }
        )
    return {"scope": scope, "versions": out, "history": history, "baselines": baselines}


def _baselines_on_fixed_rows(records: list[tuple[Any, float]]) -> dict[str, int]:
    """On the rankers' rows: one greedy pot branch (each reasoning's own greedy program,
    the strongest single pass) and the held-out set's most frequent answer."""
    from ponder.reasoning.problems import is_correct

    greedy_right = no_greedy = 0
    for record, answer in records:
        greedy = next((p for p in record.programs if p.greedy), None)
        no_greedy += greedy is None
        greedy_right += greedy is not None and is_correct(greedy.answer, answer)
    frequent = Counter(answer for _, answer in records).most_common(1)
    most_frequent = (
        sum(is_correct(frequent[0][0], answer) for _, answer in records) if frequent else 0
    )
    return {
        "problems": len(records),
        "greedy_pot": greedy_right,
        "without_greedy_program": no_greedy,
        "most_frequent": most_frequent,
    }


async def _promotion_delays(url: str, scope: str) -> dict[str, Any]:
    from ponder.config import RedisConfig
    from ponder.learning.registry import ScorerRegistry
    from ponder.redis_client import connect

    client = connect(RedisConfig(url=url))
    try:
        events = await ScorerRegistry(client).history(scope, limit=10_000)
    finally:
        await client.aclose()
    delays = [
        (e["at_ms"] - e["last_outcome_reported_ms"]) / 1000
        for e in events
        if e["event"] == "promoted" and "last_outcome_reported_ms" in e
    ]
    verdicts: dict[str, int] = {}
    for e in events:
        verdicts[e["event"]] = verdicts.get(e["event"], 0) + 1
    return {
        "events": verdicts,
        "promotion_delay_s": {
            "count": len(delays),
            "median": statistics.median(delays) if delays else None,
            "max": max(delays) if delays else None,
        },
    }


async def _logged_examples(url: str, limit: int) -> list[tuple[Any, Any]]:
    """(record, outcome) pairs the platform logged during the loop."""
    from ponder.config import RedisConfig
    from ponder.learning.outcome_log import Keys
    from ponder.learning.records import Outcome, ReasoningRecord
    from ponder.redis_client import connect

    client = connect(RedisConfig(url=url))
    pairs = []
    try:
        entries = await client.xrange(Keys().outcomes_stream, count=limit)
        for _id, fields in entries:
            pairs.append(
                (
                    ReasoningRecord.from_json(fields[b"record"]),
                    Outcome.from_json(fields[b"outcome"]),
                )
            )
    finally:
        await client.aclose()
    return pairs


async def _throughput(pairs: list[tuple[Any, Any]], outcomes: int, batch_size: int) -> float:
    """Outcomes/s of a learner draining a backlog of `outcomes` logged outcomes."""
    from ponder.config import LearningConfig, RedisConfig
    from ponder.learning.learner import Learner
    from ponder.learning.outcome_log import OutcomeLog
    from ponder.reasoning.path_scorer import load_scorer
    from ponder.redis_client import connect
    from ponder.redis_server import LocalRedis

    with tempfile.TemporaryDirectory() as folder:
        redis = LocalRedis(data_dir=Path(folder)).start()
        try:
            client = connect(RedisConfig(url=redis.url), blocking_reads_s=0.2)
            log = OutcomeLog(client, retention_s=3600)
            for i in range(outcomes):
                record, outcome = pairs[i % len(pairs)]
                rid = f"t-{i}"
                await log.record(replace(record, reasoning_id=rid))
                await log.report(replace(outcome, reasoning_id=rid), tenant=record.tenant)
            config = LearningConfig(batch_size=batch_size, poll_block_ms=10)
            learner = Learner(client, config, load_scorer())
            await learner.start()
            started = time.perf_counter()
            while await learner.step():
                pass
            elapsed = time.perf_counter() - started
            assert learner.state.applied_total == outcomes
            await client.aclose()
            return outcomes / elapsed
        finally:
            redis.stop()


async def _versions_on_fixed_rows(
    url: str, answered: list[tuple[str, float]], scope: str
) -> dict[str, Any]:
    """Every scorer version of the shared scope on the same labelled rows: the paths of
    the reasonings `answered` ((reasoning id, the data's answer) pairs), labelled right or
    wrong against that answer."""
    from ponder.config import RedisConfig
    from ponder.learning.online import metrics_of
    from ponder.learning.outcome_log import OutcomeLog
    from ponder.learning.records import Outcome, labelled_rows, now_ms
    from ponder.learning.registry import ScorerRegistry
    from ponder.reasoning.problems import is_correct
    from ponder.redis_client import connect

    client = connect(RedisConfig(url=url))
    rows: list[list[float]] = []
    labels: list[float] = []
    try:
        log = OutcomeLog(client, retention_s=3600)
        for reasoning_id, answer in answered:
            record = await log.get_record(reasoning_id)
            chosen = next((p for p in record.paths if p.chosen), None)
            right = chosen is not None and is_correct(chosen.answer, answer)
            outcome = Outcome(reasoning_id, float(right), answer, now_ms())
            more_rows, more_labels = labelled_rows(record, outcome)
            rows += more_rows
            labels += more_labels
        versions = await ScorerRegistry(client).versions(scope)
    finally:
        await client.aclose()
    return {
        "rows": len(rows),
        "reasonings": len(answered),
        "base_rate": sum(labels) / max(1, len(labels)),
        "versions": [
            {
                "version": info.version,
                "status": info.status,
                "outcomes_applied": info.outcomes_applied,
                **metrics_of(info.scorer.score_many(rows), labels).to_json(),
            }
            for info in versions
        ],
    }


async def _after_the_loop(
    url: str, loop: dict[str, Any], held_out: list[Any], stream: int
) -> dict[str, Any]:
    """What Redis holds after the loop: every version on the first pass's held-out paths,
    the scorer's promotion delays, and the logged outcomes (for the throughput runs)."""
    first, last = loop["checkpoints"][0], loop["checkpoints"][-1]
    scope = last["scope"]  # the caller's scope (shared until its first outcome)
    answered = [
        (rid, float(p.answer))
        for rid, p in zip(first["reasoning_ids"], held_out, strict=True)
        if rid
    ]
    _say("every scorer and ranker version on the first pass's held-out paths")
    return {
        "versions": await _versions_on_fixed_rows(url, answered, scope),
        "rankers": await _rankers_on_fixed_rows(url, answered, last.get("ranker_scope", scope)),
        "delays": await _promotion_delays(url, scope),
        "pairs": await _logged_examples(url, stream),
    }


RECORD_QUOTA_BYTES = 256 * 1024 * 1024  # the run keeps ~4 500 reasonings (~13 kB each)


def _bench_config(config: Path, refresh: bool) -> Path:
    """`config` as the run needs it, written beside the run: the one tenant's quota of
    stored reasonings raised to hold every pass (32 MiB, the shipped quota, runs out after
    ~2 500 Reasons), and with `refresh`, the student's replicas loading refresh adapters
    from the registry (what a deployment that runs `ponder train refresh` sets)."""
    import yaml

    data = yaml.safe_load(config.read_text())
    for app in data["applications"]:
        app["args"]["planner"]["learning"]["tenant_record_quota_bytes"] = RECORD_QUOTA_BYTES
        if refresh:
            app["args"]["student"]["engine"]["refresh_adapters"] = True
    out = Path(tempfile.mkdtemp(prefix="ponder-bench-config-")) / config.name
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _refresh_command(config: Path, url: str, client: Any) -> Any:
    """`ponder train refresh --local` on the caller's scope, against the platform's Redis."""
    from ponder.evaluation.refresh_runner import subprocess_refresh

    return subprocess_refresh(config, url, lambda: client.get_scorer_response().scorer.scope, _say)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--stream", type=int, default=1000)
    parser.add_argument("--checkpoints", default="250,500,1000")
    parser.add_argument("--held-out", type=int, default=0, dest="held_out", help="0: all")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--branches", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=1024, dest="max_tokens")
    parser.add_argument(
        "--refresh-at",
        default="500,1000",
        dest="refresh_at",
        help="checkpoints after which the model is refreshed ('' for none)",
    )
    parser.add_argument("--throughput-outcomes", type=int, default=2000, dest="tp_outcomes")
    return parser.parse_args()


def main() -> int:
    args = _arguments()

    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config
    from ponder import env
    from ponder.evaluation.learning_loop import LoopSettings, format_loop_table, learning_loop
    from ponder.learning.stream_split import learning_problems

    problems = learning_problems(
        env.data_dir() / "mawps_asdiv_train.jsonl", ROOT / "bench" / "data" / "robust-dev.jsonl"
    )
    stream = [problems.stream[i % len(problems.stream)] for i in range(args.stream)]
    held_out = problems.held_out[: args.held_out or None]
    _say(f"stream {len(problems.stream)} problems, held out {len(held_out)}")
    config_path = _bench_config(args.config, refresh=bool(args.refresh_at))
    serve_config = load_serve_config(config_path)
    app_config = next(iter(serve_config.apps.values()))
    propose_every = app_config.planner.learning.ranker_propose_every
    checkpoints = [int(c) for c in args.checkpoints.split(",") if int(c) <= args.stream]
    redis_dir = Path(tempfile.mkdtemp(prefix="ponder-bench-redis-"))
    platform = LocalPlatform(serve_config, log_to_driver=False, redis_data_dir=redis_dir)
    platform.start(progress=_say)
    try:
        url = platform.redis_servers[0].url
        with platform.client() as client:
            loop = learning_loop(
                client,
                stream,
                held_out,
                checkpoints,
                LoopSettings(
                    args.concurrency,
                    args.max_tokens,
                    args.branches,
                    run_id=f"bench-{uuid.uuid4().hex[:8]}",
                    propose_every=propose_every,
                    refresh_at=tuple(int(c) for c in args.refresh_at.split(",") if c),
                ),
                progress=_say,
                group_of=problems.story_of,
                refresh=_refresh_command(config_path, url, client),
            )
        after = asyncio.run(_after_the_loop(url, loop, held_out, args.stream))
    finally:
        platform.stop()
    _say(f"learner throughput on {args.tp_outcomes} logged outcomes")
    throughput = {
        f"batch_{b}": asyncio.run(_throughput(after["pairs"], args.tp_outcomes, b)) for b in (64, 1)
    }
    for row in loop["checkpoints"]:
        row.pop("reasoning_ids", None)
    result = {
        "stream_problems": len(problems.stream),
        "stream_sources": dict(Counter(p.source for p in problems.stream)),
        "held_out_sources": dict(Counter(p.source for p in held_out)),
        "loop": loop,
        "rankers_on_fixed_rows": after["rankers"],
        "versions_on_fixed_rows": after["versions"],
        **after["delays"],
        "learner_outcomes_per_s": throughput,
    }
    out = ROOT / "bench" / "results" / "learning.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_loop_table(loop))
    print(json.dumps({k: v for k, v in result.items() if k != "loop"}, indent=2))
    _say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
