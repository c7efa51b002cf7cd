"""A deterministic stand-in engine: replies chosen by rules on the last message, streamed
word by word with a set delay, failures on demand, and an exact count of requests in
flight. Injected through the same EngineFactory seam as vLLM, it lets the deployments'
own behaviour (error mapping, stream relay, cancellation, tenant scope, the planner's
fan-out) be tested in seconds, beside the real-engine tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ponder.engine.protocol import EngineStats
from ponder.errors import InvalidArgument, NotFound, Unavailable
from ponder.generation import FinishReason, GenerationChunk, GenerationRequest, TokenLogprob

FAIL_MARKER = "ENGINE-FAILS"


@dataclass(frozen=True)
class ScriptedEngineFactory:
    """rules: (substring of the last message, reply); the first match answers, else
    `default_reply`. A last message containing FAIL_MARKER makes the engine raise."""

    rules: tuple[tuple[str, str], ...] = ()
    default_reply: str = "one two three four five six seven eight"
    token_delay_s: float = 0.0
    adapters: tuple[str, ...] = ()
    max_model_len: int = 2048

    async def create(self) -> ScriptedEngine:
        return ScriptedEngine(self)


class ScriptedEngine:
    """DecoderEngine following a ScriptedEngineFactory's rules."""

    def __init__(self, recipe: ScriptedEngineFactory) -> None:
        self._recipe = recipe
        self._running: set[str] = set()
        self._added: dict[str, Path] = {}  # adapters added at run time

    def has_adapter(self, name: str) -> bool:
        return name in self._recipe.adapters or name in self._added

    def add_adapter(self, name: str, folder: Path) -> None:
        if not (folder / "adapter_config.json").is_file():
            raise InvalidArgument("adapter", f"no peft adapter at {folder}")
        self._added[name] = folder

    def _reply(self, request: GenerationRequest) -> str:
        text = request.messages[-1].content if request.messages else request.prompt
        if FAIL_MARKER in text:
            raise Unavailable("scripted engine failure")
        for marker, reply in self._recipe.rules:
            if marker in text:
                return reply
        return self._recipe.default_reply

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        if request.adapter and not self.has_adapter(request.adapter):
            raise NotFound(f"adapter: no LoRA adapter named {request.adapter!r}")
        words = self._reply(request).split(" ")
        if request.prompt_embeds is not None:  # a fused (image/table) prompt
            prompt_tokens = int(request.prompt_embeds.shape[0])
        else:
            prompt_tokens = sum(len(m.content.split()) for m in request.messages) or len(
                request.prompt.split()
            )
        if prompt_tokens >= self._recipe.max_model_len:
            raise InvalidArgument("prompt", f"is {prompt_tokens} tokens")
        limit = request.sampling.max_tokens or len(words)
        self._running.add(request.request_id)
        try:
            for index, word in enumerate(words[:limit]):
                await asyncio.sleep(self._recipe.token_delay_s)
                last = index == min(limit, len(words)) - 1
                finish = None
                if last:
                    finish = FinishReason.LENGTH if limit < len(words) else FinishReason.STOP
                logprobs = (TokenLogprob(word, -0.1),) if request.sampling.logprobs else ()
                yield GenerationChunk(
                    text=word if index == 0 else f" {word}",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=index + 1,
                    logprobs=logprobs,
                    finish_reason=finish,
                )
        finally:
            self._running.discard(request.request_id)

    async def check_health(self) -> None:
        return None

    def stats(self) -> EngineStats:
        return EngineStats(
            unfinished_requests=len(self._running),
            max_model_len=self._recipe.max_model_len,
            running=len(self._running),
        )

    def shutdown(self) -> None:
        self._running.clear()
