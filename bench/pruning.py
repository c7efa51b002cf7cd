"""Choose the planner's pruning rule on the train split, so the dev split only reports.

Run:  .venv/bin/python bench/pruning.py [--problems 96] [--rules none,0.1,0.2,0.4]
                                          [--report-limit 278] [--report-only]

One platform start per rule (config/serve-local.yaml with only the planner's pruning
changed, a fresh Redis each, so no score cache is shared), Reason on the same first N
problems of the *train* split of MAWPS/ASDiv (4 branches, 1 024 tokens, the planner's
default adapter), 16 problems at a time:
  none   no pruning and no early stop
  F      prune a running branch below max(prune_below, F x best completed path's score),
         early stop as configured
The chosen rule is the most accurate; a tie goes to the one that generates fewer tokens.
config/serve-local.yaml should carry the chosen fraction. Then, in one more start, the
chosen rule alone is measured on the first --report-limit problems of the *dev* split:
the figure reported (0 skips it; --report-only takes the choice from the existing
result and only measures this). Written to bench/results/pruning.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from reason import NO_PRUNING, _platform, _say  # noqa: E402

CONCURRENCY = 16
BRANCHES = 4
MAX_TOKENS = 1024


def rule_changes(rule: str) -> dict[str, Any]:
    """The planner fields a rule sets ('none' or a fraction such as '0.2')."""
    if rule == "none":
        return dict(NO_PRUNING)
    return {"prune_below_best_fraction": float(rule)}


def measure(config: Path, rule: str, problems: list[Any]) -> dict[str, Any]:
    from ponder.evaluation.compare_methods import evaluate

    platform = _platform(config, rule_changes(rule))
    try:
        with platform.client() as client:
            result = evaluate(client, problems, ["reason"], CONCURRENCY, MAX_TOKENS, BRANCHES, _say)
    finally:
        platform.stop()
    (report,) = result["reports"]  # type: ignore[misc]
    return {"rule": rule, "changes": rule_changes(rule), **report}


def choose(rows: list[dict[str, Any]]) -> str:
    """The most accurate rule; among equals, the cheapest in tokens."""
    best = min(rows, key=lambda r: (-r["correct"], r["tokens_per_problem"]))
    return str(best["rule"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--problems", type=int, default=96)
    parser.add_argument("--rules", default="none,0.1,0.2,0.4")
    parser.add_argument("--report-limit", type=int, default=278, dest="report_limit")
    parser.add_argument("--report-only", action="store_true", dest="report_only")
    args = parser.parse_args()

    from meta import run_meta

    from ponder import env
    from ponder.reasoning.problems import load_problems

    data = env.data_dir() / "mawps_asdiv_train.jsonl"
    out = ROOT / "bench" / "results" / "pruning.json"
    if args.report_only:
        result = json.loads(out.read_text())
    else:
        problems = load_problems(data, "train", args.problems)
        rows = []
        for rule in args.rules.split(","):
            _say(f"rule {rule}: Reason on {len(problems)} train-split problems")
            rows.append(measure(args.config, rule, problems))
            _say(f"rule {rule}: {rows[-1]['correct']}/{rows[-1]['problems']} correct")
        result = {
            "meta": run_meta(args.config),
            "split": "train",
            "problems": len(problems),
            "branches": BRANCHES,
            "max_tokens": MAX_TOKENS,
            "rows": rows,
            "chosen": choose(rows),
        }
        out.write_text(json.dumps(result, indent=2) + "\n")
        _say(f"chosen rule {result['chosen']}; wrote {out}")
    if args.report_limit:
        dev = load_problems(data, "dev", args.report_limit)
        _say(f"rule {result['chosen']}: Reason on {len(dev)} dev-split problems (reported)")
        result["reported"] = {
            "split": "dev",
            "meta": run_meta(args.config),
            **measure(args.config, result["chosen"], dev),
        }
        out.write_text(json.dumps(result, indent=2) + "\n")
        _say(f"reported on dev: {result['reported']['correct']}/{len(dev)}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
