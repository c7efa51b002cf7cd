"""Student vs teacher speed through the platform: decode tokens/s at 1 and 32 streams and
time to first token, side by side in one run.

Run:  .venv/bin/python bench/student.py [--rounds 3]

One platform (config/serve-local.yaml, the student enabled) serves three targets, all
by StreamGenerate with the same prompts, greedy, exactly 128 tokens per answer
(min_tokens = max_tokens = 128: a model that would end early keeps decoding, so every
target does the same work per request and tok/s measures decode speed):
  teacher   model "" + the adapter the student was distilled from (its student.json): the
            domain teacher (base model + LoRA applied at run time)
  base      model "base", no adapter: the same 30 layers without LoRA, i.e. what a
            merged teacher would cost
  student   model <student.name>: the distilled student on its own decoder replicas
Each round measures every target at 32 concurrent streams and then 4 requests one at a
time; the order of the targets rotates from round to round, so no target always runs
first. Written to bench/results/student.json (student-avx2.json: below); ratios are
student / teacher and student / base per round (median and range).

With --accuracy-limit N (after the speed rounds, on the same platform): `ponder eval`'s
harness on the first N dev problems -- greedy (number only), greedy chain of thought,
self-consistency (4 chain-of-thought samples fanned out at once: Reason's 1 024-token budget
and parallelism) and Reason, for the student (`model` = the student) and then for the
teacher (`adapter` = the student's teacher adapter) on the same problems, 16 problems at a
time for every method -- and on the first --base-limit of them Reason on the base model
(`adapter` base); written to bench/results/student_accuracy.json with student / teacher
accuracy ratios per method and Reason against the other methods of the same target.

With --served-limit N (after the speed rounds; with or without --accuracy-limit): Reason
as served (the planner's defaults: branches in waves, the ranker choosing) for the
student and the teacher on the first N dev problems and the first N of the robustness
dev set (bench/data/robust-dev.jsonl), each problem's outcome kept for the paired
comparison; written to bench/results/student_served.json (-avx2: below).

The student is served as the config says (config/serve-local.yaml: `int8_weights: auto`,
so its int8 copy where the CPU multiplies int8 in hardware; the result says which). So the
speed and served results are kept per kind of CPU, as int8.py's: student.json and
student_served.json where the CPU multiplies int8 in hardware (AMX/VNNI),
student-avx2.json and student_served-avx2.json where it does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from decoder import MAX_TOKENS, prompts, summarise, timed_stream  # noqa: E402

SEQUENTIAL = 4
ROBUST_DEV = ROOT / "bench" / "data" / "robust-dev.jsonl"
METHODS = ["greedy", "cot", "self-consistency", "reason"]


def _result_path(stem: str) -> Path:
    """bench/results/<stem>.json on a CPU that multiplies int8, <stem>-avx2.json elsewhere."""
    from ponder.cpu_features import has_int8_dot

    suffix = "" if has_int8_dot() else "-avx2"
    return ROOT / "bench" / "results" / f"{stem}{suffix}.json"


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def _target_load(stub: Any, model: str, adapter: str) -> dict[str, Any]:

    async def one(prompt: str) -> dict[str, float]:
        return await timed_stream(stub, prompt, model, adapter, min_tokens=MAX_TOKENS)

    async def run(batch: list[str]) -> dict[str, Any]:
        start = time.perf_counter()
        records = await asyncio.gather(*(one(p) for p in batch))
        return summarise(list(records), time.perf_counter() - start)

    c32 = await run(prompts())
    start, records = time.perf_counter(), []
    for prompt in prompts()[:SEQUENTIAL]:
        records.append(await one(prompt))
    return {"c32": c32, "c1": summarise(records, time.perf_counter() - start)}


async def _rounds(target: str, targets: dict[str, tuple[str, str]], rounds: int) -> list[Any]:
    import grpc

    from ponder.v1 import ponder_pb2_grpc as pb_grpc

    names = list(targets)
    results = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.PonderServiceStub(channel)
        for name in names:  # warm-up: compile and caches, not measured
            await _target_load(stub, *targets[name])
        for index in range(rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            measured = {}
            for name in order:
                measured[name] = await _target_load(stub, *targets[name])
                _say(
                    f"round {index + 1} {name}: c32 {measured[name]['c32']['tok_per_s']:.1f} "
                    f"tok/s, c1 {measured[name]['c1']['tok_per_s']:.1f} tok/s, "
                    f"ttft c1 {measured[name]['c1']['ttft_p50_s'] * 1000:.0f} ms"
                )
            results.append({"order": order, "targets": measured})
    return results


def _ratio_table(rounds: list[Any], over: str) -> dict[str, Any]:
    out = {}
    for load in ("c32", "c1"):
        for measure in ("tok_per_s", "ttft_p50_s"):
            values = [
                r["targets"]["student"][load][measure] / r["targets"][over][load][measure]
                for r in rounds
            ]
            out[f"{load}.{measure}"] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "serve-local.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--accuracy-limit", type=int, default=0, dest="accuracy_limit")
    parser.add_argument("--base-limit", type=int, default=0, dest="base_limit")
    parser.add_argument(
        "--served-limit",
        type=int,
        default=0,
        dest="served_limit",
        help="Reason as served (the planner's defaults) for the student and the "
        "teacher on the first N dev problems and N robustness-dev problems",
    )
    args = parser.parse_args()

    from meta import run_meta

    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config
    from ponder.student_build import StudentManifest, student_dir

    config = load_serve_config(args.config)
    ponder = config.apps["ponder"]
    if not ponder.student.enabled:
        _say("the config serves no student (student.enabled)")
        return 2
    # The teacher is what the student was distilled from (its manifest says which adapter),
    # whatever Reason defaults to.
    teacher_adapter = StudentManifest.read(student_dir(ponder.student.name)).teacher_adapter
    targets = {
        "teacher": ("", teacher_adapter),
        "base": ("base", ""),
        "student": (ponder.student.name, ""),
    }
    platform = LocalPlatform(config, log_to_driver=False)
    platform.start(progress=_say)
    try:
        if args.rounds:  # --rounds 0: no speed rounds (the accuracy or served runs alone)
            rounds = asyncio.run(_rounds(platform.target, targets, args.rounds))
            _write_speed(
                targets,
                rounds,
                run_meta(args.config),
                ponder.student.engine_config().for_this_machine(),
            )
        if args.accuracy_limit:
            accuracy = _accuracy(
                platform.target,
                ponder.student.name,
                teacher_adapter,
                args.accuracy_limit,
                args.base_limit,
            )
            accuracy["meta"] = run_meta(args.config)
            out = ROOT / "bench" / "results" / "student_accuracy.json"
            out.write_text(json.dumps(accuracy, indent=2) + "\n")
            _say(f"wrote {out}")
        if args.served_limit:
            served = _served_reason(
                platform.target, ponder.student.name, teacher_adapter, args.served_limit
            )
            served["meta"] = run_meta(args.config)
            out = _result_path("student_served")
            out.write_text(json.dumps(served, indent=2) + "\n")
            _say(f"wrote {out}")
    finally:
        platform.stop()
    return 0


def _write_speed(
    targets: dict[str, tuple[str, str]],
    rounds: list[Any],
    meta: dict[str, Any],
    student_engine: Any,
) -> None:
    result = {
        "meta": meta,
        "student_weights": "int8 (W8A8), bf16 activations"
        if student_engine.int8_weights
        else student_engine.dtype,
        "targets": {
            k: {"model": m or "(main)", "adapter": a or "none"} for k, (m, a) in targets.items()
        },
        "max_tokens": MAX_TOKENS,
        "min_tokens": MAX_TOKENS,
        "rounds": rounds,
        "student_over_teacher": _ratio_table(rounds, "teacher"),
        "student_over_base": _ratio_table(rounds, "base"),
    }
    out = _result_path("student")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps({k: result[k] for k in ("student_over_teacher", "student_over_base")}, indent=2)
    )
    _say(f"wrote {out}")


def _accuracy(
    target: str, student: str, teacher_adapter: str, limit: int, base_limit: int
) -> dict[str, Any]:
    from ponder import env
    from ponder.api.client import PonderClient
    from ponder.evaluation.compare_methods import evaluate, format_table
    from ponder.reasoning.problems import load_problems

    problems = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", limit)
    runs: dict[str, Any] = {}
    with PonderClient(target) as client:
        for label, methods, adapter, model, count in (
            ("student", METHODS, "", student, limit),
            ("teacher", METHODS, teacher_adapter, "", limit),
            ("base", ["reason"], "base", "", base_limit),
        ):
            if not count:
                continue
            chosen = problems[:count]
            _say(f"accuracy: {label}, {', '.join(methods)} on {len(chosen)} dev problems")
            result = evaluate(client, chosen, methods, 16, 1024, 4, _say, adapter, model)
            print(format_table(result), file=sys.stderr, flush=True)
            runs[label] = {k: v for k, v in result.items() if k != "outcomes"}
    if "student" in runs and "teacher" in runs:
        teacher = {r["method"]: r for r in runs["teacher"]["reports"]}
        runs["student_over_teacher"] = {
            r["method"]: r["correct"] / teacher[r["method"]]["correct"]
            for r in runs["student"]["reports"]
            if teacher[r["method"]]["correct"]
        }
    for label in ("student", "teacher"):
        if label in runs:
            runs[label]["reason_against"] = _reason_against(runs[label]["reports"])
    return runs


def _served_reason(target: str, student: str, teacher_adapter: str, limit: int) -> dict[str, Any]:
    """Reason with the planner's defaults (branches in waves, the ranker choosing) for the
    student and the teacher on the same dev and robustness-dev problems."""
    from ponder import env
    from ponder.api.client import PonderClient
    from ponder.evaluation.compare_methods import evaluate
    from ponder.reasoning.problems import load_problems

    sets = {
        "dev": load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev", limit),
        "robust-dev": load_problems(ROBUST_DEV)[:limit],
    }
    served: dict[str, Any] = {"sets": {}}
    with PonderClient(target) as client:
        for name, problems in sets.items():
            rows: dict[str, Any] = {}
            for label, adapter, model in (
                ("student", "", student),
                ("teacher", teacher_adapter, ""),
            ):
                _say(f"served Reason: {label} on {len(problems)} {name} problems")
                result: Any = evaluate(
                    client, problems, ["reason"], 16, 1024, None, _say, adapter, model
                )
                rows[label] = result["reports"][0]
                rows[label]["outcomes"] = [o["correct"] for o in result["outcomes"]["reason"]]
            rows["student_over_teacher"] = rows["student"]["correct"] / max(
                1, rows["teacher"]["correct"]
            )
            served["sets"][name] = rows
    return served


def _reason_against(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Reason's accuracy and tokens over each other method's, on the same problems."""
    by_method = {r["method"]: r for r in reports}
    reason = by_method["reason"]
    return {
        method: {
            "accuracy": reason["correct"] / r["correct"] if r["correct"] else None,
            "tokens": reason["tokens_per_problem"] / r["tokens_per_problem"]
            if r["tokens_per_problem"]
            else None,
        }
        for method, r in by_method.items()
        if method != "reason"
    }


if __name__ == "__main__":
    sys.exit(main())
