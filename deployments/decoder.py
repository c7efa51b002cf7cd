"""Decoder deployment: one engine per replica, continuous batching across all its requests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from ray import serve

from ponder.engine.protocol import DecoderEngine, EngineFactory, EngineStats
from ponder.generation import GenerationChunk, GenerationRequest, GenerationResult, join_chunks

log = logging.getLogger("ray.serve")


@serve.deployment(name="Decoder")
class Decoder:
    """Serves generation requests from one engine, which the factory builds in the replica."""

    async def __init__(self, engine_factory: EngineFactory) -> None:  # type: ignore[misc]
        self._engine: DecoderEngine = await engine_factory.create()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Chunks as the engine produces them (call with handle.options(stream=True)).

        When the caller goes away, Serve cancels this generator, which aborts the request
        inside the engine.
        """
        async for chunk in self._engine.generate(request):
            yield chunk

    async def complete(self, request: GenerationRequest) -> GenerationResult:
        """The whole answer in one reply."""
        chunks = [chunk async for chunk in self._engine.generate(request)]
        return join_chunks(chunks)

    def stats(self) -> EngineStats:
        """Load of this replica's engine."""
        return self._engine.stats()

    async def check_health(self) -> None:
        """Called by Serve periodically; raising marks the replica unhealthy (restarted)."""
        await self._engine.check_health()

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.shutdown()
