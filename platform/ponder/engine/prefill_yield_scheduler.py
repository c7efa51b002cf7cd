"""vLLM's scheduler, with chunked long prefills giving steps up to new requests.

The rules are `prefill_yield.prefills_to_hold` and `prefill_yield.runs_alone`. vLLM
builds this class in its engine core process from `EngineConfig.prefill_yield_steps` and
`lone_prefill_step_tokens` (`vllm_engine.engine_args` names it as `scheduler_cls` and
passes the numbers in vLLM's `additional_config`). It subclasses the synchronous
scheduler, which is what vLLM uses on CPU (async scheduling is off there); GPU configs
leave it off.
"""

from __future__ import annotations

from typing import Any

from vllm.v1.core.sched.scheduler import Scheduler

from ponder.engine.prefill_yield import (
    ADDITIONAL_CONFIG_KEY,
    LONE_STEP_TOKENS_KEY,
    prefills_to_hold,
    runs_alone,
)


class PrefillYieldingScheduler(Scheduler):
    """vLLM's scheduler, with long prefills giving steps up to new requests (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extra = self.vllm_config.additional_config
        extra = extra if isinstance(extra, dict) else {}
        self._yield_steps = int(extra.get(ADDITIONAL_CONFIG_KEY, 0))
        self._lone_step_tokens = int(extra.get(LONE_STEP_TOKENS_KEY, 0))
        self._held_in_a_row = 0

    def schedule(self, throttle_prefills: bool = False) -> Any:
        held = self._prefills_to_hold()
        if not held:
            self._held_in_a_row = 0
            alone = len(self.running) + len(self.waiting) == 1
            requests = [*self.running, *self.waiting] if alone else []
            full_step = self.max_num_scheduled_tokens
            if requests and runs_alone(requests, self._lone_step_tokens, full_step):
                return self._schedule_small_step(throttle_prefills)
            return super().schedule(throttle_prefills)
        self._held_in_a_row += 1
        # vLLM schedules from self.running: the held requests sit out this step (their
        # KV blocks and state untouched, as when a step's token budget runs out) and go
        # back to the front of the queue (they are older than anything admitted now).
        held_ids = {id(r) for r in held}
        self.running = [r for r in self.running if id(r) not in held_ids]
        try:
            return super().schedule(throttle_prefills)
        finally:
            self.running = list(held) + self.running

    def _prefills_to_hold(self) -> list[Any]:
        if self._yield_steps <= 0 or self._held_in_a_row >= self._yield_steps:
            return []
        waiting = len(self.waiting)
        # admission fills self.running up to its limit; with the held requests out of it,
        # a full step could admit past that limit once they are back
        if len(self.running) + waiting >= self.max_num_running_reqs:
            return []
        cap = self.scheduler_config.long_prefill_token_threshold
        return prefills_to_hold(self.running, waiting, cap)

    def _schedule_small_step(self, throttle_prefills: bool) -> Any:
        # the step's token budget, for this step only
        budget = self.max_num_scheduled_tokens
        self.max_num_scheduled_tokens = min(budget, self._lone_step_tokens)
        try:
            return super().schedule(throttle_prefills)
        finally:
            self.max_num_scheduled_tokens = budget
