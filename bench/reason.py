"""Reasoning planner benchmark through the full platform (gRPC -> Serve -> planner -> vLLM).

Run:  .venv/bin/python bench/reason.py [--problems 6] [--rounds 2]

Two platform starts, each with a fresh Redis (no score cached from an earlier run):

  P3  (pruning and early stop off, so both sides do the same work) wall time of a 4-branch
      Reason / wall time of its longest branch run alone (the same problem, a 1-branch
      Reason per strategy). The order alternates per problem (4-branch first on even
      problems, singles first on odd), so vLLM's prefix cache and the score cache favour
      each side equally often; a warm-up problem outside the measured set runs first.
                                                                           target <= 1.5
  P4  (the config as shipped) share of path-score lookups served from the Redis cache:
        first sight   each problem once (8 branches): hits are repeats inside a request
                      and prefixes shared between branches
        sampled       the same problems again, 8 branches (4 greedy, 4 sampled at the
                      planner's sample temperature; the planner seeds sampled branches by
                      their index, so they repeat their first texts: hits by construction
                      too, unless a batch-dependent difference changes a token)
        greedy repeat the same problems again, 4 greedy branches: hits by construction
                      (identical prefixes), reported as such          target >= 0.95
        paraphrased   each problem reworded ("Question: ..." with its sentences in the
                      same order), 8 branches: keys carry the problem's hash, so no score
                      of the original can be reused; hits are again within the request
      After each round the score keys in Redis are counted: the keys a round adds are the
      distinct prefixes it had to score for the first time, so its distinct-key hit rate
      is 1 - new keys / distinct keys it looked up (for first sight and paraphrased, 0 by
      construction; new keys = misses when no key missed twice).
Written to bench/results/reason.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("pot", "cot", "decompose", "direct")
NO_PRUNING = {
    "prune_below": 0.0,
    "prune_below_best_fraction": 0.0,
    "keep_top": 16,
    "early_stop_agree": 10**6,  # more agreeing paths than branches: never stops early
}


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _platform(config_path: Path, planner_changes: dict[str, Any]) -> Any:
    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config

    data = copy.deepcopy(yaml.safe_load(config_path.read_text()))
    data["applications"][0]["args"]["planner"].update(planner_changes)
    config = validate_serve_config(data, source=f"{config_path} (bench)")
    redis_dir = Path(tempfile.mkdtemp(prefix="ponder-bench-redis-"))
    platform = LocalPlatform(config, log_to_driver=False, redis_data_dir=redis_dir)
    platform.start(progress=_say)
    return platform


def measure_p3(config_path: Path, problems: list[Any], warm_up: Any) -> list[dict[str, Any]]:
    from ponder.api.client import build_reason_request

    platform = _platform(config_path, NO_PRUNING)
    try:
        with platform.client() as client:

            def timed(request: object) -> tuple[float, Any]:
                started = time.perf_counter()
                response = client.reason(request, timeout=600)  # type: ignore[arg-type]
                return time.perf_counter() - started, response

            timed(build_reason_request(warm_up.question, branches=4))
            rows = []
            for index, problem in enumerate(problems):

                def singles(question: str = problem.question) -> dict[str, float]:
                    requests = {
                        s: build_reason_request(question, branches=1, strategies=[s])
                        for s in STRATEGIES
                    }
                    return {s: timed(r)[0] for s, r in requests.items()}

                four = build_reason_request(problem.question, branches=4)
                if index % 2 == 0:
                    together, response = timed(four)
                    alone = singles()
                else:
                    alone = singles()
                    together, response = timed(four)
                rows.append(
                    {
                        "four_branch_first": index % 2 == 0,
                        "reason_s": together,
                        "single_s": alone,
                        "longest_single_s": max(alone.values()),
                        "ratio": together / max(alone.values()),
                        "completed_paths": sum(p.status == 1 for p in response.paths),
                        "completion_tokens": response.usage.completion_tokens,
                    }
                )
                _say(f"P3 problem {index}: 4-branch {together:.2f} s, longest single "
                     f"{max(alone.values()):.2f} s")  # fmt: skip
            return rows
    finally:
        platform.stop()


P4_ROUNDS = (
    ("first_sight", 8, False),
    ("sampled", 8, False),
    ("greedy_repeat", 4, False),
    ("paraphrased", 8, True),
)


def paraphrase(question: str) -> str:
    """The same problem in other words: a label in front, nothing else changed."""
    return f"Question: {question}"


def _score_keys(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(1 for _ in client.scan_iter(match="ponder:score:*", count=1000))
    finally:
        client.close()


def measure_p4(config_path: Path, problems: list[Any]) -> dict[str, dict[str, int]]:
    from ponder.api.client import build_reason_request

    platform = _platform(config_path, {})
    rounds: dict[str, dict[str, int]] = {}
    try:
        url = platform.redis_servers[0].url
        with platform.client() as client:
            for name, branches, reworded in P4_ROUNDS:
                hits = misses = 0
                keys_before = _score_keys(url)
                for problem in problems:
                    question = paraphrase(problem.question) if reworded else problem.question
                    request = build_reason_request(question, branches=branches)
                    response = client.reason(request, timeout=600)
                    hits += response.cache_hits
                    misses += response.cache_misses
                new_keys = _score_keys(url) - keys_before
                rounds[name] = {"hits": hits, "misses": misses, "new_keys": new_keys}
                _say(f"P4 {name}: {hits} hits, {misses} misses, {new_keys} new keys")
    finally:
        platform.stop()
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--problems", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2, help="unused; kept for old commands")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "bench"))
    from meta import run_meta

    from ponder import env
    from ponder.reasoning.problems import load_problems

    pool = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", args.problems + 1)
    warm_up, problems = pool[0], pool[1:]
    p3_rows = measure_p3(args.config, problems, warm_up)
    p4 = measure_p4(args.config, problems)

    def rate(r: dict[str, int]) -> float:
        return r["hits"] / max(1, r["hits"] + r["misses"])

    total_reason = sum(r["reason_s"] for r in p3_rows)
    total_longest = sum(r["longest_single_s"] for r in p3_rows)
    report = {
        "meta": run_meta(args.config),
        "problems": len(problems),
        "p3_planner_changes": NO_PRUNING,
        "p3_rows": p3_rows,
        "P3_reason_over_longest_single": total_reason / total_longest,
        "P3_range": [min(r["ratio"] for r in p3_rows), max(r["ratio"] for r in p3_rows)],
        "p4_rounds": p4,
        "P4_hit_rate": {name: rate(r) for name, r in p4.items()},
    }
    out = ROOT / "bench" / "results" / "reason.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"cores: {os.cpu_count()}, {len(problems)} dev problems (MAWPS/ASDiv)")
    print(
        f"P3 4-branch Reason / longest single branch (summed wall, no pruning): "
        f"{report['P3_reason_over_longest_single']:.2f} (per problem "
        f"{report['P3_range'][0]:.2f}-{report['P3_range'][1]:.2f}; target <= 1.5)"
    )
    for name, value in report["P4_hit_rate"].items():
        print(f"P4 score-cache hit rate, {name}: {value:.3f} {p4[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
