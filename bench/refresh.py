"""Outcome-driven model refresh: does a refresh promoted by the gate answer held-out
problems better than the model it replaces?

Run:  .venv/bin/python bench/refresh.py [--limit N] [--held-out-limit N]

1. Logged outcomes, as the learner keeps them, from the unseen stream
   (ponder.learning.stream_split: half of the dev split's stories, their dev problems and
   robustness variants; never in any offline training run): for each stream problem that
   `ponder train verifier` sampled (.state/verifier/dev.jsonl, robust.jsonl), its first 8
   sampled programs and its right answer (the outcome a caller reports). Problems are
   held back for the gate by a hash of their text (20 %, the learner's rule).
2. `ponder train refresh`'s own code (deployments/refresh_job.refresh_once) against a
   fresh local Redis: verified paths + rehearsal -> LoRA on the student (in this process)
   -> the paired gate, default Reason with both versions on the held-back problems.
3. Held-out accuracy: default Reason (config/serve-local.yaml) with the base student and
   with the refresh on the other half's problems (its dev problems and robustness
   variants; never reported, never trained on), paired on identical problems and seeds:
   k/n with 95 % intervals, the problems each version alone gets right, a one-sided sign
   test, and the majority-answer baseline.

Written to bench/results/refresh.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployments.refresh_job import reason_right, refresh_once  # noqa: E402
from deployments.serve_config import load_serve_config  # noqa: E402
from ponder import env  # noqa: E402
from ponder.config import RedisConfig  # noqa: E402
from ponder.learning.outcome_log import Keys  # noqa: E402
from ponder.learning.paired_gate import sign_test_p  # noqa: E402
from ponder.learning.ranker_examples import RankerExample, held_back  # noqa: E402
from ponder.learning.records import SHARED_SCOPE  # noqa: E402
from ponder.learning.stream_split import learning_problems  # noqa: E402
from ponder.reasoning.verifier import load_samples, sampled_programs  # noqa: E402
from ponder.redis_client import connect  # noqa: E402
from ponder.redis_server import LocalRedis  # noqa: E402
from ponder.stats import proportion  # noqa: E402
from ponder.training.settings import RefreshTrainingConfig, load_training_config  # noqa: E402

CONFIG = ROOT / "config" / "serve-local.yaml"
REFRESH_CONFIG = ROOT / "config" / "train-refresh.yaml"
SAMPLES = ROOT / ".state" / "verifier"
ROBUST = ROOT / "bench" / "data" / "robust-dev.jsonl"
RESULT = ROOT / "bench" / "results" / "refresh.json"
LOGGED_PROGRAMS = 8
HOLDOUT_PERCENT = 20


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def logged_stream(limit: int | None) -> tuple[list[RankerExample], list[tuple[str, float]]]:
    """The stream's logged outcomes (problems with kept samples) and the held-out problems."""
    split = learning_problems(env.data_dir() / "mawps_asdiv_train.jsonl", ROBUST)
    samples = {
        " ".join(r.question.split()): r
        for name in ("dev", "robust")
        for r in load_samples(SAMPLES / f"{name}.jsonl")
    }
    logged = []
    for problem in split.stream:
        record = samples.get(" ".join(problem.question.split()))
        if record is None:
            continue
        programs = tuple(sampled_programs(record.paths[:LOGGED_PROGRAMS]))
        logged.append(RankerExample(problem.question, programs, problem.answer))
    held_out = [(p.question, p.answer) for p in split.held_out]
    return logged[:limit], held_out


async def write_logged(url: str, logged: list[RankerExample]) -> dict[str, int]:
    """Into the lists the learner appends to, split as the learner splits them."""
    client = connect(RedisConfig(url=url))
    keys = Keys()
    counts = {"train": 0, "held_back": 0}
    try:
        for example in logged:
            back = held_back(example.problem, HOLDOUT_PERCENT)
            await client.rpush(keys.ranker_examples(SHARED_SCOPE, back), example.to_json())
            counts["held_back" if back else "train"] += 1
    finally:
        await client.aclose()
    return counts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    app = load_serve_config(CONFIG).apps["ponder"]
    settings = load_training_config(RefreshTrainingConfig, REFRESH_CONFIG)
    logged, held_out = logged_stream(args.limit)
    held_out = held_out[: args.held_out_limit]
    _say(f"{len(logged)} logged stream problems; {len(held_out)} held-out problems")
    with tempfile.TemporaryDirectory() as folder:
        redis = LocalRedis(data_dir=Path(folder)).start()
        try:
            counts = await write_logged(redis.url, logged)
            client = connect(RedisConfig(url=redis.url))
            started = time.monotonic()
            try:
                job_args = argparse.Namespace(local=True)
                report = await refresh_once(client, SHARED_SCOPE, app, settings, job_args)
            finally:
                await client.aclose()
            refresh_s = time.monotonic() - started
            if report is None:
                raise SystemExit("not enough verified paths for a refresh")
            version = report["version"]
            cache = env.state_dir() / "refresh-adapters"
            from ponder.learning.model_registry import ModelRegistry, materialise

            client = connect(RedisConfig(url=redis.url))
            try:
                files = await ModelRegistry(client).adapter_files(version)
            finally:
                await client.aclose()
            cache.mkdir(parents=True, exist_ok=True)
            folder_of = materialise(version, files, cache)
        finally:
            redis.stop()
    started = time.monotonic()
    right = await reason_right(
        app.student.engine_config(),
        app.planner,
        held_out,
        {"base": None, version: folder_of},
        settings.gate_concurrency,
    )
    evaluate_s = time.monotonic() - started
    base, refreshed = right["base"], right[version]
    wins = sum(r and not b for b, r in zip(base, refreshed, strict=True))
    losses = sum(b and not r for b, r in zip(base, refreshed, strict=True))
    answers = Counter(round(a, 6) for _, a in held_out)
    majority = answers.most_common(1)[0][1] if answers else 0
    return {
        "stream_logged": counts,
        "refresh": report,
        "refresh_seconds": round(refresh_s, 1),
        "held_out": {
            "problems": len(held_out),
            "base": proportion(sum(base), len(base)),
            "refreshed": proportion(sum(refreshed), len(refreshed)),
            "majority_answer": proportion(majority, len(held_out)),
            "refresh_alone_right": wins,
            "base_alone_right": losses,
            "sign_test_p_one_sided": round(sign_test_p(wins, losses), 4),
            "seconds": round(evaluate_s, 1),
        },
        "settings": settings.model_dump(mode="json"),
        "logged_programs_per_problem": LOGGED_PROGRAMS,
        "holdout_percent": HOLDOUT_PERCENT,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="logged stream problems")
    parser.add_argument(
        "--held-out-limit", type=int, default=None, dest="held_out_limit", help="held-out"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["held_out"], indent=2))
    return 0


if __name__ == "__main__":
    main()
