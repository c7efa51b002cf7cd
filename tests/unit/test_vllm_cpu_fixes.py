"""The CPU fix for seeded requests under chunked prefill, on a stand-in of vLLM's model
runner that does what vLLM 0.32's does: sample from each row's generator, then rewind the
generators of discarded rows by a CUDA Philox offset (which CPU generators do not have)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from ponder.engine.vllm_cpu_fixes import patch_model_runner


def _runner_class() -> type:
    class Runner:
        def __init__(self, discard: list[bool]) -> None:
            self.input_batch = SimpleNamespace(
                num_reqs=len(discard),
                generators={row: torch.Generator().manual_seed(7) for row in range(len(discard))},
            )
            self.discard_request_mask = SimpleNamespace(np=np.array(discard))

        def _sample(self) -> list[float]:
            gens = self.input_batch.generators
            return [float(torch.rand(1, generator=gens[row])) for row in sorted(gens)]

        def _bookkeeping_sync(self) -> None:
            for row in np.nonzero(self.discard_request_mask.np[: self.input_batch.num_reqs])[0]:
                gen = self.input_batch.generators.get(int(row))
                if gen is not None:
                    gen.set_offset(gen.get_offset() - 4)

    return Runner


def _step(runner: Any) -> list[float]:
    drawn = runner._sample()
    runner._bookkeeping_sync()
    return drawn


def test_vllms_rewind_fails_on_cpu_generators() -> None:
    runner = _runner_class()([True, False])
    with pytest.raises(RuntimeError, match="does not use offset"):
        _step(runner)


def test_discarded_rows_draw_again_what_they_drew_and_kept_rows_move_on() -> None:
    runner_class = _runner_class()
    patch_model_runner(runner_class)
    patch_model_runner(runner_class)  # once per process, however often vLLM loads it
    runner = runner_class([True, False])
    first = _step(runner)
    second = _step(runner)
    assert second[0] == first[0]  # row 0's token was discarded: its generator was rewound
    assert second[1] != first[1]  # row 1 kept its token: its generator moved on
    # Every row keeps its generator after the bookkeeping step.
    assert sorted(runner.input_batch.generators) == [0, 1]


def test_lora_layers_find_their_device_when_onednn_holds_the_int8_weight() -> None:
    from vllm.lora.layers import base_linear

    from ponder.engine.vllm_cpu_fixes import patch_lora_device_lookup

    prepacked = torch.nn.Module()
    prepacked.weight = None  # what vLLM's CPU int8 kernel leaves after handing it to oneDNN
    plain = torch.nn.Linear(4, 4)
    patch_lora_device_lookup()
    patched = base_linear._get_lora_device
    patch_lora_device_lookup()  # once per process, however often vLLM calls the plugin
    assert base_linear._get_lora_device is patched
    assert patched(prepacked) == torch.device("cpu")
    assert patched(plain) == plain.weight.device
    with pytest.raises(AttributeError):  # vLLM's own lookup, which the fix wraps
        patched.__wrapped__(prepacked)
