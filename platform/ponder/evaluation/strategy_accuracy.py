"""Dev-split accuracy per planner strategy: the base model and an adapter, or a student.

Runs the planner's single greedy branch of every strategy (no pruning, no early stop)
on an in-process vLLM engine that serves the adapter by name, so base and adapter are
measured in one engine, on the same problems, with the same prompts the platform uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ponder.config import EngineConfig
from ponder.evaluation.path_records import ProblemRecord
from ponder.reasoning.problems import Problem
from ponder.reasoning.requests import ReasonBudget
from ponder.stats import proportion

STRATEGY_BUDGET = ReasonBudget(max_branches=4, max_tokens=4096)


def strategy_counts(records: list[ProblemRecord]) -> dict[str, dict[str, Any]]:
    """k/n per greedy strategy, plus 'any strategy right' (the oracle)."""
    n = len(records)
    right: dict[str, int] = {}
    oracle = 0
    for record in records:
        oracle += int(any(record.correct.values()))
        for path_id, strategy in record.strategy.items():
            if record.greedy.get(path_id):
                right[strategy] = right.get(strategy, 0) + int(record.correct[path_id])
    out = {strategy: proportion(k, n) for strategy, k in sorted(right.items())}
    out["any_strategy"] = proportion(oracle, n)
    return out


async def evaluate_adapter(
    engine_config: EngineConfig,
    adapter_name: str,
    adapter_dir: Path,
    problems: list[Problem],
    concurrency: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """{'base': {...}, 'adapter': {...}} of strategy_counts on `problems`; adapter_dir must
    be absolute (vLLM's engine processes resolve it on their own)."""
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.evaluation.path_records import collect
    from ponder.reasoning.local_decoder import EngineDecoder

    config = engine_config.model_copy(
        update={"lora_adapters": {adapter_name: str(adapter_dir)}, "max_loras": 1}
    )
    say(f"starting a vLLM engine serving the base model and {adapter_name}")
    engine = await VLLMEngine.start(config)
    try:
        decoder = EngineDecoder(engine)
        results = {}
        for label, adapter in (("base", None), ("adapter", adapter_name)):
            say(f"dev split, {label}: {len(problems)} problems, one greedy branch per strategy")
            records = await collect(
                decoder, problems, STRATEGY_BUDGET, concurrency, say, adapter=adapter
            )
            results[label] = strategy_counts(records)
            say(
                f"  {label}: "
                + ", ".join(f"{s} {v['k']}/{v['n']}" for s, v in results[label].items())
            )
    finally:
        engine.shutdown()
    return results


async def evaluate_model(
    engine_config: EngineConfig,
    problems: list[Problem],
    concurrency: int,
    say: Callable[[str], None],
    label: str,
) -> dict[str, Any]:
    """strategy_counts on `problems` of the model engine_config points at (no adapter):
    a distilled student, measured exactly like the adapter above."""
    from ponder.engine.vllm_engine import VLLMEngine
    from ponder.evaluation.path_records import collect
    from ponder.reasoning.local_decoder import EngineDecoder

    say(f"starting a vLLM engine serving {label}")
    engine = await VLLMEngine.start(engine_config)
    try:
        say(f"dev split, {label}: {len(problems)} problems, one greedy branch per strategy")
        records = await collect(EngineDecoder(engine), problems, STRATEGY_BUDGET, concurrency, say)
        counts = strategy_counts(records)
        say(f"  {label}: " + ", ".join(f"{s} {v['k']}/{v['n']}" for s, v in counts.items()))
        return counts
    finally:
        engine.shutdown()
