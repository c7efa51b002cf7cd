"""The 8-bit decoder against fp32: weight memory, decode speed and accuracy, side by side
in one process on the same engine settings.

Run:  .venv/bin/python bench/int8.py [--model student] [--robust] [--rounds 2]

Three engines of the served Reason model (config/serve-local.yaml's planner.model, the
student; --model base for the 30-layer base model), compiled as served, started one after
the other and then measured in turn: as stored (fp32); in bf16 (one change); and from its
int8 copy (EngineConfig.int8_weights: W8A8, ponder/int8_checkpoint.py), whose kernels take
16-bit activations, so bf16 -> int8 is the second change:
  speed     decode tokens/s, exactly 128 tokens per answer (min_tokens = max_tokens),
            32 streams at once and 4 requests one at a time; rounds in the order
            fp32, bf16, int8, then int8, bf16, fp32, ... (mirrored)
  accuracy  the dev split (278 problems) and with --robust the robustness dev set: one
            greedy `pot` branch answered by its own program (ReasoningPlanner with
            selection 'best', as bench/robustness.py's greedy_pot), k/n with its 95 %
            interval, fp32 and int8 on identical problems; the answers that differ are
            counted
  memory    bytes of the weights each engine holds (int8 tensors 1 byte, float ones at the
            engine's dtype)
Writes bench/results/int8.json, stamped with the commit, time, machine and config.
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from decoder import prompts  # noqa: E402
from meta import run_meta  # noqa: E402

from deployments.serve_config import load_serve_config  # noqa: E402
from ponder import env  # noqa: E402
from ponder.config import EngineConfig  # noqa: E402
from ponder.cpu_features import has_int8_dot  # noqa: E402
from ponder.generation import ChatMessage, GenerationRequest, Role, SamplingOptions  # noqa: E402
from ponder.stats import proportion  # noqa: E402

TOKENS = 128
ROBUST = ROOT / "bench" / "data" / "robust-dev.jsonl"


def loaded_bytes(config: EngineConfig) -> int:
    """Bytes of the weights an engine holds: int8 tensors at 1 byte, every float tensor at
    the engine's dtype (the tied output head shares the embedding table)."""
    from safetensors import safe_open

    float_bytes = 4 if config.dtype == "float32" else 2
    total = 0
    for path in sorted(config.model_path().glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                piece = handle.get_slice(key)
                count = 1
                for size in piece.get_shape():
                    count *= size
                total += count * (1 if piece.get_dtype() in ("I8", "U8") else float_bytes)
    return total


async def _stream(engine: Any, prompt: str, tag: str) -> int:
    request = GenerationRequest(
        request_id=f"{tag}-{time.perf_counter_ns()}",
        messages=(ChatMessage(Role.USER, prompt),),
        sampling=SamplingOptions(temperature=0.0, max_tokens=TOKENS, min_tokens=TOKENS),
    )
    tokens = 0
    async for chunk in engine.generate(request):
        tokens = chunk.completion_tokens
    return tokens


async def speed(engine: Any, tag: str) -> dict[str, float]:
    texts = prompts()
    started = time.perf_counter()
    together = await asyncio.gather(*(_stream(engine, p, tag) for p in texts[:32]))
    c32 = sum(together) / (time.perf_counter() - started)
    started, alone = time.perf_counter(), 0
    for prompt in texts[:4]:
        alone += await _stream(engine, prompt, tag)
    return {"c32_tok_per_s": c32, "c1_tok_per_s": alone / (time.perf_counter() - started)}


async def accuracy(engine: Any, problems: list[Any], settings: Any) -> list[float | None]:
    from ponder.reasoning.cache import NoScoreCache
    from ponder.reasoning.local_decoder import EngineDecoder
    from ponder.reasoning.path_scorer import load_scorer
    from ponder.reasoning.plan import Strategy
    from ponder.reasoning.reasoning_planner import ReasoningPlanner
    from ponder.reasoning.requests import ReasonBudget

    scorer = load_scorer(Path(settings.scorer_path)) if settings.scorer_path else load_scorer()
    planner = ReasoningPlanner(
        EngineDecoder(engine),
        lambda: scorer,
        NoScoreCache(),
        settings.model_copy(update={"selection": "best"}),
    )
    budget = ReasonBudget(
        max_branches=1, max_tokens=settings.default_max_tokens, strategies=(Strategy.POT,)
    )
    gate = asyncio.Semaphore(16)

    async def one(index: int, question: str) -> float | None:
        async with gate:
            try:
                result = await planner.reason(question, budget, f"int8-{index}")
            except Exception:  # counted wrong
                return None
            return result.numeric_answer

    return list(await asyncio.gather(*(one(i, p.question) for i, p in enumerate(problems))))


def _train_majority_answer() -> float:
    """The train split's most common answer (the majority-class baseline's guess)."""
    from collections import Counter

    from ponder.reasoning.problems import load_problems

    answers = load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "train")
    return Counter(p.answer for p in answers).most_common(1)[0][0]


