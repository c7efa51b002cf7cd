"""A prompt prefilled in chunks sits out the steps a new request needs, and a lone one is
prefilled in small steps, inside vLLM's own engine core (`engine.prefill_yield_steps`,
`engine.lone_prefill_step_tokens`, ponder/engine/prefill_yield_scheduler.py).

The engine core runs in this process (vLLM's LLMEngine without its multiprocessing) so
the test can read what every engine step scheduled; the answers are vLLM's own."""

from __future__ import annotations

from typing import Any

import pytest

from ponder.config import EngineConfig

pytestmark = pytest.mark.integration

LONG_TOKENS = 1200  # prefilled alone in 256-token steps, in 32-token chunks beside others
SHORT = "Say hi."


def _run(
    monkeypatch: pytest.MonkeyPatch, yield_steps: int, lone_step_tokens: int = 0
) -> tuple[list[dict], dict]:
    """Steps of a long prompt with a short request arriving after its second step:
    (what each step scheduled, request id -> token ids answered)."""
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from vllm import SamplingParams
    from vllm.v1.engine.llm_engine import LLMEngine

    from ponder.engine.vllm_engine import apply_engine_environment, engine_args

    config = EngineConfig(
        enforce_eager=True,
        max_model_len=2048,
        max_num_batched_tokens=256,
        long_prefill_token_threshold=32,
        prefill_yield_steps=yield_steps,
        lone_prefill_step_tokens=lone_step_tokens,
        enable_prefix_caching=False,
        engine_metrics=False,
    )
    apply_engine_environment(config)
    engine = LLMEngine.from_engine_args(engine_args(config))
    scheduler = engine.engine_core.engine_core.scheduler
    schedule, steps = scheduler.schedule, []

    def recorded(*args: Any, **kwargs: Any) -> Any:
        output = schedule(*args, **kwargs)
        # vLLM suffixes the ids it is given ("long" -> "long-<8 hex>")
        steps.append({k.rsplit("-", 1)[0]: n for k, n in output.num_scheduled_tokens.items()})
        return output

    scheduler.schedule = recorded
    greedy = SamplingParams(max_tokens=2, temperature=0.0)
    tokenizer = engine.get_tokenizer()
    long_ids = tokenizer.encode(" river" * LONG_TOKENS)[:LONG_TOKENS]
    answers: dict[str, list[int]] = {}
    try:
        engine.add_request("long", {"prompt_token_ids": long_ids}, greedy)
        for index in range(50):
            if index == 2:
                short_ids = tokenizer.encode(SHORT)
                engine.add_request("short", {"prompt_token_ids": short_ids}, greedy)
            for output in engine.step():
                if output.finished:
                    answers[output.request_id] = list(output.outputs[0].token_ids)
            if len(answers) == 2:
                break
    finally:
        engine.engine_core.shutdown()
    return steps, answers


def _with_short(steps: list[dict]) -> list[dict]:
    return [s for s in steps if "short" in s]


def test_a_long_prefill_sits_out_the_short_requests_first_two_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain_steps, plain_answers = _run(monkeypatch, yield_steps=0)
    steps, answers = _run(monkeypatch, yield_steps=3)
    # vLLM's own scheduler: a 32-token chunk of the long prompt rides in both of the short
    # request's steps (its prefill and its one decode step)
    assert [s.get("long") for s in _with_short(plain_steps)] == [32, 32]
    # yielding: the short request's steps carry it alone, then the long prompt goes on
    short_prefill = _with_short(plain_steps)[0]["short"]
    assert _with_short(steps) == [{"short": short_prefill}, {"short": 1}]
    assert all("long" in s for s in steps if "short" not in s)
    # holding changes when tokens are computed, never which
    assert answers == plain_answers and len(answers["long"]) == 2


def test_a_long_prefill_yields_at_most_the_configured_steps_in_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps, _ = _run(monkeypatch, yield_steps=1)
    first, second = _with_short(steps)
    assert "long" not in first  # held for one step ...
    assert second.get("long") == 32  # ... then it rides along again


def test_a_lone_long_prefill_takes_small_steps_only_while_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain_steps, plain_answers = _run(monkeypatch, yield_steps=2)
    steps, answers = _run(monkeypatch, yield_steps=2, lone_step_tokens=64)
    # alone, before the short request: vLLM's full 256-token steps, or 64 with the cap
    assert [s["long"] for s in plain_steps[:2]] == [256, 256]
    assert [s["long"] for s in steps[:2]] == [64, 64]
    # the short request's steps are its own either way, and the answers are the same
    assert _with_short(steps) == _with_short(plain_steps)
    assert answers == plain_answers
    # alone again after it, the long prompt goes on in small steps to its last one
    after = [s["long"] for s in steps[steps.index(_with_short(steps)[-1]) + 1 :] if "long" in s]
    assert after and max(after) == 64
