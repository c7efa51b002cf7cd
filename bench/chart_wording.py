"""How Analyze states the values it read when it hands a chart question to Reason.

Run:  .venv/bin/python -m bench.chart_wording [--problems 24] [--seed 77]

Difference questions about rendered bar charts ("How much higher is the Mar bar than the
Jun bar?", dev split, never trained on), with the two values as the chart's data has
them, so only the wording is measured and not the reader. Each problem goes to Reason
(the shipped config: `config/serve-local.yaml`, its planner and student) in two
wordings, their order alternating from problem to problem:

  value-of  "The value of Mar is 75. The value of Jun is 55. <question>"  (before)
  as-named  "The Mar bar is 75. The Jun bar is 55. <question>"  (`stated_values`, now)

Right = Reason's answer equals the difference. Written to bench/results/chart_wording.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORDINGS = ("value-of", "as-named")


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _problems(count: int, seed: int) -> list[tuple[str, tuple[tuple[str, int], ...], str]]:
    """(question, the two values in the question's order, answer) per difference task."""
    from ponder.multimodal.chart_tasks import make_tasks

    out = []
    for task in make_tasks(count * 12, "dev", seed=seed, balanced=True, kinds=("bar",)):
        if task.question_type != "difference":
            continue
        named = sorted(
            (task.question.index(f" {label} bar"), label)
            for label in task.labels
            if f" {label} bar" in task.question
        )
        used = tuple((label, task.values[task.labels.index(label)]) for _, label in named)
        out.append((task.question, used, task.answer))
    return out[:count]


def _problem(wording: str, question: str, used: tuple[tuple[str, int], ...]) -> str:
    from ponder.multimodal.chart_questions import stated_values

    if wording == "value-of":
        return f"{stated_values(used)} {question}"
    return f"{stated_values(used, 'bar')} {question}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", type=int, default=24)
    parser.add_argument("--seed", type=int, default=77)
    args = parser.parse_args()

    from bench.meta import run_meta
    from deployments.runner import LocalPlatform
    from deployments.serve_config import load_serve_config
    from ponder.stats import proportion
    from ponder.v1 import ponder_pb2 as pb

    config_path = ROOT / "config" / "serve-local.yaml"
    platform = LocalPlatform(
        load_serve_config(config_path),
        log_to_driver=False,
        redis_data_dir=Path(tempfile.mkdtemp()),
    )
    problems = _problems(args.problems, args.seed)
    right = dict.fromkeys(WORDINGS, 0)
    rows: list[dict[str, Any]] = []
    platform.start(progress=_say)
    try:
        with platform.client() as client:
            for i, (question, used, answer) in enumerate(problems):
                order = WORDINGS if i % 2 == 0 else WORDINGS[::-1]
                for wording in order:
                    problem = _problem(wording, question, used)
                    reply = client.reason(pb.ReasonRequest(problem=problem))
                    ok = reply.HasField("numeric_answer") and reply.numeric_answer == float(answer)
                    right[wording] += ok
                    rows.append({"wording": wording, "problem": problem, "answer": reply.answer})
                    _say(f"{wording} {'right' if ok else 'wrong'}: {problem} -> {reply.answer}")
    finally:
        platform.stop()
    result = {
        "meta": run_meta(config_path),
        "problems": len(problems),
        "seed": args.seed,
        "split": "dev",
        "right": {w: proportion(right[w], len(problems)) for w in WORDINGS},
        "replies": rows,
    }
    out = ROOT / "bench" / "results" / "chart_wording.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["right"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
