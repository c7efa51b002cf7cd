"""What a decoder engine must offer; deployments receive one through an EngineFactory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ponder.generation import GenerationChunk, GenerationRequest


@dataclass(frozen=True)
class EngineStats:
    """A snapshot of an engine's load."""

    unfinished_requests: int
    max_model_len: int
    # From the engine's own scheduler after its latest step; zero when its statistics
    # are off (EngineConfig.engine_metrics) or the engine keeps none.
    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0  # fraction of the KV cache in use, 0..1
    prefix_cache_queries: int = 0  # prompt tokens looked up in the prefix cache, since start
    prefix_cache_hits: int = 0  # of those, tokens found there

    @property
    def prefix_cache_hit_rate(self) -> float:
        return (
            self.prefix_cache_hits / self.prefix_cache_queries if self.prefix_cache_queries else 0.0
        )


class DecoderEngine(Protocol):
    """An async, continuously batching text generator."""

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Stream chunks of the answer; closing the iterator aborts the request."""
        ...

    async def check_health(self) -> None:
        """Raise if the engine cannot serve."""
        ...

    def stats(self) -> EngineStats:
        """Current load of the engine."""
        ...

    def shutdown(self) -> None:
        """Stop the engine and every process it started."""
        ...

    def has_adapter(self, name: str) -> bool:
        """Whether requests may name this LoRA adapter now."""
        ...

    def add_adapter(self, name: str, folder: Path) -> None:
        """Serve one more LoRA adapter (a peft folder) from now on, without a restart."""
        ...


class EngineFactory(Protocol):
    """A picklable recipe that builds an engine inside the process that will run it."""

    async def create(self) -> DecoderEngine:
        """Build and warm up the engine."""
        ...
