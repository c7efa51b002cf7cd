"""The int8 copy of a model served by vLLM on CPU, with a LoRA adapter on it: vLLM 0.32's
LoRA layers failed to start on the int8 copy (oneDNN holds the weight; the fix is in
ponder/engine/vllm_cpu_fixes.py)."""

from __future__ import annotations

import asyncio

import pytest

from ponder.config import EngineConfig
from ponder.generation import ChatMessage, GenerationRequest, Role, SamplingOptions

from .support import planner_adapter_for_tests

pytestmark = pytest.mark.integration

QUESTIONS = (
    "Tom has 5 apples and buys 7 more. How many apples does he have?",
    "A box holds 12 pens. How many pens are in 4 boxes?",
    "Sara had 30 dollars and spent 12. How much money is left?",
)


async def _answers(config: EngineConfig, adapter: str) -> list[str]:
    from ponder.engine.vllm_engine import VLLMEngine

    engine = await VLLMEngine.start(config)
    try:

        async def one(index: int, question: str, name: str | None) -> str:
            request = GenerationRequest(
                request_id=f"int8-{index}-{name}",
                messages=(ChatMessage(role=Role.USER, content=question),),
                sampling=SamplingOptions(temperature=0.0, max_tokens=16),
                adapter=name,
            )
            return "".join([chunk.text async for chunk in engine.generate(request)])

        # plain and adapted requests in the same batches
        return list(
            await asyncio.gather(
                *(one(i, q, name) for name in (None, adapter) for i, q in enumerate(QUESTIONS))
            )
        )
    finally:
        engine.shutdown()


def test_a_lora_adapter_runs_on_the_int8_copy() -> None:
    from ponder import env

    adapter = planner_adapter_for_tests()  # the domain adapter, packaged with ponder
    config = EngineConfig(
        int8_weights=True,
        dtype="bfloat16",
        enforce_eager=True,
        max_model_len=1024,
        lora_adapters={adapter: f"adapters/{adapter}"},
        max_lora_rank=16,
    )
    assert config.model_path().name.endswith("-w8a8")
    assert (env.PACKAGE_DIR / "adapters" / adapter).is_dir()
    answers = asyncio.run(_answers(config, adapter))
    plain, adapted = answers[: len(QUESTIONS)], answers[len(QUESTIONS) :]
    assert all(plain) and all(adapted)
    # the adapter is applied: the int8 model answers differently with it
    assert plain != adapted, (plain, adapted)
