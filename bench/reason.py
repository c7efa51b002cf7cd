"""Reasoning planner benchmark through the full platform (gRPC -> Serve -> planner -> vLLM).

Run:  .venv/bin/python bench/reason.py [--problems 6]

  P3  wall time of a 4-branch Reason / wall time of its longest branch run alone
      (same problem, a 1-branch Reason per strategy)                     target <= 1.5
  P4  on a repeated set of problems, fraction of path-score lookups served from the
      Redis cache (rounds after the first)                               target >= 0.95
Written to bench/results/reason.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("pot", "cot", "decompose", "direct")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--problems", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config
    from ponder import env
    from ponder.api.client import build_reason_request
    from ponder.reasoning.problems import load_problems

    problems = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", args.problems)
    platform = LocalPlatform(load_serve_config(args.config), log_to_driver=False)
    platform.start(progress=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    try:
        with platform.client() as client:

            def timed(request: object) -> tuple[float, object]:
                started = time.perf_counter()
                response = client.reason(request, timeout=600)  # type: ignore[arg-type]
                return time.perf_counter() - started, response

            timed(build_reason_request(problems[0].question))  # warm-up
            p3_rows = []
            for problem in problems:
                singles = {
                    s: timed(build_reason_request(problem.question, branches=1, strategies=[s]))[0]
                    for s in STRATEGIES
                }
                together, response = timed(build_reason_request(problem.question, branches=4))
                p3_rows.append(
                    {
                        "reason_s": together,
                        "single_s": singles,
                        "longest_single_s": max(singles.values()),
                        "ratio": together / max(singles.values()),
                        "pruned": sum(p.status == 2 for p in response.paths),  # type: ignore[attr-defined]
                    }
                )
                print(
                    f"[bench] P3 problem: 4-branch {together:.2f} s, longest single "
                    f"{max(singles.values()):.2f} s",
                    file=sys.stderr,
                    flush=True,
                )

            rounds = []
            for _ in range(args.rounds):
                hits = misses = 0
                for problem in problems:
                    response = client.reason(build_reason_request(problem.question), timeout=600)
                    hits += response.cache_hits
                    misses += response.cache_misses
                rounds.append({"hits": hits, "misses": misses})
    finally:
        platform.stop()

    total_reason = sum(r["reason_s"] for r in p3_rows)
    total_longest = sum(r["longest_single_s"] for r in p3_rows)
    repeat_hits = sum(r["hits"] for r in rounds[1:])
    repeat_total = sum(r["hits"] + r["misses"] for r in rounds[1:])
    report = {
        "cores": os.cpu_count(),
        "problems": len(problems),
        "p3_rows": p3_rows,
        "P3_reason_over_longest_single": total_reason / total_longest,
        "cache_rounds": rounds,
        "P4_cache_hit_rate_repeated": repeat_hits / max(1, repeat_total),
    }
    out = ROOT / "bench" / "results" / "reason.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"cores: {os.cpu_count()}, {len(problems)} dev problems (MAWPS/ASDiv)")
    print(
        f"P3 4-branch Reason / longest single branch (summed wall): "
        f"{report['P3_reason_over_longest_single']:.2f} (target <= 1.5)"
    )
    print(
        f"P4 score-cache hit rate on repeats: {report['P4_cache_hit_rate_repeated']:.3f} "
        f"(target >= 0.95); rounds: {rounds}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
