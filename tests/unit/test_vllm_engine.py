"""Pieces of the vLLM engine wrapper that need no running engine."""

import os

import pytest
from vllm.logprobs import Logprob

from ponder.config import EngineConfig
from ponder.engine.vllm_engine import _token_logprobs, cpu_threads_bind, engine_args


def test_logprobs_keep_chosen_token_and_top_k_by_rank() -> None:
    positions = [
        {
            5: Logprob(logprob=-0.1, rank=1, decoded_token=" Paris"),
            9: Logprob(logprob=-2.5, rank=2, decoded_token=" Lyon"),
        },
        {  # sampled token outside the top 2: vLLM adds it with its real rank
            7: Logprob(logprob=-0.5, rank=1, decoded_token="."),
            8: Logprob(logprob=-1.0, rank=2, decoded_token=","),
            3: Logprob(logprob=-4.0, rank=17, decoded_token="!"),
        },
    ]
    records = _token_logprobs([5, 3], positions, top_k=2)
    assert [r.token for r in records] == [" Paris", "!"]
    assert records[1].logprob == pytest.approx(-4.0)
    assert [t.token for t in records[1].top] == [".", ","]
    assert [t.token for t in records[0].top] == [" Paris", " Lyon"]


def test_no_logprobs_requested_gives_none() -> None:
    assert _token_logprobs([1, 2], None, top_k=0) == ()


def test_threads_bind_all_expands_to_every_core() -> None:
    assert cpu_threads_bind("all") == f"0-{(os.cpu_count() or 1) - 1}"
    assert cpu_threads_bind("0-3") == "0-3"


def test_engine_args_follow_the_config() -> None:
    # The converted default model (scripts/setup.sh makes it); vLLM resolves the path.
    config = EngineConfig(max_model_len=1024, stream_interval=4, enforce_eager=True)
    args = engine_args(config)
    assert args.model == str(config.model_path())
    assert (args.max_model_len, args.stream_interval, args.enforce_eager) == (1024, 4, True)
    assert not args.enable_lora
    # Chunked prefill with a per-step cap on long prompts (fairness, RELIABILITY.md).
    assert args.enable_chunked_prefill
    assert (args.max_num_batched_tokens, args.long_prefill_token_threshold) == (256, 32)
    lora = engine_args(EngineConfig(lora_adapters={"sql": "/adapters/sql"}))
    assert lora.enable_lora and lora.max_lora_rank == 16
    # vLLM's own scheduler unless long prefills are to give steps up to new requests
    assert args.scheduler_cls is None
    yielding = engine_args(EngineConfig(prefill_yield_steps=3))
    assert (
        yielding.scheduler_cls == "ponder.engine.prefill_yield_scheduler.PrefillYieldingScheduler"
    )
    assert yielding.additional_config == {
        "ponder_prefill_yield_steps": 3,
        "ponder_lone_prefill_step_tokens": 0,
    }
    small = engine_args(EngineConfig(lone_prefill_step_tokens=64))
    assert small.scheduler_cls == yielding.scheduler_cls
    assert small.additional_config["ponder_lone_prefill_step_tokens"] == 64


# EngineConfig fields that are Ponder's own, not vLLM engine arguments: how the engine's
# requests are limited or defaulted, where adapters live, and how the CPU process runs.
PONDER_ONLY = {
    "max_prompt_tokens",
    "lora_adapters",
    "default_max_tokens",
    "cpu_kvcache_gib",
    "cpu_nice",
    "cpu_threads_bind",
    "cpu_shared_gloo_device",  # PONDER_GLOO_SHARED_DEVICE for Ponder's vLLM plugin
    "engine_metrics",  # stat loggers given to AsyncLLM (VLLMEngine.start)
    "int8_weights",  # the model folder: its int8 copy (ponder/int8_checkpoint.py)
    "refresh_adapters",  # enable_lora, adapters added at run time (VLLMEngine.add_adapter)
    "prefill_yield_steps",  # scheduler_cls + additional_config (ponder/engine/prefill_yield.py)
    "lone_prefill_step_tokens",  # the same
}


def test_engine_config_is_checked_against_vllms_own_engine_args() -> None:
    """Every other EngineConfig field is one of vLLM's AsyncEngineArgs, under the same
    name, and reaches the engine with the config's value: a renamed or dropped vLLM
    argument fails here instead of being silently copied."""
    import dataclasses

    from vllm.engine.arg_utils import AsyncEngineArgs

    vllm_fields = {field.name for field in dataclasses.fields(AsyncEngineArgs)}
    shared = set(EngineConfig.model_fields) - PONDER_ONLY
    assert shared <= vllm_fields, sorted(shared - vllm_fields)
    assert not PONDER_ONLY & vllm_fields  # a Ponder-only name vLLM took over: map it
    config = EngineConfig(
        max_model_len=2048,
        max_num_seqs=7,
        max_logprobs=5,
        seed=11,
        stream_interval=3,
        lora_adapters={"sql": "/adapters/sql"},
        max_lora_rank=8,
        max_loras=2,
    )
    args = engine_args(config)
    for name in shared - {"model"}:
        assert getattr(args, name) == getattr(config, name), name
    assert args.model == str(config.model_path())
