"""Fixes Ponder carries for vLLM 0.32's CPU backend, loaded as a vLLM general plugin.

1. Seeded requests under chunked prefill. A seeded request whose prefill is split over
several engine steps kills the CPU engine: after each partial step the model runner
rewinds the request's random generator by its Philox offset
(`gen.set_offset(gen.get_offset() - 4)`), which only CUDA generators have; CPU
generators raise `CPU Generator does not use offset`.

The fix gives the rewind its meaning on CPU: the states of the generators of the rows
whose sampled token will be discarded are saved before sampling and restored after it,
so a seeded request draws the same numbers however its prefill was chunked; the
offset arithmetic is then skipped for those rows. Nothing changes on other platforms.

2. LoRA on an int8 (W8A8) model. The CPU int8 kernel hands a layer's weight to oneDNN,
which keeps it prepacked, and sets `layer.weight = None`; vLLM's LoRA wrapper then fails
at start reading `base_layer.weight.device` to place its tensors. On CPU that device is
always the CPU, so the lookup answers it when the weight is gone; the LoRA itself runs
beside the base layer's output as for any other layer.

3. Idle wakeups. Every gloo process group of vLLM's CPU worker (13 of them) gets its own
gloo device and so its own TCP loop thread polling every 10 ms; with
`engine.cpu_shared_gloo_device` (PONDER_GLOO_SHARED_DEVICE) they share one
(`ponder.engine.gloo_device`).

vLLM calls `register` in every process it starts (entry point `vllm.general_plugins`
in pyproject.toml), so the patch reaches the engine-core process too.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from ponder import env
from ponder.engine.gloo_device import share_gloo_device

log = logging.getLogger(__name__)

_PATCHED = "_ponder_cpu_generator_fix"


def register() -> None:
    """vLLM plugin hook: patch the CPU model runner and the LoRA device lookup, and share
    one gloo device, once per process."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    if env.gloo_shared_device():
        share_gloo_device()
    from vllm.v1.worker.cpu_model_runner import CPUModelRunner

    patch_model_runner(CPUModelRunner)
    patch_lora_device_lookup()


def patch_lora_device_lookup() -> None:
    """Let vLLM's LoRA layers wrap a linear layer whose weight oneDNN holds (None)."""
    import torch
    from vllm.lora.layers import base_linear

    lookup = base_linear._get_lora_device
    if getattr(lookup, _PATCHED, False):
        return

    @functools.wraps(lookup)
    def _get_lora_device(base_layer: Any) -> torch.device:
        if getattr(base_layer, "weight", False) is None:  # int8 weight prepacked by oneDNN
            return torch.device("cpu")
        return lookup(base_layer)

    setattr(_get_lora_device, _PATCHED, True)
    base_linear._get_lora_device = _get_lora_device


def _discarded_generators(runner: Any) -> dict[int, Any]:
    """Row index -> generator of the seeded rows whose sampled token is discarded."""
    batch = runner.input_batch
    if not batch.generators:  # no seeded request in the batch: the usual case, every step
        return {}
    mask = runner.discard_request_mask.np[: batch.num_reqs]
    rows = (int(i) for i in mask.nonzero()[0])
    return {row: batch.generators[row] for row in rows if row in batch.generators}


def patch_model_runner(runner_class: type) -> None:
    """Wrap `_sample` (save/restore the generators of discarded rows) and
    `_bookkeeping_sync` (hide those generators from the offset rewind)."""
    if getattr(runner_class, _PATCHED, False):
        return
    if not all(hasattr(runner_class, name) for name in ("_sample", "_bookkeeping_sync")):
        log.warning("vLLM's CPU model runner changed: the seeded chunked-prefill fix is left out")
        return
    sample = runner_class._sample  # type: ignore[attr-defined]
    bookkeeping = runner_class._bookkeeping_sync  # type: ignore[attr-defined]

    @functools.wraps(sample)
    def _sample(self: Any, *args: Any, **kwargs: Any) -> Any:
        saved = {row: gen.get_state() for row, gen in _discarded_generators(self).items()}
        output = sample(self, *args, **kwargs)
        for row, state in saved.items():
            self.input_batch.generators[row].set_state(state)
        return output

    @functools.wraps(bookkeeping)
    def _bookkeeping_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        hidden = _discarded_generators(self)
        generators = self.input_batch.generators
        for row in hidden:
            del generators[row]
        try:
            return bookkeeping(self, *args, **kwargs)
        finally:
            generators.update(hidden)

    runner_class._sample = _sample  # type: ignore[attr-defined]
    runner_class._bookkeeping_sync = _bookkeeping_sync  # type: ignore[attr-defined]
    setattr(runner_class, _PATCHED, True)
