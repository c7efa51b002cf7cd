"""Choose Reason's adaptive waves on the train split only: two-fold by parent problem
(a train problem and its perturbed variants in the same half), the verifier (or,
with `--selection ranker`, the answer ranker) fitted on one half of the training
problems' sampled programs (`ponder train verifier` keeps them in
.state/verifier/train.jsonl) and every setting replayed on the other half, then the
halves swapped. The dev split and the robustness set never enter the choice.

Run:  .venv/bin/python bench/tune_waves.py [--selection vote|ranker] [--max-token-ratio 6]

Per setting: accuracy (k/n over both folds) and generated tokens per problem against one
greedy pot branch; the chosen setting is the cheapest of those within the token ratio
whose accuracy is within `--tolerance` (0.5 points) of the best there: differences that
small are noise, tokens are not. Written to bench/results/waves.json (vote) or
bench/results/waves-ranker.json (ranker).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ponder import env  # noqa: E402
from ponder.config import PlannerConfig  # noqa: E402
from ponder.reasoning.answer_features import doubted, read_problem  # noqa: E402
from ponder.reasoning.paths import stable_hash  # noqa: E402
from ponder.reasoning.problems import is_correct  # noqa: E402
from ponder.reasoning.ranker import AnswerRanker  # noqa: E402
from ponder.reasoning.ranker_fit import (  # noqa: E402
    TRAIN_SAMPLE_COUNTS,
    examples_at_counts,
    fit_ranker,
)
from ponder.reasoning.robustness import perturb_problems, read_rows  # noqa: E402
from ponder.reasoning.robustness_makers import source_from_row  # noqa: E402
from ponder.reasoning.verifier import (  # noqa: E402
    SampledProblem,
    fit_verifier,
    load_samples,
    replay,
    sampled_programs,
)
from ponder.stats import proportion  # noqa: E402

SAMPLES = ROOT / ".state" / "verifier" / "train.jsonl"
RESULT = ROOT / "bench" / "results" / "waves.json"
GRID: dict[str, tuple[float, ...]] = {
    "branches": (4, 8),  # the cap a request's default budget sets (train samples hold 8)
    "initial_branches": (2, 3, 4),
    "wave_branches": (2, 4),
    "settle_share": (0.6, 0.75, 0.9),
    "settle_votes": (2, 3),
}


def parents() -> dict[str, str]:
    """Question -> its parent problem's id, for the train split and the perturbed variants
    `ponder train verifier` samples (seed 0), so a problem and its variants share a fold."""
    rows = read_rows(env.data_dir() / "mawps_asdiv_train.jsonl")
    out = {}
    for position, row in enumerate(rows):
        source = source_from_row(row, position)
        if source is not None:
            out[str(row["question"]).strip()] = source.id
    for variant in perturb_problems(rows, seed=0, split="train"):
        out[variant.question.strip()] = variant.parent_id
    return out


def folds(records: list[SampledProblem]) -> list[tuple[list[SampledProblem], list[SampledProblem]]]:
    """Two halves by parent problem (a problem and its variants on one side)."""
    parent = parents()
    halves: tuple[list[SampledProblem], list[SampledProblem]] = ([], [])
    for record in records:
        key = parent.get(record.question.strip(), record.question)
        halves[int(stable_hash(key)[:8], 16) % 2].append(record)
    return [(halves[0], halves[1]), (halves[1], halves[0])]


class RankedWaves:
    """The ranker's waves replayed with each (problem, paths used) ranked once
    (`doubt_yield` as the planner's setting of that name)."""

    def __init__(self, ranker: AnswerRanker, doubt_yield: float = 0.0) -> None:
        self.ranker = ranker
        self.doubt_yield = doubt_yield
        self.memo: dict[tuple[int, int], tuple[bool, int, float, bool]] = {}

    def top(self, record: SampledProblem, used: int) -> tuple[bool, int, float, bool]:
        """(right, votes, probability, doubted) of the first candidate on the first `used`
        paths."""
        key = (id(record), used)
        if key not in self.memo:
            sampled = sampled_programs(record.paths[:used])
            ranked = self.ranker.rank(record.question, sampled, self.doubt_yield)
            if not ranked:
                self.memo[key] = (False, 0, 0.0, False)
            else:
                top, probability = ranked[0]
                self.memo[key] = (
                    is_correct(top.answer, record.answer),
                    top.votes,
                    probability,
                    doubted(read_problem(record.question), top.program),
                )
        return self.memo[key]

    def replay(
        self, record: SampledProblem, branches: int, config: PlannerConfig
    ) -> tuple[bool, int]:
        used = min(config.initial_branches, branches)
        while used < branches:
            _, votes, probability, doubt = self.top(record, used)
            sure = votes >= config.settle_votes and probability >= config.settle_share
            if sure and not (config.doubt_holds_waves and doubt):
                break
            used = min(branches, used + config.wave_branches)
        return self.top(record, used)[0], sum(p.tokens for p in record.paths[:used])


Replayer = Callable[[int, SampledProblem, int, PlannerConfig], tuple[bool, int]]


def grid_rows(
    records: list[SampledProblem],
    halves: list[list[SampledProblem]],
    grid: dict[str, tuple[float, ...]],
    replay_one: Replayer,
) -> list[dict[str, Any]]:
    """Accuracy and token ratio of every wave setting of `grid`, each half of `halves`
    replayed by `replay_one(fold, record, branches, config)` with what the other fitted."""
    greedy_tokens = sum(replay(r, 1, "greedy")[1] for r in records) / len(records)
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        if setting["initial_branches"] > setting["branches"]:
            continue
        config = PlannerConfig(
            initial_branches=int(setting["initial_branches"]),
            wave_branches=int(setting["wave_branches"]),
            settle_share=setting["settle_share"],
            settle_votes=int(setting["settle_votes"]),
            doubt_holds_waves=bool(setting.get("doubt_holds_waves", 0)),
        )
        right = tokens = 0
        for fold, test in enumerate(halves):
            for record in test:
                ok, used = replay_one(fold, record, int(setting["branches"]), config)
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


def greedy_row(records: list[SampledProblem]) -> dict[str, Any]:
    right = sum(replay(r, 1, "greedy")[0] for r in records)
    return {"setting": "greedy pot", **proportion(right, len(records)), "token_ratio": 1.0}


def evaluate(
    records: list[SampledProblem], selection: str, doubt_yield: float = 0.0, doubt: bool = False
) -> list[dict[str, Any]]:
    if selection == "ranker":
        return evaluate_ranker(records, doubt_yield, doubt)
    split = folds(records)
    scorers = [fit_verifier(train, {}, "fold") for train, _ in split]

    def replay_vote(
        fold: int, record: SampledProblem, branches: int, config: PlannerConfig
    ) -> tuple[bool, int]:
        return replay(record, branches, "adaptive", scorers[fold], config)

    return [greedy_row(records), *grid_rows(records, [t for _, t in split], GRID, replay_vote)]


def evaluate_ranker(
    records: list[SampledProblem], doubt_yield: float = 0.0, doubt: bool = False
) -> list[dict[str, Any]]:
    split = folds(records)
    waves = [
        RankedWaves(
            fit_ranker(examples_at_counts(train, True, TRAIN_SAMPLE_COUNTS), True), doubt_yield
        )
        for train, _ in split
    ]
    halves = [test for _, test in split]
    greedy_tokens = sum(replay(r, 1, "greedy")[1] for r in records) / len(records)
    rows = [greedy_row(records)]
    for branches in GRID["branches"]:
        right = sum(
            w.top(r, int(branches))[0] for w, test in zip(waves, halves, strict=True) for r in test
        )
        tokens = sum(sum(p.tokens for p in r.paths[: int(branches)]) for r in records)
        rows.append(
            {
                "setting": {"branches": branches, "waves": "none"},
                **proportion(right, len(records)),
                "token_ratio": round(tokens / len(records) / greedy_tokens, 2),
            }
        )

    def replay_ranked(
        fold: int, record: SampledProblem, branches: int, config: PlannerConfig
    ) -> tuple[bool, int]:
        return waves[fold].replay(record, branches, config)

    grid = GRID | {"settle_share": (0.5, 0.6, 0.75, 0.9, 0.95)}
    if doubt:
        grid["doubt_holds_waves"] = (0, 1)
    return rows + grid_rows(records, halves, grid, replay_ranked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-token-ratio", type=float, default=6.0, dest="max_ratio")
    parser.add_argument("--tolerance", type=float, default=0.005, help="accuracy, absolute")
    parser.add_argument("--selection", choices=("vote", "ranker"), default="ranker")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument(
        "--doubt-yield", type=float, default=0.0, dest="doubt_yield", help="(ranker) as planned"
    )
    parser.add_argument(
        "--doubt", action="store_true", help="(ranker) also try doubt_holds_waves on and off"
    )
    args = parser.parse_args()
    records = [r for r in load_samples(args.samples) if r.paths]
    rows = evaluate(records, args.selection, args.doubt_yield, args.doubt)
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
    out = RESULT if args.selection == "vote" else RESULT.with_name("waves-ranker.json")
    result["selection"] = args.selection
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"greedy": rows[0], "chosen": chosen}, indent=2))
    return 0


if __name__ == "__main__":
    main()
