"""`ponder train verifier`: sample the Reason model's own programs on training problems
(the train split and its perturbed variants), label them by execution, fit the path
verifier and the answer ranker, and measure both on held-out sets they never saw (the dev
split, the robustness dev set, two-step GSM8K). The samples are kept, so
`bench/robustness.py` and `bench/tune_waves.py` replay every budget and aggregation on
them without sampling again.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
from pathlib import Path

from ponder import env
from ponder.cli.common import DEFAULT_SERVE_CONFIG, say
from ponder.reasoning.problems import Problem, load_problems

SAMPLES_DIR = env.REPO_ROOT / ".state" / "verifier"
ROBUST_DEV = env.REPO_ROOT / "bench" / "data" / "robust-dev.jsonl"
GSM8K_TWO_STEP = env.REPO_ROOT / "bench" / "data" / "gsm8k-two-step-dev.jsonl"


def _problem_sets(args: argparse.Namespace) -> dict[str, list[Problem]]:
    from ponder.reasoning.robustness import perturb_problems, read_rows

    mawps = env.data_dir() / "mawps_asdiv_train.jsonl"
    draw = random.Random(args.seed)
    train = load_problems(mawps, "train")
    draw.shuffle(train)
    variants = perturb_problems(read_rows(mawps), seed=args.seed, split="train")
    augmented = [Problem(v.question, v.answer, f"train-{v.kind}") for v in variants]
    draw.shuffle(augmented)
    train, augmented = train[: args.train_limit], augmented[: args.augmented_limit]
    sets: dict[str, list[Problem]] = {"train": [*train, *augmented]}
    sets["dev"] = list(load_problems(mawps, "dev", args.dev_limit))
    for name, path in (("robust", ROBUST_DEV), ("gsm8k2", GSM8K_TWO_STEP)):
        if path.exists():
            sets[name] = list(load_problems(path, None, args.dev_limit))
    return sets


def cmd_train_verifier(args: argparse.Namespace) -> int:
    from deployments.serve_config import load_serve_config
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.reasoning.local_decoder import EngineDecoder
    from ponder.reasoning.plan import parse_strategies
    from ponder.reasoning.ranker_fit import (
        examples_at_counts,
        fit_answer_ranker,
        save_rehearsal,
    )
    from ponder.reasoning.requests import ReasonBudget
    from ponder.reasoning.verifier import fit_verifier, load_samples, sample_paths, save_samples

    logging.basicConfig(level=logging.WARNING)
    app = load_serve_config(Path(args.config)).apps["ponder"]
    engine_config = app.student.engine_config() if app.student.enabled else app.decoder.engine
    if args.eager:
        engine_config = engine_config.model_copy(update={"enforce_eager": True})
    settings = app.planner
    strategies = parse_strategies(args.strategies.split(","))
    budgets = {
        name: ReasonBudget(
            max_branches=args.train_branches if name == "train" else args.branches,
            max_tokens=args.max_tokens,
            strategies=strategies,
        )
        for name in ("train", "held_out")
    }
    sets = _problem_sets(args)
    say(", ".join(f"{name}: {len(problems)} problems" for name, problems in sets.items()))
    folder = Path(args.samples)

    async def sample() -> None:
        wanted = [n for n in sets if args.resample or not (folder / f"{n}.jsonl").exists()]
        if not wanted:
            return
        say(f"starting the vLLM engine ({engine_config.model_path().name})")
        engine = await VLLMEngine.start(engine_config)
        try:
            for name in wanted:
                budget = budgets["train" if name == "train" else "held_out"]
                say(f"sampling {budget.max_branches} paths per problem on {name}")
                records = await sample_paths(
                    EngineDecoder(engine), sets[name], settings, budget, args.concurrency, say
                )
                save_samples(records, folder / f"{name}.jsonl")
        finally:
            engine.shutdown()

    asyncio.run(sample())
    samples = {name: load_samples(folder / f"{name}.jsonl") for name in sets}
    held_out = {name: records for name, records in samples.items() if name != "train"}
    note = (
        f"{engine_config.model_path().name}: {args.train_branches} sampled {args.strategies} "
        f"paths per problem on {len(samples['train'])} train-split problems and perturbed "
        f"variants ({args.branches} per held-out problem)"
    )
    scorer = fit_verifier(samples["train"], held_out, note)
    scorer.save(Path(args.out))
    say(f"wrote verifier {scorer.version} to {args.out}")
    print(json.dumps(scorer.metrics, indent=2))
    counts = [min(int(c), args.train_branches) for c in args.ranker_counts.split(",")]
    ranker = fit_answer_ranker(samples["train"], held_out, args.search, note, counts)
    if args.search:  # the same fit without search's candidates: what search adds
        plain = fit_answer_ranker(samples["train"], held_out, False, note, counts)
        metrics = ranker.metrics | {"without_search": plain.metrics}
        ranker = dataclasses.replace(ranker, metrics=metrics)
    ranker.save(Path(args.ranker_out))
    say(f"wrote answer ranker {ranker.version} to {args.ranker_out}")
    # What the ranker was fitted on, kept for the learner's refits from outcomes.
    save_rehearsal(
        examples_at_counts(samples["train"], args.search, counts), Path(args.rehearsal_out)
    )
    say(f"wrote its rehearsal set to {args.rehearsal_out}")
    print(json.dumps(ranker.metrics, indent=2))
    return 0


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "verifier", help="fit the path verifier on the model's own sampled programs"
    )
    parser.add_argument("--config", default=str(DEFAULT_SERVE_CONFIG), help="engine, planner")
    parser.add_argument("--strategies", default="pot", help="comma-separated strategies")
    parser.add_argument(
        "--branches", type=int, default=16, help="sampled paths per held-out problem"
    )
    parser.add_argument(
        "--train-branches", type=int, default=8, dest="train_branches", help="per train problem"
    )
    parser.add_argument(
        "--ranker-counts",
        default="3,8",
        dest="ranker_counts",
        help="comma-separated sample counts the answer ranker is fitted at (a problem's "
        "first k programs, once per k): the counts Reason's waves rank",
    )
    parser.add_argument("--max-tokens", type=int, default=2048, dest="max_tokens")
    parser.add_argument("--train-limit", type=int, default=None, dest="train_limit")
    parser.add_argument("--augmented-limit", type=int, default=None, dest="augmented_limit")
    parser.add_argument("--dev-limit", type=int, default=None, dest="dev_limit")
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbations")
    parser.add_argument("--concurrency", type=int, default=16, help="problems at once")
    parser.add_argument("--eager", action="store_true", help="skip torch.compile")
    parser.add_argument("--samples", default=str(SAMPLES_DIR), help="where samples are kept")
    parser.add_argument("--resample", action="store_true", help="sample again")
    parser.add_argument(
        "--out", default=str(env.REPO_ROOT / "platform/ponder/reasoning/scorer_default.json")
    )
    parser.add_argument(
        "--ranker-out",
        dest="ranker_out",
        default=str(env.REPO_ROOT / "platform/ponder/reasoning/ranker_default.json"),
        help="where the answer ranker is written",
    )
    parser.add_argument(
        "--rehearsal-out",
        dest="rehearsal_out",
        default=str(env.REPO_ROOT / "platform/ponder/reasoning/ranker_rehearsal.npz"),
        help="where the ranker's training rows are written (the learner refits on them)",
    )
    parser.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fit the answer ranker with program search's candidates (--no-search: only "
        "the sampled answers)",
    )
    parser.set_defaults(func=cmd_train_verifier)
