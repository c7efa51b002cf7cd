"""Reasoning that generalises: Reason against its strongest baselines on problems the
model never trained on -- the dev split, the robustness dev set (each kind of change) and
two-step GSM8K -- with k/n, 95 % intervals and the majority-answer baseline.

Run:  .venv/bin/python bench/robustness.py [--limit N]

Live part: the planner as shipped (config/serve-local.yaml: its model, strategies,
branches, verifier, waves, selection), in this process over one vLLM engine (the same
`ReasoningPlanner` the planner deployment runs), 16 problems at a time, every generated
token counted. Methods on identical problems:
  greedy_pot        one greedy `pot` branch (strategies [pot], 1 branch), answered by its
                    own program (selection 'best': no answer ranker, no program search):
                    the strongest single pass (BENCHMARKS.md: the student's best greedy
                    strategy)
  majority_same     a plain majority vote over the programs Reason itself sampled (its
                    completed paths, unweighted): what the verifier adds over counting
  reason            Reason as shipped (config/serve-local.yaml's selection: the answer
                    ranker over sampled and searched programs, waves settled on its
                    probability; or the verifier's score-weighted vote)
Order alternates by set (greedy first on one set, Reason first on the next).

Replayed part (the accuracy-compute curve): `ponder train verifier` keeps 16 sampled
programs per held-out problem (.state/verifier/); for 1, 4, 8 and 16 branches each
problem is answered from its first k samples by plain majority, by the verifier's
weighted vote, by the answer ranker, and by the adaptive waves (of the vote and of the
ranker) capped at k. Identical samples for
every budget, so the curve shows budget, not sampling luck.

Written to bench/results/robustness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployments.serve_config import load_serve_config  # noqa: E402
from ponder import env  # noqa: E402
from ponder.config import PlannerConfig  # noqa: E402
from ponder.reasoning.cache import NoScoreCache  # noqa: E402
from ponder.reasoning.path_scorer import load_scorer  # noqa: E402
from ponder.reasoning.paths import PathStatus, group_by_answer  # noqa: E402
from ponder.reasoning.plan import Strategy, parse_strategies  # noqa: E402
from ponder.reasoning.problems import Problem, is_correct, load_problems  # noqa: E402
from ponder.reasoning.ranker import DEFAULT_RANKER_PATH, load_ranker  # noqa: E402
from ponder.reasoning.reasoning_planner import ReasoningPlanner  # noqa: E402
from ponder.reasoning.requests import ReasonBudget, ReasonResult  # noqa: E402
from ponder.reasoning.selection import SEARCH_PATH_ID  # noqa: E402
from ponder.reasoning.verifier import load_samples, replay  # noqa: E402
from ponder.stats import proportion  # noqa: E402

RESULT = ROOT / "bench" / "results" / "robustness.json"
ROBUST = ROOT / "bench" / "data" / "robust-dev.jsonl"
GSM8K = ROOT / "bench" / "data" / "gsm8k-two-step-dev.jsonl"
SAMPLES = ROOT / ".state" / "verifier"
CURVE_BRANCHES = (1, 4, 8, 16)


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def problem_sets(limit: int | None) -> dict[str, list[Problem]]:
    """dev, each robustness kind, all robustness variants, two-step GSM8K."""
    mawps = env.data_dir() / "mawps_asdiv_train.jsonl"
    sets = {"dev": load_problems(mawps, "dev", limit)}
    robust = [json.loads(line) for line in ROBUST.read_text().splitlines()]
    sets["robust"] = [Problem(r["question"], float(r["answer"]), r["kind"]) for r in robust]
    sets["robust"] = sets["robust"][:limit] if limit else sets["robust"]
    sets["gsm8k2"] = load_problems(GSM8K, None, limit)
    return sets


def majority_answer(values: list[float]) -> float:
    """The most common answer of the training split: the majority-class baseline."""
    return Counter(round(v, 4) for v in values).most_common(1)[0][0]


def _plain_majority(result: ReasonResult) -> float | None:
    """The most common answer among the paths Reason completed (ties: earliest first)."""
    answers = [
        p.answer
        for p in result.paths
        if p.status is PathStatus.COMPLETED and p.answer is not None and p.spec.id != SEARCH_PATH_ID
    ]
    groups = group_by_answer(answers)
    return answers[max(groups, key=len)[0]] if groups else None


async def run_method(
    planner: ReasoningPlanner, problems: list[Problem], budget: ReasonBudget, concurrency: int
) -> list[ReasonResult | None]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int, problem: Problem) -> ReasonResult | None:
        async with semaphore:
            try:
                return await planner.reason(problem.question, budget, f"bench-{index}")
            except Exception as error:  # counted as wrong, with its tokens lost
                _say(f"problem {index}: {error}")
                return None

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(problems))))


def _report(
    problems: list[Problem], answers: list[float | None], tokens: list[int]
) -> dict[str, Any]:
    right = sum(is_correct(a, p.answer) for a, p in zip(answers, problems, strict=True))
    return proportion(right, len(problems)) | {
        "tokens_per_problem": round(sum(tokens) / max(1, len(problems)), 1)
    }


async def live(config: Path, limit: int | None, concurrency: int) -> dict[str, Any]:
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.reasoning.local_decoder import EngineDecoder

    app = load_serve_config(config).apps["ponder"]
    settings: PlannerConfig = app.planner
    engine_config = app.student.engine_config() if settings.model else app.decoder.engine
    scorer = load_scorer(Path(settings.scorer_path)) if settings.scorer_path else load_scorer()
    train_answers = [
        p.answer for p in load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "train")
    ]
    baseline_answer = majority_answer(train_answers)
    default = ReasonBudget(
        max_branches=settings.default_branches,
        max_tokens=settings.default_max_tokens,
        strategies=parse_strategies(list(settings.default_strategies)),
    )
    greedy = ReasonBudget(max_branches=1, max_tokens=default.max_tokens, strategies=(Strategy.POT,))
    engine = await VLLMEngine.start(engine_config)
    planner = ReasoningPlanner(EngineDecoder(engine), lambda: scorer, NoScoreCache(), settings)
    # one greedy pass answers with its own program: no ranker, no program search
    single = ReasoningPlanner(
        EngineDecoder(engine),
        lambda: scorer,
        NoScoreCache(),
        settings.model_copy(update={"selection": "best"}),
    )
    out: dict[str, Any] = {}
    try:
        for position, (name, problems) in enumerate(problem_sets(limit).items()):
            order = ["greedy_pot", "reason"] if position % 2 == 0 else ["reason", "greedy_pot"]
            runs: dict[str, list[ReasonResult | None]] = {}
            for method in order:
                started = time.monotonic()
                budget, runner = (greedy, single) if method == "greedy_pot" else (default, planner)
                runs[method] = await run_method(runner, problems, budget, concurrency)
                _say(f"{name} {method}: {time.monotonic() - started:.0f} s")
            out[name] = _set_report(problems, runs, baseline_answer)
    finally:
        engine.shutdown()
    return {"model": engine_config.model_path().name, "scorer": scorer.version, "sets": out}


def _set_report(
    problems: list[Problem], runs: dict[str, list[ReasonResult | None]], baseline: float
) -> dict[str, Any]:
    def answers(results: list[ReasonResult | None]) -> list[float | None]:
        return [r.numeric_answer if r else None for r in results]

    def tokens(results: list[ReasonResult | None]) -> list[int]:
        return [r.completion_tokens if r else 0 for r in results]

    reason = runs["reason"]
    report = {
        "problems": len(problems),
        "majority_answer_baseline": proportion(
            sum(is_correct(baseline, p.answer) for p in problems), len(problems)
        )
        | {"answer": baseline},
        "greedy_pot": _report(problems, answers(runs["greedy_pot"]), tokens(runs["greedy_pot"])),
        "majority_same": _report(
            problems, [_plain_majority(r) if r else None for r in reason], tokens(reason)
        ),
        "reason": _report(problems, answers(reason), tokens(reason)),
    }
    kinds = sorted({p.source for p in problems})
    if len(kinds) > 1:
        report["by_kind"] = {
            kind: {
                method: _report(
                    [p for p in problems if p.source == kind],
                    [
                        a
                        for a, p in zip(answers(runs[method]), problems, strict=True)
                        if p.source == kind
                    ],
                    [
                        t
                        for t, p in zip(tokens(runs[method]), problems, strict=True)
                        if p.source == kind
                    ],
                )["k"]
                for method in ("greedy_pot", "reason")
            }
            | {"n": sum(p.source == kind for p in problems)}
            for kind in kinds
        }
    return report


def curve(settings: PlannerConfig) -> dict[str, Any]:
    """The replayed accuracy-compute curve on the kept samples (see the docstring)."""
    scorer = load_scorer()
    ranker = load_ranker(
        Path(settings.ranker_path) if settings.ranker_path else DEFAULT_RANKER_PATH
    )
    out: dict[str, Any] = {}
    for name in ("dev", "robust"):
        path = SAMPLES / f"{name}.jsonl"
        if not path.exists():
            _say(f"no samples at {path}: run `ponder train verifier` first")
            continue
        records = load_samples(path)
        rows = {}
        for k in CURVE_BRANCHES:
            row = {}
            for method in ("majority", "weighted", "adaptive", "ranked", "ranked_adaptive"):
                done = [replay(r, k, method, scorer, settings, ranker) for r in records]
                row[method] = proportion(sum(ok for ok, _ in done), len(records)) | {
                    "tokens_per_problem": round(sum(t for _, t in done) / len(records), 1)
                }
            rows[str(k)] = row
        model = str(scorer.metrics.get("trained_on", "?")).split(":")[0]
        out[name] = {"problems": len(records), "samples_from": model, "branches": rows}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--limit", type=int, default=None, help="problems per set")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument(
        "--no-curve",
        action="store_true",
        dest="no_curve",
        help="skip the replayed curve (its samples come from the shipped model only)",
    )
    args = parser.parse_args()
    settings = load_serve_config(args.config).apps["ponder"].planner
    result = asyncio.run(live(args.config, args.limit, args.concurrency))
    if not args.no_curve:
        result["curve"] = curve(settings)
    result["verifier"] = load_scorer().metrics
    if settings.selection == "ranker":
        ranker_path = Path(settings.ranker_path) if settings.ranker_path else DEFAULT_RANKER_PATH
        ranker = load_ranker(ranker_path)
        result["ranker"] = {"version": ranker.version, **ranker.metrics}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _say(f"wrote {args.out}")
    import os

    os._exit(0)  # the engine's worker processes are gone; skip their atexit hooks


if __name__ == "__main__":
    main()
