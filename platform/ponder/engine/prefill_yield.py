"""When a prompt being prefilled in chunks should give engine steps up to new requests.

vLLM 0.32 schedules running requests before waiting ones. While a long prompt is being
prefilled in chunks (`long_prefill_token_threshold` tokens a step while others run), every
engine step carries one of its chunks, and on a CPU such a step, attending over thousands
of earlier tokens, costs several decode steps whatever the chunk's size. A short request
arriving meanwhile pays for a chunk in its prefill step and again in its first decode step
(RELIABILITY.md, "Fair scheduling of long prompts").

This scheduler leaves the chunks of long prefills out of a step when a *new* request is
there to use it: one still waiting, or one that has not yet produced its first two tokens
(its prefill step and its first decode step). It does so at most `steps` steps in a row,
then lets the chunks in for one step, so a long prompt still advances under a steady
stream of arrivals (at worst one chunk every `steps` + 1 steps, and the steps without a
chunk are the cheap ones).

This module is the rule, free of vLLM; `prefill_yield_scheduler.PrefillYieldingScheduler`
applies it inside vLLM's scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

ADDITIONAL_CONFIG_KEY = "ponder_prefill_yield_steps"
# a request is new until it has this many tokens: its prefill step and its first decode step
NEW_UNTIL_TOKENS = 2


class ScheduledRequest(Protocol):
    """The fields of vLLM's Request that the rule reads."""

    @property
    def num_prompt_tokens(self) -> int: ...

    @property
    def num_computed_tokens(self) -> int: ...

    @property
    def num_output_tokens(self) -> int: ...


def is_long_prefill(request: ScheduledRequest, chunk_cap: int) -> bool:
    """Still more prompt to prefill than one capped chunk: it is being prefilled in chunks."""
    return request.num_prompt_tokens - request.num_computed_tokens > chunk_cap


def prefills_to_hold(
    running: Sequence[ScheduledRequest], waiting: int, chunk_cap: int
) -> list[ScheduledRequest]:
    """The running long prefills to leave out of the next step, if a new request needs it.

    A new request is one waiting to start, or a running one, not itself a long prefill,
    that has fewer than NEW_UNTIL_TOKENS tokens out. Without one, or without a chunk cap
    (0: prompts are not chunked while others run), nothing is held.
    """
    if chunk_cap <= 0:
        return []
    long = [r for r in running if is_long_prefill(r, chunk_cap)]
    if not long:
        return []
    new_running = any(
        not is_long_prefill(r, chunk_cap) and r.num_output_tokens < NEW_UNTIL_TOKENS
        for r in running
    )
    return long if waiting > 0 or new_running else []