def _problem_sets(robust: bool) -> dict[str, list[Any]]:
    from ponder.reasoning.problems import load_problems

    sets = {"dev": load_problems(env.data_dir() / "mawps_asdiv_train.jsonl", "dev")}
    if robust:
        sets["robust"] = load_problems(ROBUST)
    return sets


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.reasoning.problems import is_correct

    app = load_serve_config(ROOT / "config" / "serve-local.yaml").apps["ponder"]
    settings = app.planner
    if args.model == "student":
        engine_config: EngineConfig = app.student.engine_config()
    else:
        engine_config = app.decoder.engine.model_copy(update={"lora_adapters": {}})
    # int8 weights run with 16-bit activations (vLLM's CPU int8 kernels), so bf16 alone is
    # measured too: fp32 -> bf16 is one change, bf16 -> int8 weights the other
    variants = {
        "fp32": engine_config.model_copy(update={"int8_weights": False, "dtype": "float32"}),
        "bf16": engine_config.model_copy(update={"int8_weights": False, "dtype": "bfloat16"}),
        "int8": engine_config.model_copy(update={"int8_weights": True, "dtype": "bfloat16"}),
    }
    engines = {name: await VLLMEngine.start(config) for name, config in variants.items()}
    try:
        rounds: list[dict[str, Any]] = []
        for index in range(args.rounds):
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            rounds.append({name: await speed(engines[name], name) for name in order})
        sets: dict[str, Any] = {}
        majority = _train_majority_answer()
        for name, problems in _problem_sets(args.robust).items():
            answers = {v: await accuracy(engines[v], problems, settings) for v in variants}
            right = {
                v: [is_correct(a, p.answer) for a, p in zip(answers[v], problems, strict=True)]
                for v in variants
            }
            sets[name] = {v: proportion(sum(right[v]), len(problems)) for v in variants} | {
                "int8_over_fp32": sum(right["int8"]) / max(1, sum(right["fp32"])),
                "bf16_over_fp32": sum(right["bf16"]) / max(1, sum(right["fp32"])),
                "int8_answers_differ_from_fp32": sum(
                    a != b for a, b in zip(answers["int8"], answers["fp32"], strict=True)
                ),
                "majority_answer_baseline": proportion(
                    sum(is_correct(majority, p.answer) for p in problems), len(problems)
                ),
            }
    finally:
        for engine in engines.values():
            engine.shutdown()
    ratios = {
        f"{v}_{key}": statistics.median(r[v][key] / r["fp32"][key] for r in rounds)
        for v in ("bf16", "int8")
        for key in ("c32_tok_per_s", "c1_tok_per_s")
    }
    memory = {name: loaded_bytes(config) for name, config in variants.items()}
    return {
        "model": engine_config.source_model_path().name,
        "tokens_per_answer": TOKENS,
        "speed_rounds": rounds,
        "speed_over_fp32": ratios,
        "weight_bytes": memory,
        "weight_bytes_over_fp32": {v: memory[v] / memory["fp32"] for v in variants},
        "accuracy": sets,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["student", "base"], default="student")
    parser.add_argument("--robust", action="store_true", help="also the robustness dev set")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--out",
        default=None,
        help="result file under bench/results/; by default one per kind of CPU: int8.json "
        "where it multiplies int8 in hardware (AMX/VNNI), int8-avx2.json where it does not",
    )
    args = parser.parse_args()
    result = {"meta": run_meta(ROOT / "config" / "serve-local.yaml")}
    result |= asyncio.run(main_async(args))
    result["command"] = "python bench/int8.py" + (" --robust" if args.robust else "")
    out = args.out or ("int8.json" if has_int8_dot() else "int8-avx2.json")
    (ROOT / "bench" / "results" / out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("speed_over_fp32", "accuracy")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
