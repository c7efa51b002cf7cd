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

A long prompt that runs alone is prefilled in vLLM's full steps (`max_num_batched_tokens`;
vLLM caps a chunk only while others run), and a request arriving meanwhile first waits out
the step in flight, at thousands of tokens deep a few tenths of a second on a small CPU.
With `lone_step_tokens` the steps of such a prompt, one longer than a full step, are that
small (`runs_alone`), which bounds that wait at the cost of more, cheaper steps for the
long prompt; a prompt that fits in one step keeps its one step.

This module is the rule, free of vLLM; `prefill_yield_scheduler.PrefillYieldingScheduler`
applies it inside vLLM's scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

ADDITIONAL_CONFIG_KEY = "ponder_prefill_yield_steps"
LONE_STEP_TOKENS_KEY = "ponder_lone_prefill_step_tokens"
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


def runs_alone(
    requests: Sequence[ScheduledRequest], step_tokens: int, full_step_tokens: int
) -> bool:
    """`requests` (running and waiting) is one prompt to prefill, longer than one full
    step (`full_step_tokens`: a shorter one takes one step whatever the cap, so it is left
    alone) and with more of it left than `step_tokens` (0: no cap on a lone prefill)."""
    if step_tokens <= 0 or len(requests) != 1:
        return False
    request = requests[0]
    return request.num_prompt_tokens > full_step_tokens and is_long_prefill(request, step_tokens)
