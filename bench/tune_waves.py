"""Choose Reason's adaptive waves on the train split only: two-fold, the verifier fitted
on one half of the training problems' sampled programs (`ponder train verifier` keeps
them in .state/verifier/train.jsonl) and every setting replayed on the other half, then
the halves swapped. The dev split and the robustness set never enter the choice.

Run:  .venv/bin/python bench/tune_waves.py [--max-token-ratio 6]

Per setting: accuracy (k/n over both folds) and generated tokens per problem against one
greedy pot branch; the chosen setting is the cheapest of those within the token ratio
whose accuracy is within `--tolerance` (0.5 points) of the best there: differences that
small are noise, tokens are not. Written to bench/results/waves.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ponder.config import PlannerConfig  # noqa: E402
from ponder.reasoning.verifier import SampledProblem, fit_verifier, load_samples, replay  # noqa: E402
from ponder.stats import proportion  # noqa: E402

SAMPLES = ROOT / ".state" / "verifier" / "train.jsonl"
RESULT = ROOT / "bench" / "results" / "waves.json"
GRID = {
    "branches": (4, 8),  # the cap a request's default budget sets (train samples hold 8)
    "initial_branches": (2, 3, 4),
    "wave_branches": (2, 4),
    "settle_share": (0.6, 0.75, 0.9),
    "settle_votes": (2, 3),
}


def folds(records: list[SampledProblem]) -> list[tuple[list[SampledProblem], list[SampledProblem]]]:
    first, second = records[0::2], records[1::2]
    return [(first, second), (second, first)]


def evaluate(records: list[SampledProblem]) -> list[dict[str, Any]]:
    fitted = [(fit_verifier(train, {}, "fold"), test) for train, test in folds(records)]
    greedy_tokens = sum(replay(r, 1, "greedy")[1] for r in records) / len(records)
    greedy_right = sum(replay(r, 1, "greedy")[0] for r in records)
    rows = [{"setting": "greedy pot", **proportion(greedy_right, len(records)), "token_ratio": 1.0}]
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        if setting["initial_branches"] > setting["branches"]:
            continue
        config = PlannerConfig(
            initial_branches=setting["initial_branches"],
            wave_branches=setting["wave_branches"],
            settle_share=setting["settle_share"],
            settle_votes=setting["settle_votes"],
        )
        right = tokens = 0
        for scorer, test in fitted:
            for record in test:
                ok, used = replay(record, setting["branches"], "adaptive", scorer, config)
                right += ok
                tokens += used
        rows.append(
            {
                "setting": setting,
                **proportion(right, len(records)),
                "token_ratio": round(tokens / len(records) / greedy_tokens, 2),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-token-ratio", type=float, default=6.0, dest="max_ratio")
    parser.add_argument("--tolerance", type=float, default=0.005, help="accuracy, absolute")
    args = parser.parse_args()
    records = [r for r in load_samples(SAMPLES) if r.paths]
    rows = evaluate(records)
    within = [r for r in rows[1:] if r["token_ratio"] <= args.max_ratio]
    best = max(r["k"] for r in within)
    close = [r for r in within if r["k"] >= best - args.tolerance * len(records)]
    chosen = min(close, key=lambda r: (r["token_ratio"], -r["k"]))
    result = {
        "problems": len(records),
        "max_token_ratio": args.max_ratio,
        "tolerance": args.tolerance,
        "rows": rows,
        "chosen": chosen,
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"greedy": rows[0], "chosen": chosen}, indent=2))
    return 0


if __name__ == "__main__":
    main()
